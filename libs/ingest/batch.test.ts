import { changesSealedSchema } from '../events';
import { ChangeBatch, PartitionOffsets, SEEN_CAP, batchKey } from './batch';

const ID = 'b'.repeat(32);
const LIMITS = { maxEvents: 3, maxMs: 1000 };
const T0 = Date.parse('2026-01-01T00:00:00Z');

describe('ChangeBatch', () => {
  it('covers versions and dead letters in offset order and seals with their bounds and counts', () => {
    const batch = new ChangeBatch(ID, 'crm.changes', 2, T0);
    expect(batch.key).toBe('changes:crm.changes:2');
    expect(batch.key).toBe(batchKey('crm.changes', 2));
    batch.cover(10n, 'version');
    batch.cover(11n, 'dead-letter');
    batch.cover(14n, 'version'); // a gap (compaction, transaction markers) is fine
    expect([batch.firstOffset, batch.lastOffset, batch.records, batch.versions, batch.deadLetters]).toEqual([
      10n,
      14n,
      3,
      2,
      1,
    ]);
    expect(() => batch.cover(14n, 'version')).toThrow(RangeError);
    expect(() => batch.cover(12n, 'version')).toThrow(RangeError);
    batch.sentBytes = 77;
    const sealed = batch.sealedEvent(T0 + 250);
    expect(sealed).toEqual({
      snapshotId: ID,
      topic: 'crm.changes',
      partition: 2,
      firstOffset: '10',
      lastOffset: '14',
      chunkCount: 0,
      versionCount: 2,
      sentBytes: 77,
      startedAt: '2026-01-01T00:00:00.000Z',
      finishedAt: '2026-01-01T00:00:00.250Z',
    });
    expect(changesSealedSchema.safeParse(sealed).success).toBe(true);
  });

  it('gives each chunk new to the batch the next seq, and none to a chunk it has seen (identical payloads once)', () => {
    const batch = new ChangeBatch(ID, 't', 0, T0);
    const [a, b] = ['a'.repeat(64), 'b'.repeat(64)];
    expect(batch.claimChunk(a)).toBe(0);
    expect(batch.claimChunk(b)).toBe(1);
    expect(batch.claimChunk(a)).toBeUndefined();
    expect(batch.claimChunk(b)).toBeUndefined();
    expect(batch.chunkCount).toBe(2);
    // Another batch has a seen set of its own: its archiver waits for its own seqs.
    expect(new ChangeBatch('c'.repeat(32), 't', 0, T0).claimChunk(a)).toBe(0);
  });

  it('stops remembering chunks at SEEN_CAP: a later repeat gets another seq (a duplicate event, never a missing one)', () => {
    const batch = new ChangeBatch(ID, 't', 0, T0);
    for (let i = 0; i < SEEN_CAP; i++) batch.claimChunk(`h${i}`);
    expect(batch.claimChunk('h1')).toBeUndefined();
    expect(batch.claimChunk('late')).toBe(SEEN_CAP);
    expect(batch.claimChunk('late')).toBe(SEEN_CAP + 1);
  });

  it('is full after maxEvents records and due maxMs after its first one', () => {
    const batch = new ChangeBatch(ID, 't', 0, T0);
    expect(batch.isDue(T0 + 5000, LIMITS)).toBe(false); // no record: never due
    batch.cover(0n, 'version');
    expect(batch.isDue(T0 + 999, LIMITS)).toBe(false);
    expect(batch.dueInMs(T0 + 999, LIMITS)).toBe(1);
    expect(batch.isDue(T0 + 1000, LIMITS)).toBe(true);
    expect(batch.dueInMs(T0 + 2000, LIMITS)).toBe(0);
    expect(batch.isFull(LIMITS)).toBe(false);
    batch.cover(1n, 'dead-letter');
    batch.cover(2n, 'version');
    expect(batch.isFull(LIMITS)).toBe(true);
  });

  it('cannot seal a batch that covers nothing', () => {
    expect(() => new ChangeBatch(ID, 't', 0, T0).sealedEvent(T0)).toThrow(/covers no record/);
  });
});

const range = (snapshotId: string, first: bigint, last: bigint) => ({
  snapshotId,
  firstOffset: first,
  lastOffset: last,
});

describe('PartitionOffsets', () => {
  it('takes records in offset order, once: the first fixes the position, repeats are dropped', () => {
    const o = new PartitionOffsets();
    expect(o.position).toBeUndefined();
    expect(o.accept(40n)).toBe(true);
    expect(o.position).toBe(40n);
    expect(o.accept(41n)).toBe(true);
    expect(o.accept(41n)).toBe(false);
    expect(o.accept(39n)).toBe(false);
    expect(o.accept(45n)).toBe(true);
  });

  it('seals one batch at a time and commits Kafka offsets in order, each after the ledger covers its batch', () => {
    const o = new PartitionOffsets();
    for (let i = 0n; i < 10n; i++) o.accept(i);
    o.opened('b1');
    expect(o.canSeal()).toBe(true);
    o.sealedBatch(range('b1', 0n, 4n));
    // The next batch is built meanwhile, but not sealed.
    o.opened('b2');
    expect(o.canSeal()).toBe(false);
    expect(() => o.sealedBatch(range('b2', 5n, 9n))).toThrow(/still sealed/);
    // The ledger below the batch's end, or another batch's record: nothing to commit yet.
    expect(o.ledgerCommitted('b1', 3n)).toBeUndefined();
    expect(o.ledgerCommitted('b2', 9n)).toBeUndefined();
    expect(o.ledgerCommitted('b1', 4n)).toBe(5n);
    expect(o.position).toBe(5n);
    expect(o.ledgerCommitted('b1', 4n)).toBeUndefined(); // once
    expect(o.canSeal()).toBe(true);
    o.sealedBatch(range('b2', 5n, 9n));
    // A record covering more (the archiver skipped an already committed batch) completes it too.
    expect(o.ledgerCommitted('b2', 12n)).toBe(10n);
    expect(o.position).toBe(10n);
  });

  it('only seals the open batch', () => {
    const o = new PartitionOffsets();
    o.accept(0n);
    expect(() => o.sealedBatch(range('x', 0n, 0n))).toThrow(/not the open one/);
    o.opened('a');
    expect(() => o.opened('b')).toThrow(/open already/);
  });

  it('a failed sealed batch drops the batch built after it and restarts at the last covered offset', () => {
    const o = new PartitionOffsets();
    for (let i = 100n; i < 130n; i++) o.accept(i);
    o.opened('b1');
    o.sealedBatch(range('b1', 100n, 109n));
    expect(o.ledgerCommitted('b1', 109n)).toBe(110n);
    o.opened('b2');
    o.sealedBatch(range('b2', 110n, 119n));
    o.opened('b3');
    expect(o.fail('b2')).toEqual({ seekTo: 110n, dropped: ['b2', 'b3'] });
    expect([o.sealed, o.open, o.canSeal()]).toEqual([undefined, undefined, true]);
    // Records before the restart point are dropped; from it on they are taken again.
    expect(o.accept(109n)).toBe(false);
    expect(o.accept(110n)).toBe(true);
    // No longer ours: late failures of dropped batches change nothing.
    expect(o.fail('b2')).toBeUndefined();
    expect(o.fail('b3')).toBeUndefined();
  });

  it('a failed open batch leaves the sealed one waiting and restarts right after it', () => {
    const o = new PartitionOffsets();
    for (let i = 0n; i < 20n; i++) o.accept(i);
    o.opened('b1');
    o.sealedBatch(range('b1', 0n, 9n));
    o.opened('b2');
    expect(o.fail('b2')).toEqual({ seekTo: 10n, dropped: ['b2'] });
    expect(o.sealed).toEqual(range('b1', 0n, 9n));
    expect(o.ledgerCommitted('b1', 9n)).toBe(10n);
  });

  it('failOpen drops the open batch, or just restarts when there is none', () => {
    const o = new PartitionOffsets();
    expect(o.failOpen()).toBeUndefined(); // nothing taken yet: nowhere to restart
    o.accept(7n);
    o.accept(8n);
    o.opened('b1');
    expect(o.failOpen()).toEqual({ seekTo: 7n, dropped: ['b1'] });
    o.accept(7n);
    expect(o.failOpen()).toEqual({ seekTo: 7n, dropped: [] });
  });

  it('skips records the ledger covers already while no batch is open, moving the position past them', () => {
    const o = new PartitionOffsets();
    o.accept(0n);
    expect(o.skipCommitted(0n, undefined)).toBeUndefined();
    expect(o.skipCommitted(0n, 4n)).toBe(1n);
    o.accept(1n);
    expect(o.skipCommitted(1n, 4n)).toBe(2n);
    expect(o.position).toBe(2n);
    o.accept(5n);
    expect(o.skipCommitted(5n, 4n)).toBeUndefined(); // beyond the ledger: a batch takes it
    o.opened('b1');
    expect(o.skipCommitted(3n, 4n)).toBeUndefined(); // never inside a batch
  });
});
