import { LedgerWatch } from './ledger-watch';

const rec = (topic: string, partition: number, toOffset: number) => ({ topic, partition, toOffset: String(toOffset) });

describe('LedgerWatch', () => {
  it('keeps the highest offset committed per topic partition', () => {
    const w = new LedgerWatch();
    expect(w.committedThrough('t', 0)).toBeUndefined();
    w.add(rec('t', 0, 9));
    w.add(rec('t', 0, 4)); // an older record read later changes nothing
    w.add(rec('t', 1, 2));
    w.add(rec('u', 0, 100));
    expect([w.committedThrough('t', 0), w.committedThrough('t', 1), w.committedThrough('u', 0)]).toEqual([
      9n,
      2n,
      100n,
    ]);
  });

  it('resolves a wait once some record covers the offset, at once if one does already', async () => {
    const w = new LedgerWatch();
    w.add(rec('t', 0, 9));
    await expect(w.waitFor('t', 0, 9n)).resolves.toBe(true);
    const seen: string[] = [];
    const a = w.waitFor('t', 0, 15n).then((r) => seen.push(`a:${r}`));
    const b = w.waitFor('t', 0, 20n).then((r) => seen.push(`b:${r}`));
    const other = w.waitFor('t', 1, 0n).then((r) => seen.push(`other:${r}`));
    w.add(rec('t', 0, 14));
    await Promise.resolve();
    expect(seen).toEqual([]);
    // A record that covers more than the batch (the archiver skipped a batch committed before) counts.
    w.add(rec('t', 0, 17));
    await a;
    expect(seen).toEqual(['a:true']);
    expect(w.waiting).toBe(2);
    w.add(rec('t', 1, 0));
    w.add(rec('t', 0, 20));
    await Promise.all([b, other]);
    expect(seen.sort()).toEqual(['a:true', 'b:true', 'other:true']);
    expect(w.waiting).toBe(0);
  });

  it('resolves false when the wait is aborted, and forgets the waiter', async () => {
    const w = new LedgerWatch();
    const abort = new AbortController();
    const waiting = w.waitFor('t', 0, 5n, abort.signal);
    expect(w.waiting).toBe(1);
    abort.abort();
    await expect(waiting).resolves.toBe(false);
    expect(w.waiting).toBe(0);
    w.add(rec('t', 0, 5));
    await expect(w.waitFor('t', 0, 6n, AbortSignal.abort())).resolves.toBe(false);
  });
});
