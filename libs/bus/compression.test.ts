import { compressFrameSync } from 'lz4-napi';
import SnappyJS from 'snappyjs';
import { Compressor } from 'zstd-napi';
import { InvalidEventError } from '../errors';
import { gzipCodec, lz4Codec, lz4FrameBound, snappyCodec, zstdCodec, type BatchCodec } from './compression';

const LIMIT = 1 << 20;
const codecs: Array<[string, (max: number) => BatchCodec]> = [
  ['gzip', gzipCodec],
  ['Snappy', snappyCodec],
  ['LZ4', lz4Codec],
  ['ZSTD', zstdCodec],
];

function records(bytes: number): Buffer {
  const out = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) out[i] = (i * 31 + (i >> 7)) & 0xff;
  return out;
}

describe.each(codecs)('%s batch codec', (name, make) => {
  it('round-trips a batch', async () => {
    const codec = make(8 * LIMIT);
    const data = records(300_000);
    expect((await codec.decompress(await codec.compress({ buffer: data }))).equals(data)).toBe(true);
  });

  it('decompresses a batch at the limit', async () => {
    const data = records(LIMIT);
    const batch = await make(8 * LIMIT).compress({ buffer: data });
    // LZ4 is bounded by its block headers, so its limit is that bound, not the exact size.
    const limit = name === 'LZ4' ? lz4FrameBound(batch) : LIMIT;
    expect((await make(limit).decompress(batch)).equals(data)).toBe(true);
    await expect(make(limit - 1).decompress(batch)).rejects.toThrow(/maxUncompressedBatchBytes/);
  });

  it('refuses a batch that expands past the limit, naming the setting', async () => {
    const bomb = await make(64 << 20).compress({ buffer: Buffer.alloc(LIMIT + 1) });
    await expect(make(LIMIT).decompress(bomb)).rejects.toThrow(
      new RegExp(`${name} record batch refused: .*kafka\\.maxUncompressedBatchBytes \\(${LIMIT}\\)`),
    );
  });

  it('refuses garbage with an InvalidEventError', async () => {
    const err = await make(LIMIT)
      .decompress(Buffer.from('not a compressed batch at all, just text'))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidEventError);
    expect((err as Error).message).toMatch(new RegExp(`^${name} record batch refused: `));
  });
});

describe('Snappy batches from other clients', () => {
  it('reads one raw block (librdkafka) and xerial chunks (the Java client)', async () => {
    const codec = snappyCodec(LIMIT);
    const a = records(1000);
    const b = records(2000);
    expect((await codec.decompress(Buffer.from(SnappyJS.compress(a)))).equals(a)).toBe(true);
    const chunk = (data: Buffer): Buffer => {
      const body = Buffer.from(SnappyJS.compress(data));
      const length = Buffer.alloc(4);
      length.writeInt32BE(body.length);
      return Buffer.concat([length, body]);
    };
    const header = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0, 0, 0, 0, 1, 0, 0, 0, 1]);
    const framed = Buffer.concat([header, chunk(a), chunk(b)]);
    expect((await codec.decompress(framed)).equals(Buffer.concat([a, b]))).toBe(true);
  });

  it('counts every xerial chunk against the limit', async () => {
    const half = Buffer.alloc(LIMIT / 2 + 1);
    const body = Buffer.from(SnappyJS.compress(half));
    const length = Buffer.alloc(4);
    length.writeInt32BE(body.length);
    const header = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0, 0, 0, 0, 1, 0, 0, 0, 1]);
    const framed = Buffer.concat([header, length, body, length, body]);
    await expect(snappyCodec(LIMIT).decompress(framed)).rejects.toThrow(/maxUncompressedBatchBytes/);
  });
});

describe('lz4FrameBound', () => {
  it('bounds a frame by its blocks without decompressing', () => {
    const frame = compressFrameSync(Buffer.alloc(200_000));
    const bound = lz4FrameBound(frame);
    expect(bound).toBeGreaterThanOrEqual(200_000);
    expect(bound).toBeLessThanOrEqual(200_000 + (4 << 20));
  });

  it('refuses a truncated frame and bytes after the frame', () => {
    const frame = compressFrameSync(records(10_000));
    expect(() => lz4FrameBound(frame.subarray(0, frame.length - 3))).toThrow(/truncated/);
    expect(() => lz4FrameBound(Buffer.concat([frame, Buffer.from([1, 2])]))).toThrow(/after the end/);
  });
});

describe('ZSTD batches', () => {
  it('reads concatenated frames and refuses a truncated one', async () => {
    const compressor = new Compressor();
    const a = records(5000);
    const b = records(7000);
    const codec = zstdCodec(LIMIT);
    const both = Buffer.concat([compressor.compress(a), compressor.compress(b)]);
    expect((await codec.decompress(both)).equals(Buffer.concat([a, b]))).toBe(true);
    await expect(codec.decompress(both.subarray(0, both.length - 5))).rejects.toThrow(/ZSTD record batch refused/);
  });
});
