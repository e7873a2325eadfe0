import { z } from 'zod';
import { BackstreamError } from '../errors';
import type { ObjectStore } from '../store';
import type { SealedCheckpoint, SealedRecord, SignedValue } from './chain';

/**
 * The ledger's mirror in object storage: one object per seal of the sequencer,
 *   ledger/checkpoints/<treeSize, 20 digits>.json
 * holding the signed checkpoint and the records since the previous one (`from` is the seq
 * of the first). Written before the same records are committed to the ledger topic, so
 * the mirror always holds every committed record. Written deterministically (Ed25519 is
 * deterministic and times are event times): a sequencer replaying after a crash writes
 * the same bytes, or a longer object whose overlap is identical. Plaintext: it is signed,
 * and auditors read it without the repository key.
 */
export const MIRROR_PREFIX = 'ledger/checkpoints/';
/** The largest mirror object a reader buffers (a seal holds the records of seconds, kilobytes each). */
export const MIRROR_OBJECT_MAX_BYTES = 64 * 1024 * 1024;

export function mirrorKey(treeSize: number): string {
  return `${MIRROR_PREFIX}${String(treeSize).padStart(20, '0')}.json`;
}

const signedValueSchema = z.strictObject({ value: z.string(), signature: z.string() });
const mirrorObjectSchema = z.strictObject({
  format: z.literal('backstream-ledger-mirror'),
  version: z.literal(1),
  from: z.number().int().nonnegative(),
  records: z.array(signedValueSchema),
  checkpoint: signedValueSchema,
});

export interface MirrorObject {
  key: string;
  from: number;
  records: SignedValue[];
  checkpoint: SignedValue;
}

function encode(from: number, records: SignedValue[], checkpoint: SignedValue): Buffer {
  const text = (v: SignedValue) => ({ value: v.value.toString('utf8'), signature: v.signature });
  return Buffer.from(
    JSON.stringify({
      format: 'backstream-ledger-mirror',
      version: 1,
      from,
      records: records.map(text),
      checkpoint: text(checkpoint),
    }),
  );
}

/** Parses a mirror object; throws LEDGER_MIRROR_CORRUPT naming the key. */
export function decodeMirrorObject(key: string, body: Buffer): MirrorObject {
  let parsed;
  try {
    parsed = mirrorObjectSchema.safeParse(JSON.parse(body.toString('utf8')));
  } catch (err) {
    throw new BackstreamError('LEDGER_MIRROR_CORRUPT', `ledger mirror object ${key} is not JSON`, {
      retriable: false,
      cause: err,
    });
  }
  if (!parsed.success) {
    throw new BackstreamError(
      'LEDGER_MIRROR_CORRUPT',
      `ledger mirror object ${key} is not a mirror object: ${parsed.error.issues[0]?.message ?? 'schema'}`,
      { retriable: false },
    );
  }
  const bytes = (v: { value: string; signature: string }): SignedValue => ({
    value: Buffer.from(v.value, 'utf8'),
    signature: v.signature,
  });
  return {
    key,
    from: parsed.data.from,
    records: parsed.data.records.map(bytes),
    checkpoint: bytes(parsed.data.checkpoint),
  };
}

/**
 * Writes one seal. If the object exists (a replay after a crash), it must hold the same
 * bytes: anything else means this ledger topic and this store disagree about history (a
 * topic recreated over an old mirror), and appending would fork it.
 */
export async function writeMirrorObject(
  store: ObjectStore,
  from: number,
  records: SealedRecord[],
  checkpoint: SealedCheckpoint,
): Promise<string> {
  const key = mirrorKey(checkpoint.checkpoint.treeSize);
  const body = encode(from, records, checkpoint);
  const { created } = await store.put(key, body, { ifNoneMatch: true });
  if (!created && !(await store.get(key, { maxBytes: MIRROR_OBJECT_MAX_BYTES })).equals(body)) {
    throw new BackstreamError(
      'LEDGER_MIRROR_CONFLICT',
      `the ledger mirror already holds a different ${key}: the ledger topic and the store disagree about the ledger's history`,
      {
        retriable: false,
        hint: 'if the topic was lost, restore it with `backstream ledger rebuild`; otherwise run `backstream ledger verify --from-store`',
      },
    );
  }
  return key;
}

/** The mirror objects' keys in tree-size order. */
export async function listMirrorKeys(store: ObjectStore): Promise<string[]> {
  const keys: string[] = [];
  for await (const info of store.list(MIRROR_PREFIX)) {
    if (/^ledger\/checkpoints\/\d{20}\.json$/.test(info.key)) keys.push(info.key);
  }
  return keys.sort();
}
