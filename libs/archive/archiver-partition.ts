import type { BlockEncoder } from '../blocks';
import {
  snapshotSummary,
  type ObjectRef,
  type ProgressEvent,
  type SnapshotCommitRecord,
  type SnapshotFailedEvent,
  type SnapshotSealedEvent,
} from '../events';
import type { Logger } from '../log';
import { buildManifest, writeManifest, writeSegment } from '../manifest';
import type { ObjectStore } from '../store';
import { Bitmap } from './bitmap';

/** How often one chunk may be found corrupt before its snapshot fails. */
export const MAX_CORRUPT_REPORTS = 3;

export interface LedgerPort {
  /** True when the ledger already holds a commit record for the snapshot. */
  isCommitted(snapshotId: string): boolean;
  append(record: SnapshotCommitRecord): Promise<void>;
}

export interface ArchiverDeps {
  store: ObjectStore;
  encoder: BlockEncoder;
  ledger: LedgerPort;
  publishFailed(event: SnapshotFailedEvent): Promise<void>;
  now(): Date;
  segmentBytes: number;
  abandonAfterMs: number;
  maxPendingSnapshots: number;
  logger: Logger;
}

interface PendingSnapshot {
  id: string;
  firstOffset: bigint;
  lastEventMs: number;
  sealed?: SnapshotSealedEvent;
  fileEvents: number;
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

  constructor(
    readonly partition: number,
    private readonly deps: ArchiverDeps,
  ) {}

  /** The offset the consumer group may commit: nothing before it is needed again. */
  commitOffset(): string | undefined {
    let min: bigint | undefined;
    for (const p of this.pending.values()) if (min === undefined || p.firstOffset < min) min = p.firstOffset;
    return (min ?? this.nextOffset)?.toString();
  }

  pendingCount(): number {
    return this.pending.size;
  }

  async apply(offset: string, timestampMs: number, item: ProgressEvent): Promise<void> {
    this.nextOffset = BigInt(offset) + 1n;
    await this.abandonStale(timestampMs);
    const id = item.event.snapshotId;
    if (this.closed.has(id)) return;
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
        lastEventMs: timestampMs,
        fileEvents: 0,
        entries: 0,
        lines: [],
        lineBytes: 0,
        segments: [],
        verified: new Bitmap(),
        corruptReports: new Map(),
      };
      this.pending.set(id, snap);
    }
    snap.lastEventMs = Math.max(snap.lastEventMs, timestampMs);
    switch (item.type) {
      case 'file': {
        const line = JSON.stringify(item.event);
        snap.lines.push(line);
        snap.lineBytes += Buffer.byteLength(line) + 1;
        snap.fileEvents += 1;
        snap.entries += 1;
        if (snap.lineBytes >= this.deps.segmentBytes) await this.flushSegment(snap);
        break;
      }
      case 'snapshot-sealed':
        snap.sealed ??= item.event;
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
    if (!sealed || snap.fileEvents < sealed.fileEventCount) return;
    for (let seq = 0; seq < sealed.chunkCount; seq++) if (!snap.verified.has(seq)) return;
    // Write order: blocks (verified above), then file lists and manifest, then the ledger record.
    await this.flushSegment(snap);
    const manifest = buildManifest(sealed, snap.segments, snap.entries);
    const manifestRef = await writeManifest(this.deps.store, this.deps.encoder, manifest);
    if (!this.deps.ledger.isCommitted(snap.id)) {
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
    this.close(snap.id);
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
