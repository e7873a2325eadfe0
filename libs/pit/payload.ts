import { createHash } from 'node:crypto';
import pLimit from 'p-limit';
import type { BlockDecoder } from '../blocks';
import { DEFAULT_CONTENT_TYPE, type InlinePayload } from '../changes';
import { BlockError } from '../errors';
import { ObjectNotFoundError, blockKey, type ObjectStore } from '../store';
import { PitError } from './errors';
import type { CommittedVersion } from './version';

export interface PayloadDeps {
  store: ObjectStore;
  decoder: BlockDecoder;
}

/** Object-store requests in flight, shared by every payload being fetched. */
export type RequestLimit = ReturnType<typeof pLimit>;

const describeKey = (v: CommittedVersion): string =>
  `key ${JSON.stringify(v.key)} of source ${v.source} (${v.topic}/${v.partition}@${v.offset})`;

/**
 * Fetches an upsert's payload: every chunk's block is read, decoded and checked against
 * the chunk's hash, then the joined bytes against the version's size and SHA-256. Throws
 * PitError naming the key and, when one block is at fault, the block. How the event
 * carried the payload (json or base64) comes with it; a version without an encoding (a
 * claim-check payload) is rendered as base64, which keeps its bytes exactly.
 */
export async function fetchPayload(
  version: CommittedVersion,
  deps: PayloadDeps,
  limit: RequestLimit = pLimit(1),
): Promise<InlinePayload> {
  const what = describeKey(version);
  if (version.op !== 'upsert' || version.sha256 === undefined || version.size === undefined) {
    throw new PitError(version.source, version.key, `${what}: a delete has no payload`);
  }
  const parts = await Promise.all(
    version.chunks.map((c) =>
      limit(async () => {
        const key = blockKey(c.hash);
        try {
          return deps.decoder.verify(key, await deps.store.get(key, { maxBytes: deps.decoder.maxBlockBytes }), c.hash);
        } catch (err) {
          if (err instanceof ObjectNotFoundError)
            throw new PitError(version.source, version.key, `${what}: block ${key} is missing`, key, {
              cause: err,
              code: 'BLOCK_MISSING',
            });
          if (err instanceof BlockError)
            throw new PitError(version.source, version.key, `${what}: ${err.message}`, key, { cause: err });
          throw err;
        }
      }),
    ),
  );
  const bytes = parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  if (bytes.length !== version.size || sha256 !== version.sha256) {
    throw new PitError(
      version.source,
      version.key,
      `${what}: the payload's ${version.chunks.length} chunks join to ${bytes.length} bytes hashing ${sha256}, the version says ${version.size} bytes hashing ${version.sha256}`,
    );
  }
  return {
    kind: 'inline',
    encoding: version.encoding ?? 'base64',
    contentType: version.contentType ?? DEFAULT_CONTENT_TYPE.bytes,
    size: bytes.length,
    sha256,
    bytes,
  };
}

export interface FetchInOrderOptions {
  /** Object-store requests in flight (and payloads fetched ahead), at least 1. */
  concurrency: number;
  /**
   * Payload bytes fetched ahead of the one being written. A payload larger than this is
   * still fetched, alone: memory is bounded by max(maxBufferedBytes, largest payload).
   */
  maxBufferedBytes: number;
}

/**
 * The payloads of `versions` (upserts), yielded in the order given while up to
 * `concurrency` of them are fetched ahead, within one budget of requests and bytes.
 */
export async function* fetchInOrder(
  versions: readonly CommittedVersion[],
  deps: PayloadDeps,
  options: FetchInOrderOptions,
): AsyncGenerator<{ version: CommittedVersion; payload: InlinePayload }> {
  const concurrency = Math.max(1, Math.floor(options.concurrency));
  const limit = pLimit(concurrency);
  const window: Array<{ version: CommittedVersion; size: number; payload: Promise<InlinePayload> }> = [];
  let next = 0;
  let buffered = 0;
  const fill = (): void => {
    while (next < versions.length && window.length < concurrency) {
      const version = versions[next] as CommittedVersion;
      const size = version.size ?? 0;
      if (window.length > 0 && buffered + size > options.maxBufferedBytes) return;
      next += 1;
      buffered += size;
      const payload = fetchPayload(version, deps, limit);
      // Awaited in order below; a failure of one further ahead must not go unhandled meanwhile.
      payload.catch(() => undefined);
      window.push({ version, size, payload });
    }
  };
  try {
    fill();
    while (window.length > 0) {
      const head = window.shift() as (typeof window)[number];
      const payload = await head.payload;
      buffered -= head.size;
      fill();
      yield { version: head.version, payload };
    }
  } finally {
    // Stopped early (a failure, or the consumer): let the payloads in flight settle.
    await Promise.allSettled(window.map((w) => w.payload));
  }
}
