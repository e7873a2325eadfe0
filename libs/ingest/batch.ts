import type { ChangesSealedEvent } from '../events';

/**
 * The key of every event of a change batch on the progress topic: one archiver handles all
 * batches of one change-topic partition, in order (libs/events changeVersionSchema).
 */
export function batchKey(topic: string, partition: number): string {
  return `changes:${topic}:${partition}`;
}

/** Chunks given a seq in one batch, remembered to give none twice; a miss only costs a duplicate event. */
export const SEEN_CAP = 100_000;

export interface BatchLimits {
  /** Records (versions and dead letters) after which the batch is sealed. */
  maxEvents: number;
  /** Milliseconds from its first record after which the batch is sealed. */
  maxMs: number;
}

/**
 * One change batch while it is built: the records of one change-topic partition from
 * firstOffset to lastOffset, in offset order. Pure bookkeeping, no I/O: which offsets it
 * covers (dead-lettered ones too, so that the ledger record covers them and the Kafka
 * offset can move past them), the versions published, and the seq of each new chunk
 * (a chunk already given a seq in this batch gets none: the archiver waits for it once).
 */
export class ChangeBatch {
  private first: bigint | undefined;
  private last: bigint | undefined;
  private readonly seen = new Set<string>();
  /** Records covered: versions + dead letters. */
  records = 0;
  versions = 0;
  deadLetters = 0;
  /** Seqs issued: 0 … chunkCount-1. */
  chunkCount = 0;
  /** Chunk bytes sent through Kafka (not found in the store). */
  sentBytes = 0;

  constructor(
    readonly snapshotId: string,
    readonly topic: string,
    readonly partition: number,
    /** When the first record was taken, epoch ms. */
    readonly openedAtMs: number,
  ) {}

  get key(): string {
    return batchKey(this.topic, this.partition);
  }

  get firstOffset(): bigint | undefined {
    return this.first;
  }

  get lastOffset(): bigint | undefined {
    return this.last;
  }

  /**
   * Takes the record at `offset` into the batch: offsets must grow (gaps are fine: a
   * compacted topic or transaction markers leave some).
   */
  cover(offset: bigint, kind: 'version' | 'dead-letter'): void {
    if (this.last !== undefined && offset <= this.last) {
      throw new RangeError(`change batch ${this.snapshotId}: offset ${offset} after ${this.last}`);
    }
    this.first ??= offset;
    this.last = offset;
    this.records += 1;
    if (kind === 'version') this.versions += 1;
    else this.deadLetters += 1;
  }

  /** The seq for a chunk new to this batch; undefined when the batch has given it one already. */
  claimChunk(hash: string): number | undefined {
    if (this.seen.has(hash)) return undefined;
    if (this.seen.size < SEEN_CAP) this.seen.add(hash);
    return this.chunkCount++;
  }

  isFull(limits: BatchLimits): boolean {
    return this.records >= limits.maxEvents;
  }

  /** True once maxMs have passed since the first record (a batch with no record is never due). */
  isDue(nowMs: number, limits: BatchLimits): boolean {
    return this.records > 0 && nowMs - this.openedAtMs >= limits.maxMs;
  }

  /** Milliseconds until the batch is due (0 when it is). */
  dueInMs(nowMs: number, limits: BatchLimits): number {
    return Math.max(0, this.openedAtMs + limits.maxMs - nowMs);
  }

  /** The event that seals the batch: the archiver then waits for versionCount versions and chunkCount seqs. */
  sealedEvent(finishedAtMs: number): ChangesSealedEvent {
    if (this.first === undefined || this.last === undefined) {
      throw new RangeError(`change batch ${this.snapshotId} covers no record and cannot be sealed`);
    }
    return {
      snapshotId: this.snapshotId,
      topic: this.topic,
      partition: this.partition,
      firstOffset: this.first.toString(),
      lastOffset: this.last.toString(),
      chunkCount: this.chunkCount,
      versionCount: this.versions,
      sentBytes: this.sentBytes,
      startedAt: new Date(this.openedAtMs).toISOString(),
      finishedAt: new Date(Math.max(finishedAtMs, this.openedAtMs)).toISOString(),
    };
  }
}

/** A sealed batch as the offset bookkeeping sees it. */
export interface SealedRange {
  snapshotId: string;
  firstOffset: bigint;
  lastOffset: bigint;
}

/**
 * The offsets of one change-topic partition as one consumer sees them between two
 * rebalances: what it has taken, which batch is sealed and awaits its ledger record, and
 * which Kafka offset it may commit. Pure; the partition's ingest loop drives it.
 *
 * One sealed batch at a time: the archiver commits each offset of a change-topic
 * partition once, by skipping offsets at or below the highest one already committed, so
 * a batch committed after a later one would lose its versions. The next batch is built
 * (chunked, its versions published) while the sealed one waits, and sealed only once the
 * ledger covers the one before. Hence every batch starts right after an offset the
 * ledger covers, and Kafka offsets are committed in order, each after the ledger record
 * that covers it.
 */
export class PartitionOffsets {
  /** Next offset to read; earlier ones are taken or skipped. */
  private next: bigint | undefined;
  /** Where reading restarts after a failure: everything before it is in the ledger. */
  private safe: bigint | undefined;
  private waiting: SealedRange | undefined;
  private openId: string | undefined;

  /** The offset a reset restarts from (everything before is in the ledger), once known. */
  get position(): bigint | undefined {
    return this.safe;
  }

  get sealed(): SealedRange | undefined {
    return this.waiting;
  }

  get open(): string | undefined {
    return this.openId;
  }

  /**
   * Whether to take the record at `offset`: records come in offset order; one at or
   * before an offset already taken (a fetch that raced a seek) is dropped. The first one
   * fixes the position: the consumer group starts each partition at its committed offset.
   */
  accept(offset: bigint): boolean {
    if (this.next !== undefined && offset < this.next) return false;
    this.safe ??= offset;
    this.next = offset + 1n;
    return true;
  }

  /**
   * A record the ledger already covers (through: the highest offset of this partition a
   * ledger record commits), taken while no batch is open: nothing to publish. Returns the
   * offset the consumer may commit now.
   */
  skipCommitted(offset: bigint, through: bigint | undefined): bigint | undefined {
    if (this.openId !== undefined || this.waiting !== undefined) return undefined;
    if (through === undefined || offset > through) return undefined;
    this.safe = offset + 1n;
    return this.safe;
  }

  opened(snapshotId: string): void {
    if (this.openId !== undefined) throw new Error(`batch ${this.openId} is open already`);
    this.openId = snapshotId;
  }

  /** True when the open batch may be sealed: no sealed batch awaits the ledger. */
  canSeal(): boolean {
    return this.waiting === undefined;
  }

  sealedBatch(range: SealedRange): void {
    if (this.waiting !== undefined) throw new Error(`batch ${this.waiting.snapshotId} is still sealed`);
    if (this.openId !== range.snapshotId) throw new Error(`batch ${range.snapshotId} is not the open one`);
    this.openId = undefined;
    this.waiting = range;
  }

  /**
   * The ledger covers this partition through `through`. Returns the Kafka offset to
   * commit when that completes the sealed batch (its last offset + 1), else undefined.
   */
  ledgerCommitted(snapshotId: string, through: bigint): bigint | undefined {
    const w = this.waiting;
    if (w === undefined || w.snapshotId !== snapshotId || through < w.lastOffset) return undefined;
    this.waiting = undefined;
    this.safe = w.lastOffset + 1n;
    return this.safe;
  }

  /**
   * A batch failed (or is abandoned): returns the offset to read again from and the
   * batches dropped with it, or undefined when the batch is not one of ours any more.
   * The sealed batch failing drops the open one too, which was built after it; the open
   * batch failing leaves the sealed one waiting.
   */
  fail(snapshotId: string): { seekTo: bigint; dropped: string[] } | undefined {
    if (this.waiting?.snapshotId === snapshotId) {
      const dropped = [snapshotId, ...(this.openId !== undefined ? [this.openId] : [])];
      this.waiting = undefined;
      this.openId = undefined;
      return this.restartAt(this.safe, dropped);
    }
    if (this.openId === snapshotId) {
      this.openId = undefined;
      const from = this.waiting ? this.waiting.lastOffset + 1n : this.safe;
      return this.restartAt(from, [snapshotId]);
    }
    return undefined;
  }

  /** Processing failed outside any batch decision: drop the open batch and read again after the sealed one. */
  failOpen(): { seekTo: bigint; dropped: string[] } | undefined {
    if (this.openId !== undefined) return this.fail(this.openId);
    const from = this.waiting ? this.waiting.lastOffset + 1n : this.safe;
    return this.restartAt(from, []);
  }

  private restartAt(from: bigint | undefined, dropped: string[]): { seekTo: bigint; dropped: string[] } | undefined {
    if (from === undefined) return undefined;
    this.next = from;
    return { seekTo: from, dropped };
  }
}
