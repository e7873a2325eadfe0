import { gunzip, gzip } from 'node:zlib';
import { promisify } from 'node:util';
import { CompressionCodecs, CompressionTypes } from 'kafkajs';
import { compressFrame, decompressFrame } from 'lz4-napi';
import SnappyJS from 'snappyjs';
import { Compressor } from 'zstd-napi';
import { DCtx } from 'zstd-napi/binding';
import { InvalidEventError } from '../errors';

/**
 * Record-batch codecs for kafkajs, which ships only gzip and throws "not implemented" on
 * Snappy, LZ4 and ZSTD batches — a stalled partition for any upstream producer (Debezium,
 * librdkafka, the Java client) that compresses. Every decompressor here is bounded: it
 * refuses a batch whose records would exceed `maxBytes` before allocating them, so a
 * small compressed batch cannot expand into unbounded memory (a decompression bomb).
 */
export interface BatchCodec {
  compress(encoder: { buffer: Buffer }): Promise<Buffer>;
  decompress(buffer: Buffer): Promise<Buffer>;
}

/** kafkajs awaits codecs: a synchronous one's throw becomes the rejection it expects. */
function later<T>(work: () => T): Promise<T> {
  return Promise.resolve().then(work);
}

function refuse(codec: string, why: string): InvalidEventError {
  return new InvalidEventError(`${codec} record batch refused: ${why}`);
}

function tooLarge(codec: string, bytes: number | string, maxBytes: number): InvalidEventError {
  return refuse(codec, `its records take ${bytes} bytes, more than kafka.maxUncompressedBatchBytes (${maxBytes})`);
}

const gunzipAsync = promisify(gunzip);
const gzipAsync = promisify(gzip);

export function gzipCodec(maxBytes: number): BatchCodec {
  return {
    compress: ({ buffer }) => gzipAsync(buffer),
    decompress: async (buffer) => {
      try {
        return await gunzipAsync(buffer, { maxOutputLength: maxBytes });
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ERR_BUFFER_TOO_LARGE') throw tooLarge('gzip', `more than ${maxBytes}`, maxBytes);
        throw refuse('gzip', (err as Error).message);
      }
    },
  };
}

// LZ4 frame format (lz4_Frame_format.md): magic, FLG, BD, optional content size and
// dictionary id, header checksum, then blocks of a 4-byte length (high bit: stored raw),
// ended by a zero length.
const LZ4_MAGIC = 0x184d2204;
const LZ4_BLOCK_MAX = [0, 0, 0, 0, 64 << 10, 256 << 10, 1 << 20, 4 << 20];

/**
 * The most bytes the one LZ4 frame in `frame` can decompress to, read from its block
 * headers without decompressing anything; throws if it is not exactly one well-formed frame.
 * Conservative: a compressed block counts as its frame's block size (64 KiB in the Java
 * client's and librdkafka's frames), or 255 times its length when that is less. A content
 * size the frame declares is not trusted.
 */
export function lz4FrameBound(frame: Buffer): number {
  const fail = (why: string): never => {
    throw refuse('LZ4', why);
  };
  if (frame.length < 7 || frame.readUInt32LE(0) !== LZ4_MAGIC) fail('not an LZ4 frame');
  const flg = frame[4] as number;
  const bd = frame[5] as number;
  if (flg >> 6 !== 1) fail(`unknown LZ4 frame version ${flg >> 6}`);
  const blockChecksum = (flg & 0x10) !== 0;
  const contentSize = (flg & 0x08) !== 0;
  const contentChecksum = (flg & 0x04) !== 0;
  const dictId = (flg & 0x01) !== 0;
  const blockMax = LZ4_BLOCK_MAX[(bd >> 4) & 7] ?? 0;
  if (blockMax === 0) fail(`unknown LZ4 block size code ${(bd >> 4) & 7}`);
  let at = 6;
  if (contentSize) at += 8;
  if (dictId) at += 4;
  at += 1; // header checksum, checked by the decoder
  let bound = 0;
  for (;;) {
    if (frame.length < at + 4) fail('truncated before its end mark');
    const word = frame.readUInt32LE(at);
    at += 4;
    if (word === 0) break;
    const raw = (word & 0x80000000) !== 0;
    const size = word & 0x7fffffff;
    if (size > blockMax) fail(`a block of ${size} bytes exceeds the frame's ${blockMax}-byte block size`);
    // One input byte of an LZ4 sequence yields at most 255 output bytes (a match-length byte).
    bound += raw ? size : Math.min(blockMax, 255 * size);
    at += size + (blockChecksum ? 4 : 0);
  }
  if (contentChecksum) at += 4;
  if (at !== frame.length) fail(at > frame.length ? 'truncated' : 'bytes after the end of its one frame');
  return bound;
}

export function lz4Codec(maxBytes: number): BatchCodec {
  return {
    compress: ({ buffer }) => compressFrame(buffer),
    decompress: async (buffer) => {
      const bound = lz4FrameBound(buffer);
      if (bound > maxBytes) throw tooLarge('LZ4', `up to ${bound}`, maxBytes);
      try {
        return await decompressFrame(buffer);
      } catch (err) {
        throw refuse('LZ4', (err as Error).message);
      }
    },
  };
}

// The Java client (and Debezium with it) writes Snappy in xerial's framing: an 8-byte
// magic, two version words, then chunks of a 4-byte big-endian length and a raw Snappy
// block. librdkafka may write one raw block. Both are read.
const XERIAL_MAGIC = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00]);
const XERIAL_HEADER_BYTES = 16;

export function snappyCodec(maxBytes: number): BatchCodec {
  const block = (raw: Buffer, room: number): Buffer => {
    try {
      // snappyjs reads the block's declared length first and refuses it above `room`.
      return Buffer.from(SnappyJS.uncompress(raw, room));
    } catch (err) {
      const message = (err as Error).message;
      if (/too big/.test(message)) throw tooLarge('Snappy', `more than ${maxBytes}`, maxBytes);
      throw refuse('Snappy', message);
    }
  };
  return {
    compress: ({ buffer }) =>
      later(() => {
        const header = Buffer.alloc(XERIAL_HEADER_BYTES);
        XERIAL_MAGIC.copy(header);
        header.writeInt32BE(1, 8);
        header.writeInt32BE(1, 12);
        const body = Buffer.from(SnappyJS.compress(buffer));
        const length = Buffer.alloc(4);
        length.writeInt32BE(body.length);
        return Buffer.concat([header, length, body]);
      }),
    decompress: (buffer) =>
      later(() => {
        if (buffer.length < XERIAL_HEADER_BYTES || !buffer.subarray(0, 8).equals(XERIAL_MAGIC)) {
          return block(buffer, maxBytes);
        }
        const parts: Buffer[] = [];
        let total = 0;
        let at = XERIAL_HEADER_BYTES;
        while (at < buffer.length) {
          if (buffer.length < at + 4) throw refuse('Snappy', 'truncated chunk length');
          const size = buffer.readInt32BE(at);
          at += 4;
          if (size < 0 || buffer.length < at + size) throw refuse('Snappy', 'truncated chunk');
          const part = block(buffer.subarray(at, at + size), maxBytes - total);
          total += part.length;
          parts.push(part);
          at += size;
        }
        return Buffer.concat(parts, total);
      }),
  };
}

const ZSTD_OUTPUT_STEP = 256 << 10;

export function zstdCodec(maxBytes: number): BatchCodec {
  const compressor = new Compressor();
  return {
    compress: ({ buffer }) => later(() => compressor.compress(buffer)),
    decompress: (buffer) =>
      later(() => {
        // Streamed into fixed steps, so a frame's declared size is never trusted for allocation.
        const dctx = new DCtx();
        const parts: Buffer[] = [];
        let total = 0;
        let input = buffer;
        let pending = 1;
        try {
          while (input.length > 0 || pending !== 0) {
            const out = Buffer.allocUnsafe(Math.min(ZSTD_OUTPUT_STEP, maxBytes - total + 1));
            const [hint, produced, consumed] = dctx.decompressStream(out, input);
            input = input.subarray(consumed);
            total += produced;
            if (total > maxBytes) throw tooLarge('ZSTD', `more than ${maxBytes}`, maxBytes);
            parts.push(out.subarray(0, produced));
            pending = hint;
            if (produced === 0 && consumed === 0) throw refuse('ZSTD', 'truncated frame');
          }
        } catch (err) {
          if (err instanceof InvalidEventError) throw err;
          throw refuse('ZSTD', (err as Error).message);
        }
        return Buffer.concat(parts, total);
      }),
  };
}

/**
 * Makes every kafkajs consumer of this process read gzip, Snappy, LZ4 and ZSTD batches,
 * each bounded by `maxBytes`. kafkajs keeps codecs in one process-wide table, so the last
 * call wins; every process reads its bound from one setting
 * (kafka.maxUncompressedBatchBytes) when it builds its client in createKafka.
 */
export function registerBatchCodecs(maxBytes: number): void {
  CompressionCodecs[CompressionTypes.GZIP] = () => gzipCodec(maxBytes);
  CompressionCodecs[CompressionTypes.Snappy] = () => snappyCodec(maxBytes);
  CompressionCodecs[CompressionTypes.LZ4] = () => lz4Codec(maxBytes);
  CompressionCodecs[CompressionTypes.ZSTD] = () => zstdCodec(maxBytes);
}
