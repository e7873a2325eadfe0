import { createHash } from 'node:crypto';
import { ArchiverPartition } from '../archive';
import { BlockDecoder, BlockEncoder } from '../blocks';
import { chunkStream, type ChunkingParams } from '../chunking';
import {
  FILE_PART_MAX_CHUNKS,
  fileSchema,
  snapshotCommitSchema,
  type ChunkRef,
  type ChunkVerifiedEvent,
  type FileEvent,
  type ProgressEvent,
  type SnapshotCommitRecord,
} from '../events';
import { createLogger } from '../log';
import { metadataDecoder } from '../manifest';
import { storeChunk, verifyStoredChunk } from '../pipeline';
import { MemoryObjectStore, type GetOptions, type ObjectInfo, type ObjectStore, type PutOptions } from '../store';

/**
 * Snapshots committed the way the pipeline commits them, minus Kafka (as in
 * libs/restore/restore.test.ts): contents cut by chunkStream, blocks stored and verified
 * (storeChunk, verifyStoredChunk), file events cut into parts as runBackup does, and the
 * segments, manifest and commit record written by the real ArchiverPartition.
 */

/** Tiny chunks, so small files have several blocks and a 256 KiB file needs two file-event parts. */
export const PARAMS: ChunkingParams = { minSize: 16, avgSize: 64, maxSize: 256 };
export const decoder = metadataDecoder(PARAMS.maxSize);
export const blockDecoder = new BlockDecoder(PARAMS.maxSize);
const T0 = Date.parse('2024-03-01T08:00:00.000Z');

export interface EntrySpec {
  path: string;
  kind?: 'file' | 'dir' | 'symlink';
  content?: Buffer;
}

export interface Committed {
  record: SnapshotCommitRecord;
  /** The file events as committed, in walk order, parts included. */
  events: FileEvent[];
}

async function* once(bytes: Buffer): AsyncGenerator<Buffer> {
  await Promise.resolve();
  yield bytes;
}

export const snapshotIdOf = (name: string): string => createHash('md5').update(name).digest('hex');

export class SnapshotRepo {
  readonly store = new MemoryObjectStore();
  readonly encoder = new BlockEncoder(3);
  readonly records: SnapshotCommitRecord[] = [];

  /**
   * Commits `entries` (in walk order) as snapshot `name`. `edit` may change the file events
   * before the archiver sees them (a wrong content hash, a lost last part).
   */
  async commit(
    name: string,
    entries: readonly EntrySpec[],
    edit: (events: FileEvent[]) => FileEvent[] = (e) => e,
  ): Promise<Committed> {
    const snapshotId = snapshotIdOf(name);
    const verified: ChunkVerifiedEvent[] = [];
    const seqOf = new Map<string, number>();
    let events: FileEvent[] = [];
    for (const [i, spec] of entries.entries()) {
      const kind = spec.kind ?? 'file';
      const base = {
        snapshotId,
        path: spec.path,
        kind,
        mode: kind === 'dir' ? 0o755 : 0o644,
        mtimeMs: T0 - i * 1000,
        ino: i + 1,
        ...(kind === 'symlink' ? { target: 'elsewhere' } : {}),
      };
      if (kind !== 'file') {
        events.push({ ...base, size: 0, part: 0, last: true, chunks: [] });
        continue;
      }
      const content = spec.content ?? Buffer.alloc(0);
      const chunks: ChunkRef[] = [];
      for await (const c of chunkStream(once(content), PARAMS)) {
        chunks.push({ hash: c.hash, size: c.length });
        if (seqOf.has(c.hash)) continue;
        const seq = seqOf.size;
        seqOf.set(c.hash, seq);
        const meta = { snapshotId, source: 'audit-test', seq, hash: c.hash, size: c.length };
        const stored = await storeChunk({ meta, data: c.data }, this);
        const outcome = await verifyStoredChunk(stored, { store: this.store, decoder });
        if (!('verified' in outcome)) throw new Error(`block ${c.hash} does not verify`);
        verified.push(outcome.verified);
      }
      let part = 0;
      let from = 0;
      for (; chunks.length - from >= FILE_PART_MAX_CHUNKS; from += FILE_PART_MAX_CHUNKS) {
        const slice = chunks.slice(from, from + FILE_PART_MAX_CHUNKS);
        events.push({ ...base, size: content.length, part: part++, last: false, chunks: slice });
      }
      const contentHash = createHash('sha256').update(content).digest('hex');
      events.push({ ...base, size: content.length, part, last: true, chunks: chunks.slice(from), contentHash });
    }
    events = edit(events);
    const records = this.records;
    const archiver = new ArchiverPartition(0, {
      store: this.store,
      encoder: this.encoder,
      ledger: {
        isCommitted: (id) => records.some((r) => r.snapshotId === id),
        append: (record) => {
          records.push(record);
          return Promise.resolve();
        },
        changesCommittedThrough: () => undefined,
        appendChanges: () => Promise.reject(new Error('no change batches here')),
      },
      publishFailed: (failed) => Promise.reject(new Error(`snapshot failed: ${failed.reason}`)),
      now: () => new Date(T0 + 120_000),
      // Small segments: the file list spans several.
      segmentBytes: 2048,
      abandonAfterMs: 3_600_000,
      maxPendingSnapshots: 4,
      logger: createLogger('silent', 'audit-test'),
    });
    const lasts = events.filter((e) => e.last);
    const items: ProgressEvent[] = [
      ...events.map((e): ProgressEvent => ({ type: 'file', event: fileSchema.parse(e) })),
      ...verified.map((v): ProgressEvent => ({ type: 'chunk-verified', event: v })),
      {
        type: 'snapshot-sealed',
        event: {
          snapshotId,
          source: 'audit-test',
          host: 'test',
          root: '/source',
          parent: null,
          startedAt: new Date(T0).toISOString(),
          finishedAt: new Date(T0 + 60_000).toISOString(),
          chunkCount: verified.length,
          fileEventCount: events.length,
          files: lasts.filter((e) => e.kind === 'file').length,
          dirs: lasts.filter((e) => e.kind === 'dir').length,
          symlinks: lasts.filter((e) => e.kind === 'symlink').length,
          totalBytes: lasts.reduce((n, e) => n + e.size, 0),
          sentBytes: verified.reduce((n, v) => n + v.size, 0),
        },
      },
    ];
    const before = records.length;
    for (const [offset, item] of items.entries()) await archiver.apply(String(offset), T0 + offset, item);
    if (records.length !== before + 1) throw new Error(`snapshot ${name} did not commit`);
    return { record: snapshotCommitSchema.parse(records[before]), events };
  }
}

/** A copy of a repository's objects, to damage without touching the shared one. */
export function copyOf(store: MemoryObjectStore): MemoryObjectStore {
  const copy = new MemoryObjectStore();
  for (const [key, body] of store.objects) copy.objects.set(key, Buffer.from(body));
  return copy;
}

/**
 * An ObjectStore that counts requests: GETs per key, and requests of any kind in flight
 * (each held for a few turns of the event loop, so that they overlap).
 */
export class CountingStore implements ObjectStore {
  inFlight = 0;
  maxInFlight = 0;
  readonly gets = new Map<string, number>();
  readonly heads = new Map<string, number>();
  /** Set to make GETs of blocks fail as a network would. */
  failBlockGets: Error | undefined;

  constructor(readonly inner: ObjectStore) {}

  private async held<T>(work: () => Promise<T>): Promise<T> {
    this.inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      for (let i = 0; i < 3; i++) await new Promise((resolveLater) => setImmediate(resolveLater));
      return await work();
    } finally {
      this.inFlight -= 1;
    }
  }

  get(key: string, options?: GetOptions): Promise<Buffer> {
    this.gets.set(key, (this.gets.get(key) ?? 0) + 1);
    return this.held(() => {
      if (this.failBlockGets && key.startsWith('blocks/')) return Promise.reject(this.failBlockGets);
      return this.inner.get(key, options);
    });
  }

  head(key: string): Promise<ObjectInfo | undefined> {
    this.heads.set(key, (this.heads.get(key) ?? 0) + 1);
    return this.held(() => this.inner.head(key));
  }

  put(key: string, body: Buffer, options?: PutOptions): Promise<{ created: boolean }> {
    return this.inner.put(key, body, options);
  }

  delete(key: string): Promise<void> {
    return this.inner.delete(key);
  }

  list(prefix: string): AsyncIterable<ObjectInfo> {
    return this.inner.list(prefix);
  }

  keepLocked(info: ObjectInfo): Promise<void> {
    return this.inner.keepLocked(info);
  }
}
