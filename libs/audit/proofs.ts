import { createHash } from 'node:crypto';
import { z } from 'zod';
import { BackstreamError } from '../errors';
import {
  chainedLedgerRecordSchema,
  ledgerCheckpointSchema,
  type ChainedLedgerRecord,
  type LedgerCheckpoint,
} from '../events';
import type { LedgerVerifyingKey, SignedValue } from '../ledger';
import { snapshotManifestSchema, changeBatchManifestSchema } from '../manifest';
import { leafHash, verifyConsistency, verifyInclusion } from '../merkle';

/**
 * Proofs an auditor checks offline with the ledger's public key only (`ledger check-proof`):
 *
 * - inclusion: a ledger record, its position and Merkle audit path into a signed checkpoint;
 *   optionally extended down to one file of a snapshot or one version of a change key, by
 *   the manifest and the file-list segment whose SHA-256s the record and manifest commit to.
 * - consistency: two signed checkpoints and the RFC 6962 proof that the later tree extends
 *   the earlier one (nothing the earlier one covered was changed or dropped).
 */
const signed = z.strictObject({ value: z.string(), signature: z.string() });
const hex32 = z.string().regex(/^[0-9a-f]{64}$/);

export const inclusionProofSchema = z.strictObject({
  format: z.literal('backstream-proof'),
  version: z.literal(1),
  type: z.literal('inclusion'),
  checkpoint: signed,
  record: signed,
  leafIndex: z.number().int().nonnegative(),
  path: z.array(hex32),
  /** For a file or a change version: the manifest, the segment and the entry's lines. */
  manifest: z.string().optional(),
  segmentIndex: z.number().int().nonnegative().optional(),
  segment: z.string().optional(),
  entry: z.array(z.string()).optional(),
});
export type InclusionProof = z.infer<typeof inclusionProofSchema>;

export const consistencyProofSchema = z.strictObject({
  format: z.literal('backstream-proof'),
  version: z.literal(1),
  type: z.literal('consistency'),
  old: signed,
  new: signed,
  path: z.array(hex32),
});
export type ConsistencyProof = z.infer<typeof consistencyProofSchema>;

export type Proof = InclusionProof | ConsistencyProof;

const text = (v: SignedValue) => ({ value: v.value.toString('utf8'), signature: v.signature });

export function inclusionProof(
  checkpoint: SignedValue,
  record: SignedValue,
  leafIndex: number,
  path: Buffer[],
  detail?: { manifest: Buffer; segmentIndex: number; segment: Buffer; entry: string[] },
): InclusionProof {
  return {
    format: 'backstream-proof',
    version: 1,
    type: 'inclusion',
    checkpoint: text(checkpoint),
    record: text(record),
    leafIndex,
    path: path.map((h) => h.toString('hex')),
    ...(detail
      ? {
          manifest: detail.manifest.toString('utf8'),
          segmentIndex: detail.segmentIndex,
          segment: detail.segment.toString('utf8'),
          entry: detail.entry,
        }
      : {}),
  };
}

export function consistencyProof(older: SignedValue, newer: SignedValue, path: Buffer[]): ConsistencyProof {
  return {
    format: 'backstream-proof',
    version: 1,
    type: 'consistency',
    old: text(older),
    new: text(newer),
    path: path.map((h) => h.toString('hex')),
  };
}

/** What a proof that checked out establishes, for the report. */
export interface ProofClaims {
  type: 'inclusion' | 'consistency';
  checkpoint: LedgerCheckpoint;
  oldCheckpoint?: LedgerCheckpoint;
  record?: ChainedLedgerRecord;
  /** The file entries (JSON lines) or the change version proven, when the proof goes that deep. */
  entry?: unknown[];
}

function invalid(message: string): BackstreamError {
  return new BackstreamError('PROOF_INVALID', message, { retriable: false });
}

function sha256(s: string): string {
  return createHash('sha256').update(Buffer.from(s, 'utf8')).digest('hex');
}

function parseJson(s: string, what: string): unknown {
  try {
    return JSON.parse(s) as unknown;
  } catch {
    throw invalid(`${what} is not JSON`);
  }
}

function checkedCheckpoint(v: { value: string; signature: string }, key: LedgerVerifyingKey, what: string) {
  if (!key.verify(Buffer.from(v.value, 'utf8'), v.signature)) {
    throw invalid(`the ${what} checkpoint's signature does not verify with key ${key.keyId}`);
  }
  const parsed = ledgerCheckpointSchema.safeParse(parseJson(v.value, `the ${what} checkpoint`));
  if (!parsed.success) throw invalid(`the ${what} checkpoint is not a checkpoint`);
  return parsed.data;
}

/** Checks a proof against the public key; returns what it proves or throws PROOF_INVALID saying what failed. */
export function checkProof(input: unknown, key: LedgerVerifyingKey): ProofClaims {
  const type = (input as { type?: unknown } | null)?.type;
  if (type === 'consistency') {
    const parsed = consistencyProofSchema.safeParse(input);
    if (!parsed.success) throw invalid(`not a consistency proof: ${parsed.error.issues[0]?.message ?? 'schema'}`);
    const p = parsed.data;
    const older = checkedCheckpoint(p.old, key, 'old');
    const newer = checkedCheckpoint(p.new, key, 'new');
    const ok = verifyConsistency(
      older.treeSize,
      newer.treeSize,
      Buffer.from(older.root, 'hex'),
      Buffer.from(newer.root, 'hex'),
      p.path.map((h) => Buffer.from(h, 'hex')),
    );
    if (!ok)
      throw invalid(`the tree of size ${newer.treeSize} is not proven to extend the tree of size ${older.treeSize}`);
    return { type: 'consistency', checkpoint: newer, oldCheckpoint: older };
  }
  const parsed = inclusionProofSchema.safeParse(input);
  if (!parsed.success) throw invalid(`not a backstream proof: ${parsed.error.issues[0]?.message ?? 'schema'}`);
  const p = parsed.data;
  const checkpoint = checkedCheckpoint(p.checkpoint, key, 'proof');
  const recordBytes = Buffer.from(p.record.value, 'utf8');
  if (!key.verify(recordBytes, p.record.signature))
    throw invalid(`the record's signature does not verify with key ${key.keyId}`);
  const record = chainedLedgerRecordSchema.safeParse(parseJson(p.record.value, 'the record'));
  if (!record.success) throw invalid('the record is not a ledger record');
  if (record.data.seq !== p.leafIndex)
    throw invalid(`the record has seq ${record.data.seq}, the proof says leaf ${p.leafIndex}`);
  const included = verifyInclusion(
    leafHash(recordBytes),
    p.leafIndex,
    checkpoint.treeSize,
    p.path.map((h) => Buffer.from(h, 'hex')),
    Buffer.from(checkpoint.root, 'hex'),
  );
  if (!included)
    throw invalid(`the record is not proven to be leaf ${p.leafIndex} of the tree of size ${checkpoint.treeSize}`);
  const claims: ProofClaims = { type: 'inclusion', checkpoint, record: record.data };
  if (p.manifest === undefined) {
    // Detail without the manifest would be carried along unchecked: refuse it rather than say OK.
    if (p.segment !== undefined || p.segmentIndex !== undefined || p.entry !== undefined) {
      throw invalid('the proof has a segment or entry but no manifest');
    }
    return claims;
  }
  if (p.segment === undefined || p.segmentIndex === undefined || p.entry === undefined || p.entry.length === 0) {
    throw invalid('the proof has a manifest but no segment and entry');
  }
  if (sha256(p.manifest) !== record.data.record.manifest.sha256)
    throw invalid("the manifest's SHA-256 is not the one the record commits to");
  const manifestJson = parseJson(p.manifest, 'the manifest');
  const manifest =
    record.data.type === 'snapshot-commit'
      ? snapshotManifestSchema.safeParse(manifestJson)
      : changeBatchManifestSchema.safeParse(manifestJson);
  if (!manifest.success || manifest.data.snapshotId !== record.data.record.snapshotId) {
    throw invalid("the manifest is not this record's manifest");
  }
  const segmentRef = manifest.data.segments[p.segmentIndex];
  if (!segmentRef || segmentRef.sha256 !== sha256(p.segment))
    throw invalid(`segment ${p.segmentIndex} is not the one the manifest commits to`);
  const lines = new Set(p.segment.split('\n'));
  for (const line of p.entry) if (!lines.has(line)) throw invalid('an entry line is not in the segment');
  claims.entry = p.entry.map((line) => parseJson(line, 'an entry line'));
  return claims;
}
