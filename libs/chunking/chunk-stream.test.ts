import { createHash } from 'node:crypto';
import { chunkStream, type Chunk, type ChunkStreamOptions } from './chunk-stream';
import { cutPoints, type ChunkingParams } from './fastcdc';
import { createGearTable } from './gear';
import { pseudoRandomBytes } from './pseudo-random';

const KiB = 1024;
const MiB = 1024 * KiB;
const SMALL: ChunkingParams = { minSize: 2 * KiB, avgSize: 8 * KiB, maxSize: 64 * KiB };

/** An async source over a sync iterable: each piece comes from its own promise, as from a stream. */
function asAsync<T>(items: Iterable<T>): AsyncIterable<T> {
  return {
    [Symbol.asyncIterator]() {
      const iterator = items[Symbol.iterator]();
      return { next: () => Promise.resolve(iterator.next()) };
    },
  };
}

function* pieces(data: Uint8Array, size: number): Generator<Uint8Array> {
  for (let at = 0; at < data.length; at += size) yield data.subarray(at, Math.min(at + size, data.length));
}

function inPieces(data: Uint8Array, size: number): AsyncIterable<Uint8Array> {
  return asAsync(pieces(data, size));
}

async function collect(
  source: AsyncIterable<Uint8Array>,
  params = SMALL,
  options: ChunkStreamOptions = {},
): Promise<Chunk[]> {
  const chunks: Chunk[] = [];
  for await (const chunk of chunkStream(source, params, options)) chunks.push(chunk);
  return chunks;
}

function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** What identifies a chunk, without its bytes (for comparing runs). */
function summary(chunks: Chunk[]): Array<[number, number, string]> {
  return chunks.map((c) => [c.offset, c.length, c.hash]);
}

/** Random data around a long run of zeros (which is cut at maxSize). */
const data = Buffer.concat([
  pseudoRandomBytes(100 * KiB, 11),
  Buffer.alloc(140 * KiB),
  pseudoRandomBytes(60 * KiB, 12),
]);

describe('chunkStream', () => {
  it('gives the same chunks whether the input comes in 1-byte, 7-byte, 64 KiB or whole pieces', async () => {
    const whole = await collect(inPieces(data, data.length));
    expect(whole.length).toBeGreaterThan(10);
    expect(whole.map((c) => c.offset + c.length)).toEqual(cutPoints(data, SMALL));
    for (const size of [1, 7, 64 * KiB]) {
      expect(summary(await collect(inPieces(data, size)))).toEqual(summary(whole));
    }
    // Plain Uint8Array pieces (not Buffers) work the same.
    const plain = new Uint8Array(data);
    expect(summary(await collect(inPieces(plain, 4093)))).toEqual(summary(whole));
  });

  it('returns the input: chunks concatenate to it, offsets are contiguous, hashes are SHA-256 of the bytes', async () => {
    // Chunks are checked only after the stream has ended, so a chunk whose bytes were
    // overwritten by a later read would show here.
    const chunks = await collect(inPieces(data, 5000));
    let offset = 0;
    for (const chunk of chunks) {
      expect(Buffer.isBuffer(chunk.data)).toBe(true);
      expect(chunk.offset).toBe(offset);
      expect(chunk.length).toBe(chunk.data.length);
      expect(chunk.hash).toBe(sha256(chunk.data));
      offset += chunk.length;
    }
    expect(offset).toBe(data.length);
    expect(Buffer.concat(chunks.map((c) => c.data)).equals(data)).toBe(true);
  });

  it('keeps chunks within [minSize, maxSize], except a shorter last one', async () => {
    const sizes = (await collect(inPieces(data, 3000))).map((c) => c.length);
    for (const size of sizes.slice(0, -1)) {
      expect(size).toBeGreaterThanOrEqual(SMALL.minSize);
      expect(size).toBeLessThanOrEqual(SMALL.maxSize);
    }
    expect(sizes).toContain(SMALL.maxSize);
  });

  it('yields no chunk for an empty input', async () => {
    expect(await collect(inPieces(Buffer.alloc(0), 1))).toEqual([]);
    expect(await collect(asAsync([]))).toEqual([]);
    expect(await collect(asAsync([Buffer.alloc(0), new Uint8Array(0)]))).toEqual([]);
  });

  it('yields one chunk for an input shorter than minSize', async () => {
    const short = pseudoRandomBytes(SMALL.minSize - 1, 13);
    const chunks = await collect(inPieces(short, 100));
    expect(chunks).toHaveLength(1);
    expect(chunks[0]!.offset).toBe(0);
    expect(chunks[0]!.data.equals(short)).toBe(true);
    expect(chunks[0]!.hash).toBe(sha256(short));
  });

  it('streams: a chunk comes out before the source has given more than maxSize and a piece', async () => {
    const piece = 4 * KiB;
    let pulled = 0;
    function* endless(): Generator<Buffer> {
      for (let i = 0; ; i++) {
        pulled += piece;
        yield i % 2 === 0 ? pseudoRandomBytes(piece, i) : Buffer.alloc(piece); // never ends
      }
    }
    let seen = 0;
    for await (const chunk of chunkStream(asAsync(endless()), SMALL)) {
      expect(pulled).toBeLessThanOrEqual(chunk.offset + SMALL.maxSize + piece);
      if (++seen === 20) break;
    }
    expect(seen).toBe(20);
  });

  it('keeps most chunks when a few bytes are inserted near the start of 16 MiB (shift resistance)', async () => {
    const original = pseudoRandomBytes(16 * MiB, 14);
    const edited = Buffer.concat([original.subarray(0, 1000), Buffer.from('hello'), original.subarray(1000)]);
    const before = await collect(inPieces(original, 1 * MiB));
    const after = await collect(inPieces(edited, 1 * MiB));
    const afterHashes = new Set(after.map((c) => c.hash));
    const kept = before.filter((c) => afterHashes.has(c.hash)).length;
    expect(before.length).toBeGreaterThan(1000);
    expect(kept / before.length).toBeGreaterThanOrEqual(0.9);
    // In fact only the chunk holding the insertion (and at most its neighbour) changes.
    expect(before.length - kept).toBeLessThanOrEqual(2);
  });

  it('cuts elsewhere with another key, given as a key or as a gear table', async () => {
    const random = pseudoRandomBytes(256 * KiB, 15);
    const key = Buffer.alloc(32, 9);
    const unkeyed = summary(await collect(inPieces(random, 64 * KiB)));
    const keyed = summary(await collect(inPieces(random, 64 * KiB), SMALL, { key }));
    expect(keyed).not.toEqual(unkeyed);
    const byTable = summary(await collect(inPieces(random, 64 * KiB), SMALL, { gear: createGearTable(key) }));
    expect(byTable).toEqual(keyed);
  });

  it('refuses a source that does not yield bytes', async () => {
    await expect(collect(asAsync(['not bytes' as unknown as Uint8Array]))).rejects.toThrow(TypeError);
  });
});
