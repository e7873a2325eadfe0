import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { ChangePayload, RefPayload } from '../changes';
import { chunkStream, type Chunk, type ChunkingParams, type GearTable } from '../chunking';
import { InvalidEventError } from '../errors';
import { FILE_PART_MAX_CHUNKS } from '../events';
import { ObjectNotFoundError, StoreError, httpStatusOf, type MemoryObjectStore } from '../store';

/**
 * Where claim-check payloads are read from: the staged objects below s3.prefix. A stream,
 * not a buffer: a staged object may be far larger than memory.
 */
export interface StagedObjects {
  /** The object's bytes as a stream, or undefined when there is no such object. */
  open(key: string): Promise<AsyncIterable<Uint8Array> | undefined>;
}

interface SdkError {
  name?: string;
}

/** StagedObjects in an S3 bucket, keys below `prefix` (s3.prefix), as the ObjectStore lays them out. */
export class S3StagedObjects implements StagedObjects {
  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
    private readonly prefix = '',
  ) {}

  async open(key: string): Promise<AsyncIterable<Uint8Array> | undefined> {
    try {
      const res = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.prefix + key }));
      const body = res.Body as (Readable & AsyncIterable<Uint8Array>) | undefined;
      return body ?? (async function* () {})();
    } catch (err) {
      const status = httpStatusOf(err);
      if (status === 404 || (err as SdkError).name === 'NoSuchKey') return undefined;
      const retriable = status === undefined || status >= 500 || status === 429;
      throw new StoreError(`S3 GET ${key} failed: ${(err as SdkError).name ?? String(err)}`, { retriable, cause: err });
    }
  }
}

/** StagedObjects over a MemoryObjectStore, for tests: the bytes come in `pieceSize` pieces. */
export function memoryStagedObjects(store: MemoryObjectStore, pieceSize = 64 * 1024): StagedObjects {
  return {
    async open(key) {
      let bytes: Buffer;
      try {
        bytes = await store.get(key);
      } catch (err) {
        if (err instanceof ObjectNotFoundError) return undefined;
        throw err;
      }
      return (async function* () {
        for (let at = 0; at < bytes.length; at += pieceSize) {
          await Promise.resolve();
          yield bytes.subarray(at, at + pieceSize);
        }
      })();
    },
  };
}

export interface PayloadChunkingDeps {
  staged: StagedObjects;
  chunking: ChunkingParams;
  /** The repository's gear table. */
  gear: GearTable;
}

async function* single(bytes: Buffer): AsyncGenerator<Buffer> {
  await Promise.resolve();
  yield bytes;
}

/**
 * Passes a staged object's bytes on while counting and hashing them; throws an
 * InvalidEventError as soon as there are more than the ref says, and at the end when the
 * size or the SHA-256 differs. Closes the source on the way out.
 */
async function* checked(ref: RefPayload, source: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const piece of source) {
    size += piece.length;
    if (size > ref.size) {
      throw new InvalidEventError(
        `the staged object ${ref.key} is larger than the ref's size ${ref.size} (at least ${size} bytes)`,
      );
    }
    hash.update(piece);
    yield piece;
  }
  if (size !== ref.size) {
    throw new InvalidEventError(`the staged object ${ref.key} has ${size} bytes, the ref says ${ref.size}`);
  }
  const sha256 = hash.digest('hex');
  if (sha256 !== ref.sha256) {
    throw new InvalidEventError(`the staged object ${ref.key} has SHA-256 ${sha256}, the ref says ${ref.sha256}`);
  }
}

/**
 * The content-defined chunks of an upsert's payload: the inline bytes, or the staged
 * object streamed from the store and checked against the ref's size and SHA-256 while it
 * is chunked. Throws an InvalidEventError — a dead-letter reason, not a failure to retry —
 * when the staged object is missing or differs, or when the payload needs more chunks than
 * one version may list. Chunks are yielded as they are cut, so a mismatch found at the end
 * comes after chunks were yielded: they are real content, stored harmlessly.
 */
export async function* payloadChunks(payload: ChangePayload, deps: PayloadChunkingDeps): AsyncGenerator<Chunk> {
  let source: AsyncIterable<Uint8Array>;
  if (payload.kind === 'inline') {
    source = single(payload.bytes);
  } else {
    const maxBytes = FILE_PART_MAX_CHUNKS * deps.chunking.maxSize;
    if (payload.size > maxBytes) {
      throw new InvalidEventError(
        `the staged object ${payload.key} is ${payload.size} bytes: one version holds at most ${FILE_PART_MAX_CHUNKS} chunks, ${maxBytes} bytes at chunking.maxSize`,
      );
    }
    const stream = await deps.staged.open(payload.key);
    if (stream === undefined) throw new InvalidEventError(`the staged object ${payload.key} does not exist`);
    source = checked(payload, stream);
  }
  let count = 0;
  for await (const chunk of chunkStream(source, deps.chunking, { gear: deps.gear })) {
    count += 1;
    if (count > FILE_PART_MAX_CHUNKS) {
      throw new InvalidEventError(
        `the payload has more than ${FILE_PART_MAX_CHUNKS} chunks, the most one version may list: stage it in smaller parts or raise chunking sizes`,
      );
    }
    yield chunk;
  }
}
