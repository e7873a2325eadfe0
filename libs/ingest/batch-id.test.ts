import { batchKey } from './batch';
import { changeBatchId, partitionOfKey } from './batch-id';

describe('partitionOfKey', () => {
  it('is the partition the producers put a keyed message in: stable and within range', () => {
    for (const n of [1, 3, 8, 50]) {
      for (const key of ['changes:crm.changes:0', 'a'.repeat(32), 'é']) {
        const p = partitionOfKey(key, n);
        expect(p).toBeGreaterThanOrEqual(0);
        expect(p).toBeLessThan(n);
        expect(partitionOfKey(key, n)).toBe(p);
      }
    }
    expect(() => partitionOfKey('k', 0)).toThrow(RangeError);
  });

  it('spreads keys over the partitions', () => {
    const hits = new Set<number>();
    for (let i = 0; i < 200; i++) hits.add(partitionOfKey(batchKey('t', i), 8));
    expect(hits.size).toBe(8);
  });
});

describe('changeBatchId', () => {
  it('draws random 32-hex ids until one lands in the batch key’s partition', () => {
    for (const n of [1, 4, 8, 50]) {
      for (let partition = 0; partition < 5; partition++) {
        const key = batchKey('crm.changes', partition);
        const id = changeBatchId(key, n);
        expect(id).toMatch(/^[0-9a-f]{32}$/);
        expect(partitionOfKey(id, n)).toBe(partitionOfKey(key, n));
      }
    }
  });

  it('is a new id on every call (a batch published again is a new batch)', () => {
    const ids = new Set(Array.from({ length: 50 }, () => changeBatchId(batchKey('t', 0), 4)));
    expect(ids.size).toBe(50);
  });

  it('uses the random source given, drawing again on a miss', () => {
    const key = batchKey('t', 3);
    const target = partitionOfKey(key, 8);
    const candidates = Array.from({ length: 64 }, (_, i) => Buffer.alloc(16, i));
    const firstHit = candidates.findIndex((b) => partitionOfKey(b.toString('hex'), 8) === target);
    expect(firstHit).toBeGreaterThanOrEqual(0);
    let draws = 0;
    const id = changeBatchId(key, 8, () => candidates[draws++] as Buffer);
    expect(id).toBe((candidates[firstHit] as Buffer).toString('hex'));
    expect(draws).toBe(firstHit + 1);
  });
});
