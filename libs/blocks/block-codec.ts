import { createHash } from 'node:crypto';
import { Compressor } from 'zstd-napi';
import { DCtx, findFrameCompressedSize } from 'zstd-napi/binding';
import { BlockError } from '../errors';

/**
 * A block is one chunk as stored: a 5-byte header — "BSB", format version 1, codec — and
 * the payload. Codec 1 is zstd; codec 0 stores the bytes as they are, for chunks that do
 * not shrink (already compressed media, encrypted data).
 */
const MAGIC = Buffer.from('BSB');
const FORMAT_VERSION = 1;
export const HEADER_BYTES = 5;
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

const ZSTD_MAGIC = 0xfd2fb528;

/**
 * The content size a zstd frame declares in its header (RFC 8878 §3.1.1.1), or undefined
 * when it declares none. Read before decompressing, so a crafted block cannot make the
 * decoder allocate more than the largest chunk.
 */
export function zstdFrameContentSize(frame: Buffer): number | undefined {
  if (frame.length < 6 || frame.readUInt32LE(0) !== ZSTD_MAGIC) return undefined;
  const descriptor = frame[4] as number;
  const fcsFlag = descriptor >> 6;
  const singleSegment = (descriptor >> 5) & 1;
  const dictIdBytes = [0, 1, 2, 4][descriptor & 3] as number;
  const fcsBytes = [singleSegment ? 1 : 0, 2, 4, 8][fcsFlag] as number;
  const at = 5 + (singleSegment ? 0 : 1) + dictIdBytes;
  if (fcsBytes === 0 || frame.length < at + fcsBytes) return undefined;
  switch (fcsBytes) {
    case 1:
      return frame.readUInt8(at);
    case 2:
      return frame.readUInt16LE(at) + 256;
    case 4:
      return frame.readUInt32LE(at);
    default: {
      const size = frame.readBigUInt64LE(at);
      return size > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(size);
    }
  }
}

export class BlockDecoder {
  private readonly dctx = new DCtx();
  /** The largest block a chunk of at most maxSize bytes is stored as: what a store read may return. */
  readonly maxBlockBytes: number;

  /**
   * @param maxSize the largest chunk this repository cuts; a block claiming more is corrupt
   * (and never decompressed into unbounded memory).
   */
  constructor(private readonly maxSize: number) {
    this.maxBlockBytes = maxSize + HEADER_BYTES;
  }

  /**
   * The chunk a block holds. A zstd payload must be exactly one frame that declares its
   * size, at most maxSize: it is decompressed into a buffer of that size, so a crafted
   * block can never make the decoder allocate more than the largest chunk.
   */
  decode(key: string, block: Buffer): Buffer {
    if (block.length < HEADER_BYTES || !block.subarray(0, 3).equals(MAGIC)) {
      throw new BlockError('BLOCK_CORRUPT', key, `block ${key} has no block header`);
    }
    if (block[3] !== FORMAT_VERSION) {
      throw new BlockError('BLOCK_CORRUPT', key, `block ${key} has unknown format version ${block[3]}`);
    }
    const payload = block.subarray(HEADER_BYTES);
    if (block[4] === CODEC.none) {
      if (payload.length > this.maxSize) {
        throw new BlockError(
          'BLOCK_CORRUPT',
          key,
          `block ${key} holds ${payload.length} bytes, more than the largest chunk`,
        );
      }
      return payload;
    }
    if (block[4] !== CODEC.zstd)
      throw new BlockError('BLOCK_CORRUPT', key, `block ${key} has unknown codec ${block[4]}`);
    const declared = zstdFrameContentSize(payload);
    if (declared === undefined || declared > this.maxSize) {
      throw new BlockError(
        'BLOCK_CORRUPT',
        key,
        declared === undefined
          ? `block ${key} is not a zstd frame with a declared size`
          : `block ${key} declares ${declared} bytes, more than the largest chunk`,
      );
    }
    return this.decompressFrame(key, payload, declared);
  }

  /** Decompresses the one frame of `payload` into exactly `declared` bytes, or throws BLOCK_CORRUPT. */
  private decompressFrame(key: string, payload: Buffer, declared: number): Buffer {
    let frameBytes: number;
    try {
      frameBytes = findFrameCompressedSize(payload);
    } catch (err) {
      throw new BlockError('BLOCK_CORRUPT', key, `block ${key} does not decompress: ${(err as Error).message}`, {
        cause: err,
      });
    }
    if (frameBytes !== payload.length) {
      throw new BlockError('BLOCK_CORRUPT', key, `block ${key} holds more than one zstd frame`);
    }
    const data = Buffer.allocUnsafe(declared);
    let written: number;
    try {
      // Writes at most data.length bytes: a frame holding more than it declares is an error.
      written = this.dctx.decompress(data, payload);
    } catch (err) {
      throw new BlockError('BLOCK_CORRUPT', key, `block ${key} does not decompress: ${(err as Error).message}`, {
        cause: err,
      });
    }
    if (written !== declared) {
      throw new BlockError('BLOCK_CORRUPT', key, `block ${key} decodes to ${written} bytes, it declares ${declared}`);
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
