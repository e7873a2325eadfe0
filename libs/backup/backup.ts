import { createHash, randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import type { Kafka, Producer } from 'kafkajs';
import { EventPublisher, readTopic, type TopicReader } from '../bus';
import { chunkStream, type ChunkingParams, type GearTable } from '../chunking';
import type { BackstreamConfig } from '../config';
import { BackstreamError, withTimeout } from '../errors';
import {
  FILE_PART_MAX_CHUNKS,
  decodeJson,
  encodeChunk,
  encodeJson,
  topicName,
  type ChunkRef,
  type FileEvent,
  type SnapshotCommitRecord,
} from '../events';
import { latestSnapshot, type TrustedLedger } from '../ledger';
import type { Logger } from '../log';
import { fileEntries, metadataDecoder, readManifest } from '../manifest';
import { ChunkSender } from '../pipeline';
import type { ObjectStore } from '../store';
import { ParentCursor, type ParentFile } from './parent-cursor';
import { SourceChangedError, openSourceFile, skipReasonOf, type SeenIdentity } from './source-open';
import { walkTree, type SkippedEntry, type TreeEntry } from './walk';

export interface BackupOptions {
  root: string;
  source: string;
  host?: string;
}

export interface BackupDeps {
  kafka: Kafka;
  /** Connected idempotent producer. */
  producer: Producer;
  config: BackstreamConfig;
  store: ObjectStore;
  /** The repository's gear table: cut points are keyed per repository when it is encrypted. */
  gear: GearTable;
  /** The ledger, as far as the ledger key signed it: the parent and the commit come from it. */
  ledger: TrustedLedger;
  logger: Logger;
  onProgress?(progress: BackupProgress): void;
}

export interface BackupProgress {
  phase: 'scanning' | 'committing';
  files: number;
  dirs: number;
  symlinks: number;
  /** Bytes of all regular files seen so far (unchanged ones included). */
  totalBytes: number;
  /** Bytes read from files that changed since the parent snapshot. */
  readBytes: number;
  /** Chunk bytes sent through Kafka. */
  sentBytes: number;
  chunksSent: number;
  chunksFound: number;
  filesUnchanged: number;
  elapsedMs: number;
}

export interface BackupResult extends BackupProgress {
  snapshotId: string;
  parent: string | null;
  record: SnapshotCommitRecord;
  /** Bytes handed to Kafka per topic (key + value + headers). */
  producedBytes: Record<string, number>;
  skipped: SkippedEntry[];
  repairs: number;
}

export class BackupFailedError extends BackstreamError {
  constructor(message: string, options: { retriable: boolean; cause?: unknown } = { retriable: false }) {
    super('SNAPSHOT_FAILED', message, options);
  }
}

/** Where each seq'd chunk came from, to re-read it if verification finds its block corrupt. */
class RepairIndex {
  /** Each file with the identity the walk saw: a repair re-opens that inode or nothing. */
  private readonly files: Array<{ absPath: string; seen: SeenIdentity }> = [];
  private readonly fileOf: number[] = [];
  private readonly offsets: number[] = [];
  private readonly lengths: number[] = [];
  private readonly hashes: string[] = [];

  add(seq: number, entry: TreeEntry, offset: number, length: number, hash: string): void {
    if (this.files[this.files.length - 1]?.absPath !== entry.absPath) {
      this.files.push({ absPath: entry.absPath, seen: { dev: entry.stat.dev, ino: entry.stat.ino } });
    }
    this.fileOf[seq] = this.files.length - 1;
    this.offsets[seq] = offset;
    this.lengths[seq] = length;
    this.hashes[seq] = hash;
  }

  get(seq: number): { absPath: string; seen: SeenIdentity; offset: number; length: number; hash: string } | undefined {
    const f = this.fileOf[seq];
    if (f === undefined) return undefined;
    const file = this.files[f] as { absPath: string; seen: SeenIdentity };
    return {
      absPath: file.absPath,
      seen: file.seen,
      offset: this.offsets[seq] as number,
      length: this.lengths[seq] as number,
      hash: this.hashes[seq] as string,
    };
  }
}

/** Chunks already given a seq in this snapshot; capped, since a miss only costs a duplicate event. */
const SEEN_CAP = 1_000_000;

/**
 * The producer's side of a backup: walk the tree, cut changed files into chunks, publish
 * what the pipeline needs, seal the snapshot, and wait for its commit record.
 *
 * - A file whose size, mtime and inode match the parent snapshot reuses its chunk list
 *   without being read.
 * - A chunk already in the parent's version of the file is not sent; one whose block is
 *   already in the store (a resumed or deduplicated backup) is announced as stored and
 *   only re-verified; only the others travel through Kafka with their bytes.
 * - Every chunk announced gets a seq; the archiver commits once seqs 0…n-1 are verified.
 */
export async function runBackup(options: BackupOptions, deps: BackupDeps): Promise<BackupResult> {
  const { kafka, producer, config, store, logger } = deps;
  const started = Date.now();
  const root = resolve(options.root);
  const snapshotId = randomBytes(16).toString('hex');
  const topics = {
    chunks: topicName(config, 'chunks'),
    stored: topicName(config, 'stored'),
    progress: topicName(config, 'progress'),
  };
  const params: ChunkingParams = config.chunking;
  const publisher = new EventPublisher(producer, {
    batchBytes: config.producer.batchBytes,
    maxInFlightBytes: config.producer.maxInFlightBytes,
  });

  const parentEntry = await latestSnapshot(deps.ledger.topic(), options.source);
  const decoder = metadataDecoder(config.chunking.maxSize);
  let parentCursor = new ParentCursor(undefined);
  if (parentEntry) {
    const manifest = await readManifest(store, decoder, parentEntry.record.manifest);
    parentCursor = new ParentCursor(fileEntries(store, decoder, manifest)[Symbol.asyncIterator]());
  }

  const progress: BackupProgress = {
    phase: 'scanning',
    files: 0,
    dirs: 0,
    symlinks: 0,
    totalBytes: 0,
    readBytes: 0,
    sentBytes: 0,
    chunksSent: 0,
    chunksFound: 0,
    filesUnchanged: 0,
    elapsedMs: 0,
  };
  const report = (): void => {
    progress.elapsedMs = Date.now() - started;
    deps.onProgress?.({ ...progress });
  };
  const ticker = setInterval(report, 1000);
  const skipped: SkippedEntry[] = [];
  const repairIndex = new RepairIndex();
  const seen = new Set<string>();
  let seq = 0;
  let fileEventCount = 0;
  let repairs = 0;

  // Follow the ledger and the progress topic from their current ends before publishing
  // anything, so neither the commit record nor a failure can be missed.
  let settle!: { resolve: (r: SnapshotCommitRecord) => void; reject: (e: unknown) => void };
  const outcome = new Promise<SnapshotCommitRecord>((res, rej) => (settle = { resolve: res, reject: rej }));
  outcome.catch(() => undefined);
  const readers: TopicReader[] = [];
  const repairChunk = async (corruptSeq: number, reason: string): Promise<void> => {
    const where = repairIndex.get(corruptSeq);
    if (!where)
      throw new BackupFailedError(
        `chunk seq ${corruptSeq} is corrupt in the store and its source is unknown: ${reason}`,
      );
    let fh;
    try {
      fh = await openSourceFile(where.absPath, where.seen);
    } catch (err) {
      // A source swapped since the walk (a symlink, a FIFO, another file) is never read from.
      if (!(err instanceof SourceChangedError)) throw err;
      throw new BackupFailedError(`chunk ${where.hash} is corrupt in the store and ${err.message}`, {
        cause: err,
        retriable: false,
      });
    }
    try {
      const data = Buffer.alloc(where.length);
      await fh.read(data, 0, where.length, where.offset);
      if (createHash('sha256').update(data).digest('hex') !== where.hash) {
        throw new BackupFailedError(
          `chunk ${where.hash} is corrupt in the store and ${where.absPath} changed since it was read`,
        );
      }
      logger.warn({ snapshotId, seq: corruptSeq, reason }, 're-uploading a chunk found corrupt');
      repairs += 1;
      await producer.send({
        topic: topics.chunks,
        acks: -1,
        messages: [
          encodeChunk({
            meta: {
              snapshotId,
              source: options.source,
              seq: corruptSeq,
              hash: where.hash,
              size: where.length,
              repair: true,
            },
            data,
          }),
        ],
      });
    } finally {
      await fh.close();
    }
  };
  readers.push(
    // Only a signed record commits the snapshot: an unsigned one with its id is a forgery.
    await deps.ledger.follow('end', (item) => {
      if (item.kind !== 'record' || item.chained.type !== 'snapshot-commit') return;
      if (item.chained.record.snapshotId === snapshotId) settle.resolve(item.chained.record);
    }),
    await readTopic(kafka, {
      topic: topics.progress,
      fromEnd: true,
      stopAtEnd: false,
      onMessage: async (_p, message) => {
        let item;
        try {
          item = decodeJson(message, ['snapshot-failed', 'chunk-corrupt']);
        } catch {
          return;
        }
        if (item.event.snapshotId !== snapshotId) return;
        if (item.type === 'snapshot-failed') {
          settle.reject(new BackupFailedError(`snapshot ${snapshotId} failed: ${item.event.reason}`));
        } else {
          await repairChunk(item.event.seq, item.event.reason).catch((err: unknown) => settle.reject(err));
        }
      },
    }),
  );

  const publishFile = async (
    entry: TreeEntry,
    chunks: ChunkRef[],
    contentHash: string | undefined,
    size: number,
    last: boolean,
    part: number,
  ): Promise<void> => {
    const event: FileEvent = {
      snapshotId,
      path: entry.path,
      kind: entry.kind,
      mode: entry.stat.mode & 0o7777,
      mtimeMs: entry.stat.mtimeMs,
      size,
      ino: entry.stat.ino,
      part,
      last,
      chunks,
      ...(entry.target !== undefined ? { target: entry.target } : {}),
      ...(contentHash !== undefined ? { contentHash } : {}),
    };
    await publisher.publish(topics.progress, encodeJson('file', event, snapshotId));
    fileEventCount += 1;
  };

  const publishFileParts = async (
    entry: TreeEntry,
    chunks: ChunkRef[],
    contentHash: string | undefined,
    size: number,
  ): Promise<void> => {
    let part = 0;
    for (let i = FILE_PART_MAX_CHUNKS; i < chunks.length; i += FILE_PART_MAX_CHUNKS) {
      await publishFile(entry, chunks.slice(i - FILE_PART_MAX_CHUNKS, i), undefined, size, false, part++);
    }
    const tailStart = Math.floor(Math.max(0, chunks.length - 1) / FILE_PART_MAX_CHUNKS) * FILE_PART_MAX_CHUNKS;
    await publishFile(entry, chunks.slice(tailStart), contentHash, size, true, part);
  };

  /** Publishes each chunk the backup has not seen: as stored if its block exists, else with its bytes. */
  const chunkSender = new ChunkSender({
    store,
    publisher,
    topics: { chunks: topics.chunks, stored: topics.stored },
    slots: config.store.concurrency,
    onDecided: (outcome, chunk) => {
      if (outcome === 'found') {
        progress.chunksFound += 1;
      } else {
        progress.chunksSent += 1;
        progress.sentBytes += chunk.data.length;
      }
    },
  });

  const backupFile = async (entry: TreeEntry, parent: ParentFile | undefined): Promise<void> => {
    const parentChunks = new Set(parent?.chunks.map((c) => c.hash));
    const fileHash = createHash('sha256');
    const pendingRefs: ChunkRef[] = [];
    let part = 0;
    let size = 0;
    const fh = await openSourceFile(entry.absPath, entry.stat);
    const stream = fh.createReadStream({ highWaterMark: 1024 * 1024, autoClose: false });
    try {
      for await (const chunk of chunkStream(stream as AsyncIterable<Buffer>, params, { gear: deps.gear })) {
        fileHash.update(chunk.data);
        size += chunk.length;
        progress.readBytes += chunk.length;
        pendingRefs.push({ hash: chunk.hash, size: chunk.length });
        if (!parentChunks.has(chunk.hash) && !seen.has(chunk.hash)) {
          if (seen.size < SEEN_CAP) seen.add(chunk.hash);
          const chunkSeq = seq++;
          repairIndex.add(chunkSeq, entry, chunk.offset, chunk.length, chunk.hash);
          // Several existence checks stay in flight while reading goes on (each holds its
          // chunk, so the bound is store.concurrency chunks).
          await chunkSender.send({
            snapshotId,
            source: options.source,
            seq: chunkSeq,
            hash: chunk.hash,
            data: chunk.data,
          });
        }
        if (pendingRefs.length === FILE_PART_MAX_CHUNKS) {
          await publishFile(entry, pendingRefs.splice(0), undefined, entry.stat.size, false, part++);
        }
      }
    } finally {
      stream.destroy();
      await fh.close();
    }
    if (size !== entry.stat.size) {
      logger.warn({ path: entry.path, statSize: entry.stat.size, readSize: size }, 'file changed while it was read');
    }
    await publishFile(entry, pendingRefs, fileHash.digest('hex'), size, true, part);
    progress.totalBytes += size;
  };

  try {
    for await (const entry of walkTree(root, (skip) => {
      skipped.push(skip);
      logger.warn(skip, 'skipped');
    })) {
      const parent = await parentCursor.find(entry.path);
      if (entry.kind === 'dir') {
        progress.dirs += 1;
        await publishFile(entry, [], undefined, 0, true, 0);
      } else if (entry.kind === 'symlink') {
        progress.symlinks += 1;
        await publishFile(entry, [], undefined, 0, true, 0);
      } else {
        progress.files += 1;
        const p = parent?.entry;
        const unchanged =
          p !== undefined &&
          p.kind === 'file' &&
          p.size === entry.stat.size &&
          p.mtimeMs === entry.stat.mtimeMs &&
          p.ino === entry.stat.ino &&
          parent?.contentHash !== undefined;
        if (unchanged && parent) {
          progress.filesUnchanged += 1;
          progress.totalBytes += entry.stat.size;
          await publishFileParts(entry, parent.chunks, parent.contentHash, entry.stat.size);
        } else {
          try {
            await backupFile(entry, parent);
          } catch (err) {
            // Only the file system's refusals (EACCES, ENOENT, EIO…) skip a file; anything else
            // (the store or Kafka failing for a chunk in flight included) fails the backup.
            // A file swapped between the walk and the open is skipped too, saying how.
            chunkSender.throwIfFailed();
            const reason = skipReasonOf(err);
            if (reason === undefined) throw err;
            const skip = { path: entry.path, reason };
            skipped.push(skip);
            logger.warn(skip, 'skipped');
            progress.files -= 1;
          }
        }
      }
    }
    await chunkSender.drain();
    await publisher.flush();
    const finishedAt = new Date().toISOString();
    await publisher.publish(
      topics.progress,
      encodeJson(
        'snapshot-sealed',
        {
          snapshotId,
          source: options.source,
          host: options.host ?? hostname(),
          root,
          parent: parentEntry?.record.snapshotId ?? null,
          startedAt: new Date(started).toISOString(),
          finishedAt,
          chunkCount: seq,
          fileEventCount,
          files: progress.files,
          dirs: progress.dirs,
          symlinks: progress.symlinks,
          totalBytes: progress.totalBytes,
          sentBytes: progress.sentBytes,
        },
        snapshotId,
      ),
    );
    await publisher.flush();
    progress.phase = 'committing';
    report();
    const record = await withTimeout(
      outcome,
      config.producer.commitTimeoutMs,
      () =>
        new BackupFailedError(
          `snapshot ${snapshotId} was not committed within ${config.producer.commitTimeoutMs} ms: are the chunk-worker, verifier and archiver running?`,
          { retriable: true },
        ),
    );
    progress.elapsedMs = Date.now() - started;
    return {
      ...progress,
      snapshotId,
      parent: parentEntry?.record.snapshotId ?? null,
      record,
      producedBytes: Object.fromEntries(
        [...publisher.counters].map(([t, c]) => [t.slice(config.kafka.topicPrefix.length), c.bytes]),
      ),
      skipped,
      repairs,
    };
  } finally {
    clearInterval(ticker);
    await Promise.all(readers.map((r) => r.stop()));
  }
}
