import { createHash } from 'node:crypto';
import { types } from 'node:util';
import { FastCdcChunker, type ChunkingParams } from './fastcdc';
import { createGearTable, type GearTable } from './gear';

/** One content-defined chunk of a stream. */
export interface Chunk {
  /** The chunk's bytes; the consumer may keep it (nothing here writes to it later). */
  data: Buffer;
  /** Position of the chunk's first byte in the whole stream. */
  offset: number;
  /** data.length. */
  length: number;
  /** SHA-256 of data, lowercase hex: the chunk's content address. */
  hash: string;
}

export interface ChunkStreamOptions {
  /** Gear table to cut with (e.g. the repository's, built once); takes precedence over `key`. */
  gear?: GearTable;
  /** 32-byte key to derive the gear table from; default: the built-in key. */
  key?: Uint8Array;
}

/**
 * Cuts a byte stream into FastCDC chunks and hashes each with SHA-256.
 *
 * - Cut points depend only on the bytes, never on how the source splits them.
 * - Memory stays near maxSize plus one source buffer: only the unfinished chunk's bytes
 *   are carried from one source buffer to the next.
 * - Copies only what spans source buffers: a chunk inside one source buffer is a view of
 *   it (so the source must not reuse a buffer after yielding it, which Node streams
 *   never do); a chunk that spans buffers is concatenated once; the unfinished tail of a
 *   buffer that also held a cut is copied, so that buffer can be freed.
 * - The last chunk may be shorter than minSize; an empty stream yields nothing.
 */
export async function* chunkStream(
  source: AsyncIterable<Uint8Array>,
  params: ChunkingParams,
  options: ChunkStreamOptions = {},
): AsyncGenerator<Chunk, void, undefined> {
  const chunker = new FastCdcChunker(params, options.gear ?? createGearTable(options.key));
  /** Bytes of the unfinished chunk, in order, and their total length. */
  let pending: Buffer[] = [];
  let pendingLength = 0;
  let offset = 0;

  for await (const input of source) {
    if (!types.isUint8Array(input)) {
      throw new TypeError(`chunkStream: the source yielded ${typeof input}, not bytes (Buffer or Uint8Array)`);
    }
    if (input.length === 0) continue;
    const buf = Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
    let from = 0;
    for (;;) {
      const cut = chunker.next(buf, from, buf.length);
      if (cut < 0) break;
      let data: Buffer;
      if (pendingLength === 0) {
        data = buf.subarray(from, cut);
      } else {
        pending.push(buf.subarray(from, cut));
        data = Buffer.concat(pending, pendingLength + (cut - from));
        pending = [];
        pendingLength = 0;
      }
      yield toChunk(data, offset);
      offset += data.length;
      from = cut;
    }
    if (from < buf.length) {
      const tail = buf.subarray(from);
      pending.push(from === 0 ? tail : Buffer.from(tail));
      pendingLength += tail.length;
    }
  }

  if (pendingLength > 0) {
    const data = pending.length === 1 ? (pending[0] as Buffer) : Buffer.concat(pending, pendingLength);
    yield toChunk(data, offset);
  }
}

function toChunk(data: Buffer, offset: number): Chunk {
  return { data, offset, length: data.length, hash: createHash('sha256').update(data).digest('hex') };
}
