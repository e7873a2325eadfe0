import { createHash } from 'node:crypto';
import { inlinePayload, type RefPayload } from '../changes';
import { chunkStream, defaultGearTable, type Chunk, type ChunkingParams } from '../chunking';
import { pseudoRandomBytes } from '../chunking/pseudo-random';
import { InvalidEventError } from '../errors';
import { FILE_PART_MAX_CHUNKS } from '../events';
import { MemoryObjectStore } from '../store';
import { memoryStagedObjects, payloadChunks } from './payload';

const KiB = 1024;
const SMALL: ChunkingParams = { minSize: 2 * KiB, avgSize: 8 * KiB, maxSize: 64 * KiB };
const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const BYTES = pseudoRandomBytes(300 * KiB, 11);

async function all(chunks: AsyncIterable<Chunk>): Promise<Chunk[]> {
  const out: Chunk[] = [];
  for await (const c of chunks) out.push(c);
  return out;
}

async function expectedChunks(bytes: Buffer): Promise<Array<{ hash: string; length: number }>> {
  return (
    await all(
      chunkStream(
        (async function* () {
          await Promise.resolve();
          yield bytes;
        })(),
        SMALL,
      ),
    )
  ).map((c) => ({ hash: c.hash, length: c.length }));
}

function ref(key: string, bytes: Buffer, over: Partial<RefPayload> = {}): RefPayload {
  return {
    kind: 'ref',
    key,
    contentType: 'application/octet-stream',
    size: bytes.length,
    sha256: sha256(bytes),
    ...over,
  };
}

async function setup(): Promise<{ store: MemoryObjectStore; deps: Parameters<typeof payloadChunks>[1] }> {
  const store = new MemoryObjectStore();
  await store.put('staging/crm/blob', BYTES);
  return { store, deps: { staged: memoryStagedObjects(store, 10_000), chunking: SMALL, gear: defaultGearTable() } };
}

describe('payloadChunks', () => {
  it('cuts inline bytes and a staged object of the same bytes into the same chunks (stored once)', async () => {
    const { deps } = await setup();
    const expected = await expectedChunks(BYTES);
    expect(expected.length).toBeGreaterThan(10);
    const inline = await all(payloadChunks(inlinePayload(BYTES, 'base64', 'application/octet-stream'), deps));
    const staged = await all(payloadChunks(ref('staging/crm/blob', BYTES), deps));
    expect(inline.map((c) => ({ hash: c.hash, length: c.length }))).toEqual(expected);
    expect(staged.map((c) => ({ hash: c.hash, length: c.length }))).toEqual(expected);
    expect(Buffer.concat(staged.map((c) => c.data)).equals(BYTES)).toBe(true);
  });

  it('yields nothing for an empty payload', async () => {
    const { store, deps } = await setup();
    await store.put('staging/empty', Buffer.alloc(0));
    expect(await all(payloadChunks(inlinePayload(Buffer.alloc(0), 'json', 'application/json'), deps))).toEqual([]);
    expect(await all(payloadChunks(ref('staging/empty', Buffer.alloc(0)), deps))).toEqual([]);
  });

  it.each([
    ['missing', ref('staging/crm/none', BYTES), 'the staged object staging/crm/none does not exist'],
    [
      'shorter than the ref says',
      ref('staging/crm/blob', BYTES, { size: BYTES.length + 1 }),
      `the staged object staging/crm/blob has ${BYTES.length} bytes, the ref says ${BYTES.length + 1}`,
    ],
    [
      'longer than the ref says',
      ref('staging/crm/blob', BYTES, { size: 20_000 }),
      "the staged object staging/crm/blob is larger than the ref's size 20000 (at least 30000 bytes)",
    ],
    [
      'of another content',
      ref('staging/crm/blob', BYTES, { sha256: 'f'.repeat(64) }),
      `the staged object staging/crm/blob has SHA-256 ${sha256(BYTES)}, the ref says ${'f'.repeat(64)}`,
    ],
  ])(
    'refuses a staged object that is %s, with the reason (a dead letter, not a crash)',
    async (_what, payload, reason) => {
      const { deps } = await setup();
      const attempt = all(payloadChunks(payload, deps));
      await expect(attempt).rejects.toBeInstanceOf(InvalidEventError);
      await expect(attempt).rejects.toThrow(reason);
    },
  );

  it('refuses a payload of more chunks than one version may list, before reading a too large object', async () => {
    const { deps } = await setup();
    const tiny: ChunkingParams = { minSize: 64, avgSize: 128, maxSize: 256 };
    const many = pseudoRandomBytes(FILE_PART_MAX_CHUNKS * 260, 3);
    await expect(
      all(payloadChunks(inlinePayload(many, 'base64', 'application/octet-stream'), { ...deps, chunking: tiny })),
    ).rejects.toThrow(`more than ${FILE_PART_MAX_CHUNKS} chunks`);
    const open = jest.spyOn(deps.staged, 'open');
    const huge = ref('staging/crm/blob', BYTES, { size: FILE_PART_MAX_CHUNKS * 256 + 1 });
    await expect(all(payloadChunks(huge, { ...deps, chunking: tiny }))).rejects.toThrow(/at most 2048 chunks/);
    expect(open).not.toHaveBeenCalled();
  });
});
