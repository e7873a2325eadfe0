import type { BlockEncoder } from '../blocks';
import {
  snapshotSummary,
  type ChangesCommitRecord,
  type ChangesSealedEvent,
  type ObjectRef,
  type ProgressEvent,
  type SnapshotCommitRecord,
  type SnapshotFailedEvent,
  type SnapshotSealedEvent,
} from '../events';
import { InvalidEventError } from '../errors';
import type { Logger } from '../log';
import { buildChangeBatchManifest, buildManifest, writeManifest, writeSegment } from '../manifest';
import type { ObjectStore } from '../store';
import { Bitmap, MAX_SEQ } from './bitmap';

/** How often one chunk may be found corrupt before its snapshot fails. */
export const MAX_CORRUPT_REPORTS = 3;

export interface LedgerPort {
  /** True when the ledger already holds a commit record for the snapshot (or change batch). */
  isCommitted(snapshotId: string): boolean;
  append(record: SnapshotCommitRecord): Promise<void>;
  /** The last offset of a change topic partition that a change-batch record committed. */
  changesCommittedThrough(topic: string, partition: number): bigint | undefined;
  appendChanges(record: ChangesCommitRecord): Promise<void>;
}

export interface ArchiverDeps {
  store: ObjectStore;
  encoder: BlockEncoder;
  ledger: LedgerPort;
  publishFailed(event: SnapshotFailedEvent): Promise<void>;
  now(): Date;
  segmentBytes: number;
  /** Fails a snapshot with no event for this long, by the receive times passed to apply. */
  abandonAfterMs: number;
  maxPendingSnapshots: number;
  /**
   * The most chunks a snapshot may have: bounds its seqs before its seal says how many.
   * Default: every seq the event schemas allow (2^32).
   */
  maxSnapshotChunks?: number;
  logger: Logger;
}

type Sealed = { kind: 'files'; event: SnapshotSealedEvent } | { kind: 'changes'; event: ChangesSealedEvent };

/** What a change batch's commit record needs of each version: bounded by the batch size. */
interface VersionFacts {
  offset: bigint;
  tsMs: number;
  source: string;
}

interface PendingSnapshot {
  id: string;
  firstOffset: bigint;
  lastEventMs: number;
  sealed?: Sealed;
  /** File or version events received: the sealed event says how many to expect. */
  entryEvents: number;
  versions: VersionFacts[];
  entries: number;
  lines: string[];
  lineBytes: number;
  segments: ObjectRef[];
  verified: Bitmap;
  corruptReports: Map<number, number>;
}

/**
 * The archiver's state for one partition of the progress topic: a pure function of the
 * events read since the committed offset. The committed offset is held at the first event
 * of the oldest snapshot still pending, so after any crash the partition is replayed from
 * there and this state rebuilt; every effect on the way (segments and manifests under
 * content addresses, the ledger append guarded by isCommitted) is idempotent.
 */
export class ArchiverPartition {
  private readonly pending = new Map<string, PendingSnapshot>();
  /** Snapshots committed or failed while this state lived; their late events are ignored. */
  private readonly closed = new Set<string>();
  private nextOffset: bigint | undefined;
  readonly committed: string[] = [];
  private readonly maxSnapshotChunks: number;

  constructor(
    readonly partition: number,
    private readonly deps: ArchiverDeps,
  ) {
    this.maxSnapshotChunks = deps.maxSnapshotChunks ?? MAX_SEQ + 1;
  }

  /** The offset the consumer group may commit: nothing before it is needed again. */
  commitOffset(): string | undefined {
    let min: bigint | undefined;
    for (const p of this.pending.values()) if (min === undefined || p.firstOffset < min) min = p.firstOffset;
    return (min ?? this.nextOffset)?.toString();
  }

  pendingCount(): number {
    return this.pending.size;
  }

  /**
   * Applies one event. `receivedMs` is the archiver's own clock when the event was read,
   * never the record's timestamp, which its producer sets: a timestamp far in the future
   * must not age every other snapshot into abandonment. Throws InvalidEventError (the
   * caller dead-letters the event) for a chunk seq outside the snapshot's range, before
   * anything of the snapshot is touched.
   */
  async apply(offset: string, receivedMs: number, item: ProgressEvent): Promise<void> {
    this.nextOffset = BigInt(offset) + 1n;
    await this.abandonStale(receivedMs);
    const id = item.event.snapshotId;
    if (this.closed.has(id)) return;
    if (item.type === 'chunk-verified' || item.type === 'chunk-corrupt') {
      this.checkSeq(id, item.event.seq, this.pending.get(id));
    }
    if (item.type === 'snapshot-failed') {
      this.close(id);
      return;
    }
    let snap = this.pending.get(id);
    if (!snap) {
      // A replay starts at the oldest pending snapshot's first event, so it also meets the
      // tail of snapshots that committed meanwhile: they must not become pending again.
      if (this.deps.ledger.isCommitted(id)) {
        this.close(id);
        return;
      }
      if (this.pending.size >= this.deps.maxPendingSnapshots) {
        await this.fail(
          id,
          `the archiver already tracks ${this.deps.maxPendingSnapshots} snapshots on partition ${this.partition}`,
        );
        return;
      }
      snap = {
        id,
        firstOffset: BigInt(offset),
        lastEventMs: receivedMs,
        entryEvents: 0,
        versions: [],
        entries: 0,
        lines: [],
        lineBytes: 0,
        segments: [],
        verified: new Bitmap(),
        corruptReports: new Map(),
      };
      this.pending.set(id, snap);
    }
    snap.lastEventMs = Math.max(snap.lastEventMs, receivedMs);
    switch (item.type) {
      case 'file':
      case 'change': {
        const line = JSON.stringify(item.event);
        snap.lines.push(line);
        snap.lineBytes += Buffer.byteLength(line) + 1;
        snap.entryEvents += 1;
        snap.entries += 1;
        if (item.type === 'change')
          snap.versions.push({ offset: BigInt(item.event.offset), tsMs: item.event.tsMs, source: item.event.source });
        if (snap.lineBytes >= this.deps.segmentBytes) await this.flushSegment(snap);
        break;
      }
      case 'snapshot-sealed':
      case 'changes-sealed':
        if (item.event.chunkCount > this.maxSnapshotChunks) {
          await this.fail(
            id,
            `sealed with ${item.event.chunkCount} chunks, more than archiver.maxSnapshotChunks (${this.maxSnapshotChunks})`,
          );
          return;
        }
        if (item.type === 'snapshot-sealed') snap.sealed ??= { kind: 'files', event: item.event };
        else snap.sealed ??= { kind: 'changes', event: item.event };
        break;
      case 'chunk-verified':
        snap.verified.set(item.event.seq);
        break;
      case 'chunk-corrupt': {
        if (snap.verified.has(item.event.seq)) break;
        const reports = (snap.corruptReports.get(item.event.seq) ?? 0) + 1;
        snap.corruptReports.set(item.event.seq, reports);
        this.deps.logger.warn(
          { snapshotId: id, seq: item.event.seq, reason: item.event.reason },
          'chunk found corrupt',
        );
        if (reports >= MAX_CORRUPT_REPORTS) {
          await this.fail(
            id,
            `chunk ${item.event.hash} (seq ${item.event.seq}) corrupt ${reports} times: ${item.event.reason}`,
          );
          return;
        }
        break;
      }
    }
    await this.tryCommit(snap);
  }

  private async flushSegment(snap: PendingSnapshot): Promise<void> {
    if (snap.lines.length === 0) return;
    snap.segments.push(await writeSegment(this.deps.store, this.deps.encoder, snap.lines));
    snap.lines = [];
    snap.lineBytes = 0;
  }

  private async tryCommit(snap: PendingSnapshot): Promise<void> {
    const sealed = snap.sealed;
    if (!sealed) return;
    const expected = sealed.kind === 'files' ? sealed.event.fileEventCount : sealed.event.versionCount;
    if (snap.entryEvents < expected || snap.verified.size < sealed.event.chunkCount) return;
    for (let seq = 0; seq < sealed.event.chunkCount; seq++) if (!snap.verified.has(seq)) return;
    // Write order: blocks (verified above), then file lists and manifest, then the ledger record.
    await this.flushSegment(snap);
    if (sealed.kind === 'files') await this.commitSnapshot(snap, sealed.event);
    else await this.commitChanges(snap, sealed.event);
    this.close(snap.id);
  }

  private async commitSnapshot(snap: PendingSnapshot, sealed: SnapshotSealedEvent): Promise<void> {
    const manifestRef = await writeManifest(
      this.deps.store,
      this.deps.encoder,
      buildManifest(sealed, snap.segments, snap.entries),
    );
    if (this.deps.ledger.isCommitted(snap.id)) return;
    await this.deps.ledger.append({
      ...snapshotSummary(sealed),
      committedAt: this.deps.now().toISOString(),
      manifest: manifestRef,
    });
    this.committed.push(snap.id);
    this.deps.logger.info(
      { snapshotId: snap.id, source: sealed.source, files: sealed.files, totalBytes: sealed.totalBytes },
      'snapshot committed',
    );
  }

  /**
   * Commits the versions of a change batch whose offsets no earlier record committed: a
   * producer that crashed before committing its Kafka offsets publishes the same records
   * again in a new batch, maybe with other bounds, and the ledger must hold each offset once.
   * All batches of one change topic partition reach this archiver partition, in order.
   */
  private async commitChanges(snap: PendingSnapshot, sealed: ChangesSealedEvent): Promise<void> {
    const through = this.deps.ledger.changesCommittedThrough(sealed.topic, sealed.partition);
    const first = BigInt(sealed.firstOffset);
    const from = through !== undefined && through >= first ? through + 1n : first;
    if (this.deps.ledger.isCommitted(snap.id) || from > BigInt(sealed.lastOffset)) {
      this.deps.logger.info(
        { snapshotId: snap.id, topic: sealed.topic, partition: sealed.partition, through: through?.toString() },
        'change batch already committed',
      );
      return;
    }
    const manifestRef = await writeManifest(
      this.deps.store,
      this.deps.encoder,
      buildChangeBatchManifest(sealed, snap.segments, snap.entries),
    );
    const kept = snap.versions.filter((v) => v.offset >= from);
    // A loop, not Math.min(...times): a spread of a batch's length overflows the call stack.
    let minTsMs: number | null = null;
    let maxTsMs: number | null = null;
    for (const { tsMs } of kept) {
      if (minTsMs === null || tsMs < minTsMs) minTsMs = tsMs;
      if (maxTsMs === null || tsMs > maxTsMs) maxTsMs = tsMs;
    }
    await this.deps.ledger.appendChanges({
      snapshotId: snap.id,
      topic: sealed.topic,
      partition: sealed.partition,
      fromOffset: from.toString(),
      toOffset: sealed.lastOffset,
      versions: kept.length,
      sources: [...new Set(kept.map((v) => v.source))].sort(),
      minTsMs,
      maxTsMs,
      committedAt: this.deps.now().toISOString(),
      manifest: manifestRef,
    });
    this.committed.push(snap.id);
    this.deps.logger.info(
      { snapshotId: snap.id, topic: sealed.topic, partition: sealed.partition, versions: kept.length },
      'change batch committed',
    );
  }

  /** Refuses a seq at or beyond the sealed chunkCount, or beyond maxSnapshotChunks before the seal. */
  private checkSeq(id: string, seq: number, snap: PendingSnapshot | undefined): void {
    const sealed = snap?.sealed?.event.chunkCount;
    const limit = sealed ?? this.maxSnapshotChunks;
    if (seq < limit) return;
    throw new InvalidEventError(
      sealed !== undefined
        ? `chunk seq ${seq} of snapshot ${id} is beyond its sealed chunkCount ${sealed}`
        : `chunk seq ${seq} of snapshot ${id} is beyond archiver.maxSnapshotChunks (${this.maxSnapshotChunks})`,
    );
  }

  private async fail(id: string, reason: string): Promise<void> {
    this.deps.logger.warn({ snapshotId: id, reason }, 'snapshot failed');
    await this.deps.publishFailed({ snapshotId: id, reason });
    this.close(id);
  }

  private close(id: string): void {
    this.pending.delete(id);
    this.closed.add(id);
    // Bounded: the oldest closed ids go first (a Set iterates in insertion order).
    if (this.closed.size > 10000) this.closed.delete(this.closed.values().next().value as string);
  }

  private async abandonStale(nowMs: number): Promise<void> {
    for (const snap of [...this.pending.values()]) {
      if (nowMs - snap.lastEventMs > this.deps.abandonAfterMs) {
        await this.fail(snap.id, `abandoned: no event for ${Math.round((nowMs - snap.lastEventMs) / 1000)} s`);
      }
    }
  }
}
