import { createHash } from 'node:crypto';
import { Compressor } from 'zstd-napi';
import { pseudoRandomBytes } from '../chunking/pseudo-random';
import { BlockError } from '../errors';
import { BlockDecoder, BlockEncoder, CODEC } from './block-codec';

const KiB = 1024;
const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');
const KEY = 'blocks/ab/test';

/** Text-like data: compresses well. */
const COMPRESSIBLE = Buffer.from(
  Array.from({ length: 2000 }, (_, i) => `line ${i % 50}: backstream block codec test\n`).join(''),
);
/** Seeded pseudo-random bytes: zstd cannot shrink them. */
const INCOMPRESSIBLE = pseudoRandomBytes(64 * KiB, 42);

const encoder = new BlockEncoder(3);
const decoder = new BlockDecoder(1024 * KiB);

function corruptError(fn: () => unknown): BlockError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(BlockError);
    expect((err as BlockError).code).toBe('BLOCK_CORRUPT');
    expect((err as BlockError).key).toBe(KEY);
    expect((err as BlockError).retriable).toBe(false);
    return err as BlockError;
  }
  throw new Error('expected a BlockError, nothing was thrown');
}

function withByte(block: Buffer, index: number, value: number): Buffer {
  const copy = Buffer.from(block);
  copy[index] = value;
  return copy;
}

/** A block-format header followed by the zstd frame of `data`, whatever its size. */
function zstdBlock(data: Buffer): Buffer {
  return Buffer.concat([Buffer.from('BSB'), Buffer.from([1, CODEC.zstd]), new Compressor().compress(data)]);
}

describe('BlockEncoder / BlockDecoder', () => {
  it('stores compressible data with codec zstd (byte 4 = 1), smaller, and decodes it back', () => {
    const block = encoder.encode(COMPRESSIBLE);
    expect(block.subarray(0, 3).toString('latin1')).toBe('BSB');
    expect(block[3]).toBe(1);
    expect(block[4]).toBe(CODEC.zstd);
    expect(block[4]).toBe(1);
    expect(block.length).toBeLessThan(COMPRESSIBLE.length / 4);
    expect(decoder.decode(KEY, block).equals(COMPRESSIBLE)).toBe(true);
    expect(decoder.verify(KEY, block, sha256(COMPRESSIBLE)).equals(COMPRESSIBLE)).toBe(true);
  });

  it('stores incompressible data with codec none (byte 4 = 0): header + the bytes as they are', () => {
    const block = encoder.encode(INCOMPRESSIBLE);
    expect(block[4]).toBe(CODEC.none);
    expect(block[4]).toBe(0);
    expect(block.length).toBe(INCOMPRESSIBLE.length + 5);
    expect(block.subarray(5).equals(INCOMPRESSIBLE)).toBe(true);
    expect(decoder.verify(KEY, block, sha256(INCOMPRESSIBLE)).equals(INCOMPRESSIBLE)).toBe(true);
  });

  it('round-trips an empty chunk and a one-byte chunk (raw: zstd would grow them)', () => {
    for (const data of [Buffer.alloc(0), Buffer.from([0x42])]) {
      const block = encoder.encode(data);
      expect(block[4]).toBe(CODEC.none);
      expect(block.length).toBe(5 + data.length);
      expect(decoder.verify(KEY, block, sha256(data)).equals(data)).toBe(true);
    }
  });

  it('encodes deterministically: the same bytes give the same block', () => {
    expect(encoder.encode(COMPRESSIBLE).equals(new BlockEncoder(3).encode(COMPRESSIBLE))).toBe(true);
  });

  it('decodes what any compression level wrote', () => {
    for (const level of [1, 9, 19]) {
      const block = new BlockEncoder(level).encode(COMPRESSIBLE);
      expect(block[4]).toBe(CODEC.zstd);
      expect(decoder.verify(KEY, block, sha256(COMPRESSIBLE)).equals(COMPRESSIBLE)).toBe(true);
    }
  });
});

describe('BlockDecoder.verify rejects with BLOCK_CORRUPT', () => {
  const zstd = encoder.encode(COMPRESSIBLE);
  const raw = encoder.encode(INCOMPRESSIBLE);
  const cases = [
    { name: 'zstd', block: zstd, data: COMPRESSIBLE },
    { name: 'raw', block: raw, data: INCOMPRESSIBLE },
  ];

  it.each(cases)('a $name block with one flipped payload byte (anywhere)', ({ block, data }) => {
    const hash = sha256(data);
    for (const at of [5, 6, Math.floor(block.length / 2), block.length - 1]) {
      const flipped = withByte(block, at, (block[at] as number) ^ 0x10);
      corruptError(() => decoder.verify(KEY, flipped, hash));
    }
  });

  it.each(cases)('a truncated $name block', ({ block, data }) => {
    const hash = sha256(data);
    corruptError(() => decoder.verify(KEY, block.subarray(0, block.length - 1), hash));
    corruptError(() => decoder.verify(KEY, block.subarray(0, Math.floor(block.length / 2)), hash));
  });

  it('a block shorter than its header, or empty', () => {
    for (const n of [0, 1, 3, 4]) {
      expect(corruptError(() => decoder.verify(KEY, zstd.subarray(0, n), sha256(COMPRESSIBLE))).message).toBe(
        `block ${KEY} has no block header`,
      );
    }
  });

  it('a header with only 5 bytes decodes to nothing and fails the hash', () => {
    const err = corruptError(() => decoder.verify(KEY, raw.subarray(0, 5), sha256(INCOMPRESSIBLE)));
    expect(err.message).toMatch(/expected/);
  });

  it('bad magic', () => {
    for (const [at, value] of [
      [0, 0x62], // 'b'
      [1, 0x00],
      [2, 0x43],
    ] as const) {
      const err = corruptError(() => decoder.verify(KEY, withByte(zstd, at, value), sha256(COMPRESSIBLE)));
      expect(err.message).toBe(`block ${KEY} has no block header`);
    }
  });

  it('an unknown format version', () => {
    for (const version of [0, 2, 255]) {
      const err = corruptError(() => decoder.verify(KEY, withByte(raw, 3, version), sha256(INCOMPRESSIBLE)));
      expect(err.message).toBe(`block ${KEY} has unknown format version ${version}`);
    }
  });

  it('an unknown codec', () => {
    for (const codec of [2, 7, 255]) {
      const err = corruptError(() => decoder.verify(KEY, withByte(zstd, 4, codec), sha256(COMPRESSIBLE)));
      expect(err.message).toBe(`block ${KEY} has unknown codec ${codec}`);
    }
  });

  it('a raw payload labelled zstd does not decompress', () => {
    const err = corruptError(() => decoder.verify(KEY, withByte(raw, 4, CODEC.zstd), sha256(INCOMPRESSIBLE)));
    expect(err.message).toMatch(/is not a zstd frame with a declared size/);
    // Refused from the frame header alone: nothing was decompressed, so there is no cause.
    expect(err.cause).toBeUndefined();
  });

  it('a zstd payload labelled raw fails the hash', () => {
    const err = corruptError(() => decoder.verify(KEY, withByte(zstd, 4, CODEC.none), sha256(COMPRESSIBLE)));
    expect(err.message).toMatch(/decodes to bytes hashing [0-9a-f]{64}, expected/);
  });

  it.each(cases)('a good $name block checked against the wrong hash', ({ block, data }) => {
    const wrong = sha256(Buffer.concat([data, Buffer.from([0])]));
    const err = corruptError(() => decoder.verify(KEY, block, wrong));
    expect(err.message).toBe(`block ${KEY} decodes to bytes hashing ${sha256(data)}, expected ${wrong}`);
  });

  it('a zstd block decoding to more than maxSize, even with the right hash', () => {
    const small = new BlockDecoder(COMPRESSIBLE.length - 1);
    const err = corruptError(() => small.verify(KEY, zstd, sha256(COMPRESSIBLE)));
    expect(err.message).toBe(`block ${KEY} declares ${COMPRESSIBLE.length} bytes, more than the largest chunk`);
    // Exactly maxSize is fine.
    expect(new BlockDecoder(COMPRESSIBLE.length).verify(KEY, zstd, sha256(COMPRESSIBLE)).length).toBe(
      COMPRESSIBLE.length,
    );
  });

  it('a zstd frame of zeros far above maxSize (a small block, a large claim)', () => {
    const zeros = Buffer.alloc(4 * 1024 * KiB);
    const block = zstdBlock(zeros);
    expect(block.length).toBeLessThan(4 * KiB);
    const err = corruptError(() => decoder.verify(KEY, block, sha256(zeros)));
    expect(err.message).toMatch(/more than the largest chunk/);
  });

  // BUG (libs/blocks/block-codec.ts, BlockDecoder.decode, `if (block[4] === CODEC.none) return payload;`):
  // the maxSize bound is only applied to zstd blocks. A raw (codec 0) block whose payload
  // is larger than the largest chunk is returned, and verify() accepts it when the hash
  // matches, although the constructor documents "a block claiming more is corrupt".
  // Fix: check `payload.length > this.maxSize` for codec none too, before returning it.
  it('a raw block holding more than maxSize bytes, even with the right hash', () => {
    const small = new BlockDecoder(INCOMPRESSIBLE.length - 1);
    const err = corruptError(() => small.verify(KEY, raw, sha256(INCOMPRESSIBLE)));
    expect(err.message).toMatch(/more than the largest chunk/);
  });
});

describe('BlockDecoder bounds what it allocates to the declared size, at most maxSize', () => {
  const maxSize = 1024 * KiB;
  const bounded = new BlockDecoder(maxSize);
  const noSize = (data: Buffer): Buffer => {
    const c = new Compressor();
    c.setParameters({ contentSizeFlag: false });
    return c.compress(data);
  };
  /** A block whose zstd payload is several frames: the first is small and declares its size. */
  const framesBlock = (...frames: Buffer[]): Buffer =>
    Buffer.concat([Buffer.from('BSB'), Buffer.from([1, CODEC.zstd]), ...frames]);

  /** The sizes of every Buffer.allocUnsafe while `fn` runs. */
  function allocations(fn: () => unknown): number[] {
    const sizes: number[] = [];
    const original = Buffer.allocUnsafe.bind(Buffer);
    const spy = jest.spyOn(Buffer, 'allocUnsafe').mockImplementation((size: number) => {
      sizes.push(size);
      return original(size);
    });
    try {
      fn();
    } catch {
      // the refusal itself is checked by the caller
    } finally {
      spy.mockRestore();
    }
    return sizes;
  }

  it('refuses a block of a small frame followed by a large one, before decompressing it', () => {
    const block = framesBlock(
      new Compressor().compress(Buffer.from('x')),
      new Compressor().compress(Buffer.alloc(64 * 1024 * KiB)),
    );
    expect(block.length).toBeLessThan(8 * KiB);
    const err = corruptError(() => bounded.decode(KEY, block));
    expect(err.message).toBe(`block ${KEY} holds more than one zstd frame`);
    expect(err.cause).toBeUndefined();
    expect(Math.max(0, ...allocations(() => bounded.decode(KEY, block)))).toBeLessThanOrEqual(maxSize);
  });

  it('refuses a small frame followed by one that declares no size (the unbounded streaming path)', () => {
    const block = framesBlock(new Compressor().compress(Buffer.from('x')), noSize(Buffer.alloc(64 * 1024 * KiB)));
    const err = corruptError(() => bounded.decode(KEY, block));
    expect(err.message).toBe(`block ${KEY} holds more than one zstd frame`);
    expect(Math.max(0, ...allocations(() => bounded.decode(KEY, block)))).toBeLessThanOrEqual(maxSize);
  });

  it('refuses trailing bytes after the frame', () => {
    const block = framesBlock(new Compressor().compress(COMPRESSIBLE), Buffer.from('junk'));
    corruptError(() => decoder.verify(KEY, block, sha256(COMPRESSIBLE)));
  });
});
