import type { ChangesCommitRecord } from '../events';

interface Waiter {
  offset: bigint;
  resolve(committed: boolean): void;
}

const slot = (topic: string, partition: number): string => `${topic}\u0000${partition}`;

/**
 * What the ingest needs of the ledger: per change-topic partition, the highest offset a
 * `changes-commit` record covers, and a way to wait until it reaches an offset. Fed by a
 * follower of the ledger topic.
 *
 * A batch is done when that offset reaches the batch's last offset, whichever record
 * says so: the archiver skips, without appending anything, a batch whose offsets an
 * earlier record committed already (a batch published again after a crash).
 */
export class LedgerWatch {
  private readonly through = new Map<string, bigint>();
  private readonly waiters = new Map<string, Set<Waiter>>();

  add(record: Pick<ChangesCommitRecord, 'topic' | 'partition' | 'toOffset'>): void {
    const key = slot(record.topic, record.partition);
    const to = BigInt(record.toOffset);
    const known = this.through.get(key);
    if (known !== undefined && known >= to) return;
    this.through.set(key, to);
    const waiting = this.waiters.get(key);
    if (!waiting) return;
    for (const w of [...waiting]) {
      if (w.offset <= to) {
        waiting.delete(w);
        w.resolve(true);
      }
    }
    if (waiting.size === 0) this.waiters.delete(key);
  }

  committedThrough(topic: string, partition: number): bigint | undefined {
    return this.through.get(slot(topic, partition));
  }

  /**
   * Resolves true once the ledger covers `offset` of the partition (at once if it does),
   * false when `signal` aborts first.
   */
  waitFor(topic: string, partition: number, offset: bigint, signal?: AbortSignal): Promise<boolean> {
    const key = slot(topic, partition);
    const known = this.through.get(key);
    if (known !== undefined && known >= offset) return Promise.resolve(true);
    if (signal?.aborted) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      const waiter: Waiter = {
        offset,
        resolve: (committed) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(committed);
        },
      };
      const onAbort = (): void => {
        const set = this.waiters.get(key);
        set?.delete(waiter);
        if (set?.size === 0) this.waiters.delete(key);
        waiter.resolve(false);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const set = this.waiters.get(key) ?? new Set<Waiter>();
      set.add(waiter);
      this.waiters.set(key, set);
    });
  }

  /** Waiters not yet resolved (for tests and metrics). */
  get waiting(): number {
    let n = 0;
    for (const set of this.waiters.values()) n += set.size;
    return n;
  }
}
