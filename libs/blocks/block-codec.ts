import { createHash } from 'node:crypto';
import { Compressor, Decompressor } from 'zstd-napi';
import { BlockError } from '../errors';

/**
 * A block is one chunk as stored: a 5-byte header — "BSB", format version 1, codec — and
 * the payload. Codec 1 is zstd; codec 0 stores the bytes as they are, for chunks that do
 * not shrink (already compressed media, encrypted data).
 */
const MAGIC = Buffer.from('BSB');
const FORMAT_VERSION = 1;
const HEADER_BYTES = 5;
export const CODEC = { none: 0, zstd: 1 } as const;

export class BlockEncoder {
  private readonly compressor = new Compressor();

  constructor(level: number) {
    this.compressor.setParameters({ compressionLevel: level });
  }

  encode(data: Buffer): Buffer {
    const compressed = this.compressor.compress(data);
    const useZstd = compressed.length < data.length;
    const header = Buffer.from([...MAGIC, FORMAT_VERSION, useZstd ? CODEC.zstd : CODEC.none]);
    return Buffer.concat([header, useZstd ? compressed : data]);
  }
}

export class BlockDecoder {
  private readonly decompressor = new Decompressor();

  /**
   * @param maxSize the largest chunk this repository cuts; a block claiming more is corrupt
   * (and never decompressed into unbounded memory).
   */
  constructor(private readonly maxSize: number) {
    // zstd refuses frames whose window exceeds this, bounding decompression memory.
    this.decompressor.setParameters({ windowLogMax: 27 });
  }

  decode(key: string, block: Buffer): Buffer {
    if (block.length < HEADER_BYTES || !block.subarray(0, 3).equals(MAGIC)) {
      throw new BlockError('BLOCK_CORRUPT', key, `block ${key} has no block header`);
    }
    if (block[3] !== FORMAT_VERSION) {
      throw new BlockError('BLOCK_CORRUPT', key, `block ${key} has unknown format version ${block[3]}`);
    }
    const payload = block.subarray(HEADER_BYTES);
    if (block[4] === CODEC.none) return payload;
    if (block[4] !== CODEC.zstd)
      throw new BlockError('BLOCK_CORRUPT', key, `block ${key} has unknown codec ${block[4]}`);
    let data: Buffer;
    try {
      data = this.decompressor.decompress(payload);
    } catch (err) {
      throw new BlockError('BLOCK_CORRUPT', key, `block ${key} does not decompress: ${(err as Error).message}`, {
        cause: err,
      });
    }
    if (data.length > this.maxSize) {
      throw new BlockError(
        'BLOCK_CORRUPT',
        key,
        `block ${key} decodes to ${data.length} bytes, more than the largest chunk`,
      );
    }
    return data;
  }

  /** Decodes and checks the SHA-256: returns the chunk's bytes or throws BlockError BLOCK_CORRUPT. */
  verify(key: string, block: Buffer, expectedHash: string): Buffer {
    const data = this.decode(key, block);
    const actual = createHash('sha256').update(data).digest('hex');
    if (actual !== expectedHash) {
      throw new BlockError(
        'BLOCK_CORRUPT',
        key,
        `block ${key} decodes to bytes hashing ${actual}, expected ${expectedHash}`,
      );
    }
    return data;
  }
}
