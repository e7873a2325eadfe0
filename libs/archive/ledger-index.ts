import type { ChangesCommitRecord, LedgerRecord, SnapshotCommitRecord } from '../events';
import type { LedgerPort } from './archiver-partition';

/**
 * What the archiver must know of the ledger to append nothing twice: the ids committed
 * (snapshots and change batches) and, per change topic partition, the last offset a
 * change-batch record committed. Fed by a follower of the ledger topic and by the
 * archiver's own appends.
 */
export class LedgerIndex {
  private readonly ids = new Set<string>();
  private readonly through = new Map<string, bigint>();

  add(item: LedgerRecord): void {
    this.ids.add(item.record.snapshotId);
    if (item.type === 'changes-commit') {
      const key = `${item.record.topic}\u0000${item.record.partition}`;
      const to = BigInt(item.record.toOffset);
      const known = this.through.get(key);
      if (known === undefined || to > known) this.through.set(key, to);
    }
  }

  has(snapshotId: string): boolean {
    return this.ids.has(snapshotId);
  }

  changesCommittedThrough(topic: string, partition: number): bigint | undefined {
    return this.through.get(`${topic}\u0000${partition}`);
  }
}

/** The ledger as the archiver uses it: appends go to `appender` and then into the index. */
export function indexedLedger(
  index: LedgerIndex,
  appender: {
    append(record: SnapshotCommitRecord): Promise<void>;
    appendChanges(record: ChangesCommitRecord): Promise<void>;
  },
): LedgerPort {
  return {
    isCommitted: (id) => index.has(id),
    changesCommittedThrough: (topic, partition) => index.changesCommittedThrough(topic, partition),
    append: async (record) => {
      await appender.append(record);
      index.add({ type: 'snapshot-commit', record });
    },
    appendChanges: async (record) => {
      await appender.appendChanges(record);
      index.add({ type: 'changes-commit', record });
    },
  };
}
