import type { KafkaMessage, Message } from 'kafkajs';
import { parseChangeRecord, type ChangeRecord, type ParseOptions } from '../changes';
import type { ChunkingParams, GearTable } from '../chunking';
import { FailedAttempts } from '../bus/attempts';
import { describeError } from '../errors';
import {
  changeVersionSchema,
  deadLetter,
  encodeJson,
  type ChangeVersionEvent,
  type ChunkRef,
  type OutgoingMessage,
} from '../events';
import type { Logger } from '../log';
import { ChunkSender, type Slots } from '../pipeline';
import type { ObjectStore } from '../store';
import { ChangeBatch, PartitionOffsets, type BatchLimits, type SealedRange } from './batch';
import type { LedgerWatch } from './ledger-watch';
import { payloadChunks, type StagedObjects } from './payload';

/** Publishes events with back-pressure; flush() resolves once Kafka acknowledged all (EventPublisher). */
export interface IngestPublisher {
  publish(topic: string, message: Message): Promise<void>;
  flush(): Promise<void>;
}

/**
 * Chunk hashes whose blocks verification found corrupt: the next batch that meets one
 * sends its bytes with `repair` (the chunk-worker overwrites the block) instead of
 * trusting the existing block. Bounded; a forgotten hash costs one more failed batch.
 */
export class RepairList {
  private readonly hashes = new Set<string>();
  constructor(private readonly cap = 10_000) {}

  add(hash: string): void {
    this.hashes.add(hash);
    if (this.hashes.size > this.cap) this.hashes.delete(this.hashes.values().next().value as string);
  }

  /** True (once) when the chunk must be sent as a repair. */
  take(hash: string): boolean {
    return this.hashes.delete(hash);
  }

  get size(): number {
    return this.hashes.size;
  }
}

export interface PartitionIngestDeps {
  topic: string;
  partition: number;
  limits: BatchLimits;
  /** Fetched records held (bytes of keys and values) before the partition is paused. */
  maxQueuedBytes: number;
  parse: ParseOptions;
  chunking: ChunkingParams;
  gear: GearTable;
  topics: { chunks: string; stored: string; progress: string; deadLetters: string };
  store: ObjectStore;
  staged: StagedObjects;
  /** Chunks waiting on their existence check, shared by every partition. */
  slots: Slots;
  newPublisher(): IngestPublisher;
  /** A fresh batch id whose progress partition is the one of the batch key. */
  newBatchId(key: string): string;
  ledger: LedgerWatch;
  /** Commits the consumer group's offset of this partition (the next offset to read). */
  commit(offset: string): Promise<void>;
  /** Makes the consumer read this partition again from `offset`. */
  seek(offset: string): void;
  pause(): void;
  resume(): void;
  /** Routes the progress topic's failure events of a batch to its partition (owner undefined: stop). */
  track(snapshotId: string, owner: PartitionIngest | undefined): void;
  /** Publishes one message now, acks=all, outside any batch. */
  sendNow(topic: string, message: OutgoingMessage): Promise<void>;
  repairs: RepairList;
  /** Failures of one record with a non-retriable error before it is dead-lettered (bus.maxAttempts). */
  maxAttempts: number;
  now(): number;
  logger: Logger;
  /** First pause after a failure, doubled on each failure in a row up to 30 s. Default 1000. */
  retryDelayMs?: number;
}

export interface PartitionIngestStats {
  records: number;
  versions: number;
  deadLetters: number;
  skipped: number;
  batchesSealed: number;
  batchesCommitted: number;
  batchesFailed: number;
  chunksSent: number;
  chunksFound: number;
}

export function emptyIngestStats(): PartitionIngestStats {
  return {
    records: 0,
    versions: 0,
    deadLetters: 0,
    skipped: 0,
    batchesSealed: 0,
    batchesCommitted: 0,
    batchesFailed: 0,
    chunksSent: 0,
    chunksFound: 0,
  };
}

/** Thrown inside the loop when a reset made the work in hand obsolete. */
class Interrupted extends Error {}

interface OpenBatch {
  batch: ChangeBatch;
  sender: ChunkSender;
}

const MAX_RETRY_MS = 30_000;
const WAITING_LOG_MS = 60_000;

const messageBytes = (m: KafkaMessage): number => (m.value?.length ?? 0) + (m.key?.length ?? 0);

/**
 * The ingest of one change-topic partition while this consumer owns it: records in offset
 * order become versions of change batches, which are sealed, awaited in the ledger, and
 * only then acknowledged by committing the Kafka offset.
 *
 * - Each record is parsed (an invalid one is dead-lettered with the reason; the batch still
 *   covers its offset). An upsert's payload is chunked (a claim check is streamed from the
 *   store and checked); each chunk new to the batch gets a seq and goes through the same
 *   pipeline as a file's (existence check, then `chunk-stored` or `chunk`). Then the
 *   `change` event is published keyed by the batch key.
 * - A batch is sealed after limits.maxEvents records or limits.maxMs after its first record
 *   (or on a graceful stop), but only once the batch before it is in the ledger (see
 *   PartitionOffsets): so one batch waits for its ledger record while the next is built.
 * - The batch is done when the ledger covers its last offset; then the offset after it is
 *   committed. A failure of a batch (`snapshot-failed`, `chunk-corrupt` on the progress
 *   topic, or an error here) drops it and what was built after it, tells the archiver
 *   (`snapshot-failed`), and reads the partition again from the last offset the ledger
 *   covers, as a new batch (a corrupt chunk is then re-sent as a repair).
 *
 * Memory: the queue of fetched records (maxQueuedBytes, then the partition is paused),
 * one payload (a record value, or one chunk and a read buffer of a staged object), the
 * publisher's unacknowledged events, and the batch's seen-chunk set.
 */
export class PartitionIngest {
  private readonly offsets = new PartitionOffsets();
  private queue: KafkaMessage[] = [];
  private queuedBytes = 0;
  private paused = false;
  private publisher: IngestPublisher;
  private open: OpenBatch | undefined;
  /** The sealed batch's wait for the ledger, to stop it when the batch is dropped. */
  private sealedWait: { snapshotId: string; abort: AbortController } | undefined;
  private pendingSkip: bigint | undefined;
  private commits: Promise<void> = Promise.resolve();
  private cleanup: Promise<void> = Promise.resolve();
  private epoch = 0;
  private wakeup: (() => void) | undefined;
  private stopping = false;
  private closed = false;
  private finished = false;
  private failuresInRow = 0;
  private resumeAtMs = 0;
  private readonly attempts: FailedAttempts;
  readonly stats: PartitionIngestStats = emptyIngestStats();
  /** Resolves when the loop has ended (stopped or abandoned). */
  readonly done: Promise<void>;

  constructor(private readonly deps: PartitionIngestDeps) {
    this.publisher = deps.newPublisher();
    this.attempts = new FailedAttempts(deps.maxAttempts);
    this.done = this.run();
  }

  get topic(): string {
    return this.deps.topic;
  }

  get partition(): number {
    return this.deps.partition;
  }

  /** Hands over fetched records, in offset order; pauses the partition when too many wait. */
  offer(messages: KafkaMessage[]): void {
    if (this.stopping || this.closed) return;
    for (const message of messages) {
      if (!this.offsets.accept(BigInt(message.offset))) continue;
      this.queue.push(message);
      this.queuedBytes += messageBytes(message);
    }
    if (!this.paused && this.queuedBytes >= this.deps.maxQueuedBytes) {
      this.paused = true;
      this.deps.pause();
    }
    this.kick();
  }

  /**
   * The progress topic says a batch of this partition failed (snapshot-failed) or one of its
   * chunks is corrupt (then `corruptHash` is re-sent as a repair). No-op for a batch that is
   * done or not ours.
   */
  batchFailed(snapshotId: string, reason: string, corruptHash?: string): void {
    if (this.closed) return;
    const decision = this.offsets.fail(snapshotId);
    if (!decision) return;
    if (corruptHash !== undefined) this.deps.repairs.add(corruptHash);
    this.deps.logger.warn(
      { topic: this.topic, partition: this.partition, snapshotId, reason, from: decision.seekTo.toString() },
      'change batch failed; reading its records again',
    );
    this.reset(decision, `change batch failed: ${reason}; its records are read again as a new batch`);
  }

  /**
   * Stops gracefully: no new record is taken, the open batch is sealed, and the loop waits
   * (up to timeoutMs) until the ledger holds it and its offset is committed. What is not
   * committed by then is abandoned: its records are read again by whoever owns the
   * partition next.
   */
  async stop(timeoutMs: number): Promise<void> {
    if (this.closed) return this.done;
    this.stopping = true;
    this.kick();
    let timer: NodeJS.Timeout | undefined;
    const finished = await Promise.race([
      this.done.then(() => true),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs))),
    ]);
    clearTimeout(timer);
    if (!finished) {
      this.deps.logger.warn(
        { topic: this.topic, partition: this.partition, timeoutMs },
        'stopping: change batches not committed in time are abandoned (their records are read again on restart)',
      );
    }
    await this.abandon('the producer stopped');
  }

  /** Ends at once (partition revoked, group rejoined): batches not yet sealed are failed; no offset is committed. */
  async abandon(reason = 'the partition was reassigned'): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.epoch += 1;
      this.sealedWait?.abort.abort();
      const sealed = this.offsets.sealed;
      if (sealed) this.deps.track(sealed.snapshotId, undefined);
      this.dropOpen(reason);
      this.queue = [];
      this.queuedBytes = 0;
      this.kick();
    }
    await this.done;
    await this.cleanup;
  }

  private kick(): void {
    const wake = this.wakeup;
    this.wakeup = undefined;
    wake?.();
  }

  private waitKick(timeoutMs?: number): Promise<void> {
    return new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      this.wakeup = () => {
        clearTimeout(timer);
        resolve();
      };
      if (timeoutMs !== undefined) timer = setTimeout(() => this.kick(), Math.max(1, timeoutMs));
    });
  }

  private check(epoch: number): void {
    if (epoch !== this.epoch || this.closed) throw new Interrupted();
  }

  private async run(): Promise<void> {
    while (!this.closed && !this.finished) {
      const epoch = this.epoch;
      try {
        await this.step(epoch);
      } catch (err) {
        if (err instanceof Interrupted || epoch !== this.epoch || this.closed) continue;
        this.deps.logger.error(
          { topic: this.topic, partition: this.partition, err: describeError(err) },
          'change ingest failed; reading the partition again from the last committed batch',
        );
        const decision = this.offsets.failOpen();
        if (decision) this.reset(decision, `change ingest failed: ${describeError(err)}`);
      }
    }
  }

  private async step(epoch: number): Promise<void> {
    const now = this.deps.now();
    if (now < this.resumeAtMs && !this.stopping) {
      await this.waitKick(this.resumeAtMs - now);
      return;
    }
    const { limits } = this.deps;
    const open = this.open;
    // A chunk in flight failed (store or Kafka): fail now rather than at the seal.
    open?.sender.throwIfFailed();
    const canSeal = this.offsets.canSeal();
    if (open && canSeal && (open.batch.isFull(limits) || open.batch.isDue(now, limits) || this.stopping)) {
      await this.seal(open, epoch);
      return;
    }
    if (!this.stopping && this.queue.length > 0 && !(open && open.batch.isFull(limits))) {
      const message = this.queue.shift() as KafkaMessage;
      this.queuedBytes -= messageBytes(message);
      if (this.paused && this.queuedBytes <= this.deps.maxQueuedBytes / 2) {
        this.paused = false;
        this.deps.resume();
      }
      await this.process(message, epoch);
      return;
    }
    if (this.pendingSkip !== undefined && !open && canSeal) {
      const offset = this.pendingSkip;
      this.pendingSkip = undefined;
      this.commitOffset(offset);
      return;
    }
    if (this.stopping && !open && canSeal) {
      await this.commits;
      this.finished = true;
      return;
    }
    await this.waitKick(open && !open.batch.isDue(now, limits) ? open.batch.dueInMs(now, limits) + 1 : undefined);
  }

  private openBatch(): OpenBatch {
    if (this.open) return this.open;
    if (this.pendingSkip !== undefined) {
      // Records skipped before this batch: their offsets may be committed now, before it.
      this.commitOffset(this.pendingSkip);
      this.pendingSkip = undefined;
    }
    const { topic, partition } = this.deps;
    const key = `changes:${topic}:${partition}`;
    const batch = new ChangeBatch(this.deps.newBatchId(key), topic, partition, this.deps.now());
    const sender = new ChunkSender({
      store: this.deps.store,
      publisher: this.publisher,
      topics: this.deps.topics,
      slots: this.deps.slots,
      onDecided: (outcome, chunk) => {
        if (outcome === 'found') {
          this.stats.chunksFound += 1;
        } else {
          this.stats.chunksSent += 1;
          batch.sentBytes += chunk.data.length;
        }
      },
      onFailed: () => this.kick(),
    });
    this.offsets.opened(batch.snapshotId);
    this.deps.track(batch.snapshotId, this);
    this.open = { batch, sender };
    return this.open;
  }

  private async process(message: KafkaMessage, epoch: number): Promise<void> {
    const { topic, partition } = this.deps;
    const offset = BigInt(message.offset);
    const skipTo = this.offsets.skipCommitted(offset, this.deps.ledger.committedThrough(topic, partition));
    if (skipTo !== undefined) {
      // Read again after a crash between the ledger record and the offset commit: done already.
      this.stats.skipped += 1;
      this.pendingSkip = skipTo;
      return;
    }
    const open = this.openBatch();
    this.stats.records += 1;
    let record: ChangeRecord;
    try {
      record = parseChangeRecord(
        {
          topic,
          partition,
          offset: message.offset,
          timestamp: message.timestamp,
          key: message.key ?? null,
          value: message.value,
          headers: message.headers,
        },
        this.deps.parse,
      );
    } catch (err) {
      await this.deadLetterOrThrow(message, err, open, epoch);
      return;
    }
    let event: ChangeVersionEvent;
    try {
      event = await this.versionOf(record, message.offset, open, epoch);
    } catch (err) {
      await this.deadLetterOrThrow(message, err, open, epoch);
      return;
    }
    const valid = changeVersionSchema.safeParse(event);
    if (!valid.success) {
      const issue = valid.error.issues[0];
      await this.deadLetter(
        message,
        `the change cannot be stored: ${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}`,
        open,
        epoch,
      );
      return;
    }
    await this.publisher.publish(this.deps.topics.progress, encodeJson('change', event, open.batch.key));
    this.check(epoch);
    open.batch.cover(offset, 'version');
    this.stats.versions += 1;
    this.attempts.passed(this.deps.partition, message.offset);
  }

  /** The version event of a record; an upsert's payload goes through the chunk pipeline first. */
  private async versionOf(
    record: ChangeRecord,
    offset: string,
    open: OpenBatch,
    epoch: number,
  ): Promise<ChangeVersionEvent> {
    const base = {
      snapshotId: open.batch.snapshotId,
      offset,
      id: record.id,
      source: record.source,
      key: record.key,
      op: record.op,
      tsMs: record.tsMs,
      format: record.format,
    };
    if (record.op === 'delete') return { ...base, chunks: [] };
    const payload = record.payload;
    const chunks: ChunkRef[] = [];
    for await (const chunk of payloadChunks(payload, {
      staged: this.deps.staged,
      chunking: this.deps.chunking,
      gear: this.deps.gear,
    })) {
      this.check(epoch);
      chunks.push({ hash: chunk.hash, size: chunk.length });
      const seq = open.batch.claimChunk(chunk.hash);
      if (seq === undefined) continue;
      await open.sender.send({
        snapshotId: open.batch.snapshotId,
        source: record.source,
        seq,
        hash: chunk.hash,
        data: chunk.data,
        ...(this.deps.repairs.take(chunk.hash) ? { repair: true } : {}),
      });
    }
    return {
      ...base,
      contentType: payload.contentType,
      ...(payload.kind === 'inline' ? { encoding: payload.encoding } : {}),
      size: payload.size,
      sha256: payload.sha256,
      chunks,
    };
  }

  /**
   * Dead-letters a record whose handling failed, when FailedAttempts says so (an invalid
   * record at once, a non-retriable failure at its maxAttempts-th try); else rethrows, and
   * the partition is read again from the last committed batch after a growing pause.
   */
  private async deadLetterOrThrow(message: KafkaMessage, err: unknown, open: OpenBatch, epoch: number): Promise<void> {
    const reason = this.attempts.deadLetterReason(this.deps.partition, message.offset, err);
    if (reason === undefined) throw err;
    await this.deadLetter(message, reason, open, epoch);
  }

  private async deadLetter(message: KafkaMessage, reason: string, open: OpenBatch, epoch: number): Promise<void> {
    const { topic, partition } = this.deps;
    this.deps.logger.warn({ topic, partition, offset: message.offset, reason }, 'dead-lettering a change record');
    await this.publisher.publish(
      this.deps.topics.deadLetters,
      deadLetter(message, { topic, partition, offset: message.offset, service: 'producer' }, reason),
    );
    this.check(epoch);
    open.batch.cover(BigInt(message.offset), 'dead-letter');
    this.stats.deadLetters += 1;
  }

  /** Publishes the seal once everything of the batch is acknowledged, then awaits the ledger in the background. */
  private async seal(open: OpenBatch, epoch: number): Promise<void> {
    await open.sender.drain();
    this.check(epoch);
    await this.publisher.flush();
    this.check(epoch);
    const sealed = open.batch.sealedEvent(this.deps.now());
    await this.publisher.publish(this.deps.topics.progress, encodeJson('changes-sealed', sealed, open.batch.key));
    await this.publisher.flush();
    this.check(epoch);
    const range: SealedRange = {
      snapshotId: sealed.snapshotId,
      firstOffset: BigInt(sealed.firstOffset),
      lastOffset: BigInt(sealed.lastOffset),
    };
    this.offsets.sealedBatch(range);
    this.open = undefined;
    this.stats.batchesSealed += 1;
    this.deps.logger.debug(
      { ...sealed, deadLetters: open.batch.deadLetters },
      'change batch sealed; waiting for its ledger record',
    );
    this.awaitLedger(range, open.batch);
  }

  private awaitLedger(range: SealedRange, batch: ChangeBatch): void {
    const { topic, partition, ledger, logger } = this.deps;
    const abort = new AbortController();
    const wait = { snapshotId: range.snapshotId, abort };
    this.sealedWait = wait;
    const startedMs = this.deps.now();
    const waitingLog = setInterval(() => {
      logger.warn(
        { topic, partition, snapshotId: range.snapshotId, waitingMs: this.deps.now() - startedMs },
        'a change batch is still waiting for its ledger record: are the chunk-worker, verifier and archiver running?',
      );
    }, WAITING_LOG_MS);
    waitingLog.unref();
    void ledger
      .waitFor(topic, partition, range.lastOffset, abort.signal)
      .then((committed) => {
        if (!committed || this.closed) return;
        const commit = this.offsets.ledgerCommitted(range.snapshotId, range.lastOffset);
        if (commit === undefined) return;
        this.deps.track(range.snapshotId, undefined);
        this.stats.batchesCommitted += 1;
        this.failuresInRow = 0;
        logger.info(
          {
            topic,
            partition,
            snapshotId: range.snapshotId,
            fromOffset: range.firstOffset.toString(),
            toOffset: range.lastOffset.toString(),
            versions: batch.versions,
            deadLetters: batch.deadLetters,
            chunks: batch.chunkCount,
            latencyMs: this.deps.now() - batch.openedAtMs,
          },
          'change batch committed',
        );
        this.commitOffset(commit);
      })
      .finally(() => {
        clearInterval(waitingLog);
        if (this.sealedWait === wait) this.sealedWait = undefined;
        this.kick();
      });
  }

  /** Commits Kafka offsets one after the other, in the order they were reached. */
  private commitOffset(offset: bigint): void {
    this.commits = this.commits.then(async () => {
      if (this.closed) return;
      try {
        await this.deps.commit(offset.toString());
      } catch (err) {
        // The ledger holds the records: at worst they are read again and skipped.
        this.deps.logger.warn(
          { topic: this.topic, partition: this.partition, offset: offset.toString(), err: describeError(err) },
          'could not commit the offset of a committed change batch',
        );
      }
    });
  }

  /** Drops the open batch: tells the archiver (snapshot-failed) once what was published of it is out. */
  private dropOpen(reason: string): void {
    const open = this.open;
    this.open = undefined;
    if (open) this.failBatches([open.batch.snapshotId], reason, open.sender);
  }

  private failBatches(ids: string[], reason: string, sender?: ChunkSender): void {
    if (ids.length === 0) return;
    this.stats.batchesFailed += ids.length;
    for (const id of ids) this.deps.track(id, undefined);
    const publisher = this.publisher;
    this.cleanup = this.cleanup.then(async () => {
      await sender?.drain().catch(() => undefined);
      await publisher.flush().catch(() => undefined);
      for (const snapshotId of ids) {
        await this.deps
          .sendNow(this.deps.topics.progress, encodeJson('snapshot-failed', { snapshotId, reason }, snapshotId))
          .catch((err: unknown) =>
            this.deps.logger.warn({ snapshotId, err: describeError(err) }, 'could not publish snapshot-failed'),
          );
      }
    });
  }

  /** After a failure: drops the batches named, reads again from `seekTo`, after a pause that grows with repeated failures. */
  private reset(decision: { seekTo: bigint; dropped: string[] }, reason: string): void {
    this.epoch += 1;
    const open = this.open;
    this.open = undefined;
    if (this.sealedWait && decision.dropped.includes(this.sealedWait.snapshotId)) this.sealedWait.abort.abort();
    this.failBatches(decision.dropped, reason, open?.sender);
    // A new publisher: the old one may have failed for good, and flushes in the background.
    this.publisher = this.deps.newPublisher();
    this.queue = [];
    this.queuedBytes = 0;
    this.pendingSkip = undefined;
    this.deps.seek(decision.seekTo.toString());
    if (this.paused) {
      this.paused = false;
      this.deps.resume();
    }
    this.failuresInRow += 1;
    const base = this.deps.retryDelayMs ?? 1000;
    this.resumeAtMs = this.deps.now() + Math.min(MAX_RETRY_MS, base * 2 ** Math.min(10, this.failuresInRow - 1));
    this.kick();
  }
}
