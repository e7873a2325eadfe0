import { createHash } from 'node:crypto';
import type { KafkaMessage, Message } from 'kafkajs';
import pino from 'pino';
import { defaultGearTable, type ChunkingParams } from '../chunking';
import {
  DEAD_LETTER_HEADERS,
  HEADERS,
  changeVersionSchema,
  decodeChunk,
  decodeJson,
  type ChangeVersionEvent,
  type ChangesSealedEvent,
  type ChunkMeta,
  type OutgoingMessage,
} from '../events';
import { Slots } from '../pipeline';
import { MemoryObjectStore, StoreError, blockKey } from '../store';
import { LedgerWatch } from './ledger-watch';
import { PartitionIngest, RepairList, type IngestPublisher, type PartitionIngestDeps } from './partition-ingest';
import { memoryStagedObjects } from './payload';

const TOPIC = 'crm.changes';
const KEY = `changes:${TOPIC}:0`;
const TS = Date.parse('2026-01-01T00:00:00Z');
const KiB = 1024;
const SMALL: ChunkingParams = { minSize: 2 * KiB, avgSize: 8 * KiB, maxSize: 64 * KiB };
const T = { chunks: 'bs.chunks', stored: 'bs.stored', progress: 'bs.progress', deadLetters: 'bs.dead-letters' };
const sha256 = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');
const canonical = (data: unknown): Buffer => Buffer.from(JSON.stringify(data));

interface Published {
  topic: string;
  message: Message;
}

/** Every message published, through any publisher or sendNow, in order. */
class Bus {
  readonly all: Published[] = [];
  failNext: Error | undefined;

  publisher(): IngestPublisher {
    return {
      publish: (topic, message) => {
        if (this.failNext) {
          const err = this.failNext;
          this.failNext = undefined;
          return Promise.reject(err);
        }
        this.all.push({ topic, message });
        return Promise.resolve();
      },
      flush: () => Promise.resolve(),
    };
  }

  of(type: string): Message[] {
    return this.all.filter((p) => p.message.headers?.[HEADERS.type] === type).map((p) => p.message);
  }

  json<T>(type: 'change' | 'changes-sealed' | 'snapshot-failed' | 'chunk-stored'): T[] {
    return this.of(type).map(
      (m) => decodeJson({ key: null, value: m.value as Buffer, headers: m.headers }, [type]).event as T,
    );
  }

  chunks(): ChunkMeta[] {
    return this.of('chunk').map((m) => decodeChunk({ value: m.value as Buffer, headers: m.headers }).meta);
  }

  versions(): ChangeVersionEvent[] {
    return this.json<ChangeVersionEvent>('change');
  }

  sealed(): ChangesSealedEvent[] {
    return this.json<ChangesSealedEvent>('changes-sealed');
  }
}

let offsetCounter = 0;

/** A change record at the next offset; its key is the event's own unless given. */
function record(value: unknown, key?: string | null, offset?: number): KafkaMessage {
  const o = offset ?? offsetCounter++;
  key ??= (value as { key?: string } | null)?.key ?? 'k1';
  return {
    key: key === null ? null : Buffer.from(key),
    value: value === null ? null : Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)),
    timestamp: String(TS + o),
    attributes: 0,
    offset: String(o),
    headers: {},
  };
}

const upsert = (key: string, data: unknown, tsMs = TS): Record<string, unknown> => ({
  source: 'crm.customers',
  key,
  op: 'upsert',
  ts: tsMs,
  data,
});

async function until(what: string, condition: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

function harness(over: Partial<PartitionIngestDeps> = {}) {
  const bus = new Bus();
  const store = new MemoryObjectStore();
  const ledger = new LedgerWatch();
  const commits: string[] = [];
  const seeks: string[] = [];
  const flow: string[] = [];
  const owners = new Map<string, PartitionIngest>();
  let ids = 0;
  const deps: PartitionIngestDeps = {
    topic: TOPIC,
    partition: 0,
    limits: { maxEvents: 3, maxMs: 60_000 },
    maxQueuedBytes: 1024 * 1024,
    parse: { source: 'crm.default' },
    chunking: SMALL,
    gear: defaultGearTable(),
    topics: T,
    store,
    staged: memoryStagedObjects(store),
    slots: new Slots(4),
    newPublisher: () => bus.publisher(),
    newBatchId: () => (++ids).toString(16).padStart(32, '0'),
    ledger,
    commit: (offset) => {
      commits.push(offset);
      return Promise.resolve();
    },
    seek: (offset) => seeks.push(offset),
    pause: () => flow.push('pause'),
    resume: () => flow.push('resume'),
    track: (id, owner) => (owner ? owners.set(id, owner) : owners.delete(id)),
    sendNow: (topic: string, message: OutgoingMessage) => {
      bus.all.push({ topic, message });
      return Promise.resolve();
    },
    repairs: new RepairList(),
    maxAttempts: 3,
    now: () => Date.now(),
    logger: pino({ level: 'silent' }),
    retryDelayMs: 1,
    ...over,
  };
  const ingest = new PartitionIngest(deps);
  /** The archiver's part: the ledger now covers the batch's last offset. */
  const commitInLedger = (sealed: ChangesSealedEvent): void =>
    ledger.add({ topic: sealed.topic, partition: sealed.partition, toOffset: sealed.lastOffset });
  return { bus, store, ledger, commits, seeks, flow, owners, ingest, deps, commitInLedger };
}

beforeEach(() => {
  offsetCounter = 0;
});

describe('PartitionIngest', () => {
  it('publishes a version per record, seals after maxEvents, and commits the offset only after the ledger record', async () => {
    const h = harness();
    h.ingest.offer([
      record(upsert('k1', { n: 1 })),
      record(upsert('k2', { n: 2 })),
      record({ source: 'crm.customers', key: 'k1', op: 'delete', ts: TS + 5 }),
      record(upsert('k3', { n: 3 })),
    ]);
    await until('the first batch is sealed', () => h.bus.sealed().length === 1);
    const [sealed] = h.bus.sealed();
    expect(sealed).toMatchObject({
      topic: TOPIC,
      partition: 0,
      firstOffset: '0',
      lastOffset: '2',
      versionCount: 3,
      chunkCount: 2,
    });
    const versions = h.bus.versions();
    expect(versions.map((v) => [v.offset, v.key, v.op, v.chunks.length])).toEqual([
      ['0', 'k1', 'upsert', 1],
      ['1', 'k2', 'upsert', 1],
      ['2', 'k1', 'delete', 0],
      ['3', 'k3', 'upsert', 1],
    ]);
    for (const v of versions) expect(changeVersionSchema.safeParse(v).success).toBe(true);
    expect(versions[0]).toMatchObject({
      snapshotId: sealed!.snapshotId,
      source: 'crm.customers',
      tsMs: TS,
      format: 'native',
      contentType: 'application/json',
      encoding: 'json',
      size: canonical({ n: 1 }).length,
      sha256: sha256(canonical({ n: 1 })),
    });
    // Every event of the batch is keyed by the batch key.
    for (const m of [...h.bus.of('change'), ...h.bus.of('changes-sealed')]) expect(m.key).toBe(KEY);
    // Chunks go through the pipeline with the batch's seqs.
    expect(h.bus.chunks().map((c) => [c.snapshotId, c.seq])).toEqual([
      [sealed!.snapshotId, 0],
      [sealed!.snapshotId, 1],
      [versions[3]!.snapshotId, 0],
    ]);
    expect(h.commits).toEqual([]);
    h.commitInLedger(sealed!);
    await until('the offset is committed', () => h.commits.length === 1);
    expect(h.commits).toEqual(['3']);
    await h.ingest.abandon();
  });

  it('seals a batch maxMs after its first record', async () => {
    const h = harness({ limits: { maxEvents: 1000, maxMs: 30 } });
    const started = Date.now();
    h.ingest.offer([record(upsert('k1', 1))]);
    await until('the batch is sealed', () => h.bus.sealed().length === 1);
    expect(Date.now() - started).toBeGreaterThanOrEqual(29);
    expect(h.bus.sealed()[0]).toMatchObject({ firstOffset: '0', lastOffset: '0', versionCount: 1 });
    await h.ingest.abandon();
  });

  it('seals the next batch only once the ledger covers the one before, and commits offsets in order', async () => {
    const h = harness({ limits: { maxEvents: 2, maxMs: 10 } });
    h.ingest.offer([1, 2, 3, 4, 5].map((n) => record(upsert(`k${n}`, n))));
    await until('the first batch is sealed', () => h.bus.sealed().length === 1);
    // Built meanwhile (its versions are out) and due, but not sealed.
    await until('the next batch is built', () => h.bus.versions().length === 4);
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(h.bus.sealed()).toHaveLength(1);
    h.commitInLedger(h.bus.sealed()[0]!);
    await until('the second batch is sealed', () => h.bus.sealed().length === 2);
    expect(h.bus.sealed()[1]).toMatchObject({ firstOffset: '2', lastOffset: '3' });
    h.commitInLedger(h.bus.sealed()[1]!);
    await until('the third batch is sealed', () => h.bus.sealed().length === 3);
    // A record that covers more (the archiver skipped a batch committed before) completes it as well.
    h.ledger.add({ topic: TOPIC, partition: 0, toOffset: '10' });
    await until('three offsets are committed', () => h.commits.length === 3);
    expect(h.commits).toEqual(['2', '4', '5']);
    await h.ingest.abandon();
  });

  it('stores identical payloads once: one seq per batch, and a block already stored is announced, not sent', async () => {
    const h = harness({ limits: { maxEvents: 4, maxMs: 60_000 } });
    const known = canonical({ same: 'as before' });
    await h.store.put(blockKey(sha256(known)), Buffer.alloc(9));
    h.ingest.offer([
      record(upsert('a', { twice: true })),
      record(upsert('b', { twice: true })),
      record(upsert('c', { same: 'as before' })),
      record(upsert('d', { twice: true })),
    ]);
    await until('sealed', () => h.bus.sealed().length === 1);
    const [sealed] = h.bus.sealed();
    expect(sealed).toMatchObject({ versionCount: 4, chunkCount: 2, sentBytes: canonical({ twice: true }).length });
    expect(h.bus.chunks().map((c) => [c.seq, c.hash])).toEqual([[0, sha256(canonical({ twice: true }))]]);
    expect(h.bus.json<{ seq: number; origin: string; hash: string }>('chunk-stored')).toEqual([
      expect.objectContaining({ seq: 1, origin: 'existing', hash: sha256(known), storedSize: 9 }),
    ]);
    // Each version still lists its chunk.
    expect(new Set(h.bus.versions().map((v) => v.chunks[0]?.hash)).size).toBe(2);
    expect(h.ingest.stats).toMatchObject({ chunksSent: 1, chunksFound: 1, versions: 4 });
    await h.ingest.abandon();
  });

  it('dead-letters an invalid record with the reason; the batch still covers its offset', async () => {
    const h = harness();
    h.ingest.offer([
      record('this is not json', 'bad-1'),
      record(upsert('k1', 1)),
      record({ source: 'crm.customers', key: 'other', op: 'upsert', ts: TS, data: 1 }, 'k2'),
    ]);
    await until('sealed', () => h.bus.sealed().length === 1);
    expect(h.bus.sealed()[0]).toMatchObject({ firstOffset: '0', lastOffset: '2', versionCount: 1 });
    const dead = h.bus.all.filter((p) => p.topic === T.deadLetters).map((p) => p.message);
    expect(dead.map((m) => [m.key?.toString(), String(m.headers?.[DEAD_LETTER_HEADERS.offset])])).toEqual([
      ['bad-1', '0'],
      ['k2', '2'],
    ]);
    expect(String(dead[0]!.headers![DEAD_LETTER_HEADERS.reason])).toMatch(/^the value is not JSON/);
    expect(String(dead[1]!.headers![DEAD_LETTER_HEADERS.reason])).toMatch(/^key mismatch/);
    expect(String(dead[1]!.headers![DEAD_LETTER_HEADERS.service])).toBe('producer');
    expect(dead[0]!.value?.toString()).toBe('this is not json');
    expect(h.ingest.stats).toMatchObject({ deadLetters: 2, versions: 1 });
    await h.ingest.abandon();
  });

  it('takes a tombstone’s source from the configuration and a claim check’s bytes from the store', async () => {
    const h = harness();
    const blob = Buffer.alloc(40 * KiB, 7);
    await h.store.put('staging/crm/blob', blob);
    const ref = { key: 'staging/crm/blob', size: blob.length, sha256: sha256(blob) };
    h.ingest.offer([
      record(null, 'k1'),
      record({ source: 'crm.files', key: 'k2', op: 'upsert', ts: TS, contentType: 'application/pdf', ref }, 'k2'),
      record({ source: 'crm.files', key: 'k3', op: 'upsert', ts: TS, ref: { ...ref, key: 'staging/none' } }, 'k3'),
    ]);
    await until('sealed', () => h.bus.sealed().length === 1);
    const [tombstone, staged] = h.bus.versions();
    expect(tombstone).toMatchObject({
      source: 'crm.default',
      key: 'k1',
      op: 'delete',
      format: 'tombstone',
      chunks: [],
    });
    expect(staged).toMatchObject({ contentType: 'application/pdf', size: blob.length, sha256: ref.sha256 });
    expect(staged).not.toHaveProperty('encoding');
    const sent = h.bus.of('chunk').map((m) => decodeChunk({ value: m.value as Buffer, headers: m.headers }));
    expect(Buffer.concat(sent.map((c) => c.data)).equals(blob)).toBe(true);
    expect(staged!.chunks.map((c) => c.hash)).toEqual(sent.map((c) => c.meta.hash));
    const dead = h.bus.all.filter((p) => p.topic === T.deadLetters);
    expect(String(dead[0]?.message.headers?.[DEAD_LETTER_HEADERS.reason])).toBe(
      'the staged object staging/none does not exist',
    );
    await h.ingest.abandon();
  });

  it('on a corrupt chunk drops the batch (and the one built after it), reads again from its first offset, and re-sends the chunk as a repair', async () => {
    const h = harness({ limits: { maxEvents: 2, maxMs: 60_000 } });
    const data = { big: 'x'.repeat(100) };
    await h.store.put(blockKey(sha256(canonical(data))), Buffer.from('corrupt'));
    const records = [record(upsert('k1', data)), record(upsert('k2', 2)), record(upsert('k3', 3))];
    h.ingest.offer(records);
    await until('sealed', () => h.bus.sealed().length === 1);
    await until('the next batch is built', () => h.bus.versions().length === 3);
    const first = h.bus.sealed()[0]!;
    expect(h.bus.json('chunk-stored')).toHaveLength(1); // found in the store: not sent
    const second = h.bus.versions()[2]!.snapshotId;
    expect([...h.owners.keys()].sort()).toEqual([first.snapshotId, second].sort());

    h.ingest.batchFailed(first.snapshotId, 'block is corrupt', sha256(canonical(data)));
    expect(h.seeks).toEqual(['0']);
    expect(h.owners.size).toBe(0);
    await until('both batches are failed', () => h.bus.json('snapshot-failed').length === 2);
    const failed = h.bus.of('snapshot-failed');
    expect(failed.map((m) => m.key).sort()).toEqual([first.snapshotId, second].sort());

    // The consumer delivers the records again from the offset it was sought to.
    h.ingest.offer(records);
    await until('a new batch is sealed', () => h.bus.sealed().length === 2);
    const again = h.bus.sealed()[1]!;
    expect(again.snapshotId).not.toBe(first.snapshotId);
    expect(again).toMatchObject({ firstOffset: '0', lastOffset: '1', chunkCount: 2 });
    const repair = h.bus.chunks().find((c) => c.snapshotId === again.snapshotId && c.seq === 0);
    expect(repair).toMatchObject({ hash: sha256(canonical(data)), repair: true });
    // A failure of a batch that is gone changes nothing.
    h.ingest.batchFailed(first.snapshotId, 'late');
    expect(h.seeks).toEqual(['0']);
    h.commitInLedger(again);
    await until('committed', () => h.commits.length === 1);
    expect(h.commits).toEqual(['2']);
    await h.ingest.abandon();
  });

  it('dead-letters a record that fails maxAttempts times for a non-retriable reason, and ingests the next one', async () => {
    const refused = new StoreError('S3 GET staging/locked failed: AccessDenied (HTTP 403)', { retriable: false });
    const blob = Buffer.from('a staged payload');
    const ref = { key: 'staging/locked', size: blob.length, sha256: sha256(blob) };
    const records = [
      record(upsert('k1', 1)),
      record({ source: 'crm.files', key: 'k2', op: 'upsert', ts: TS, ref }, 'k2'),
      record(upsert('k3', 3)),
    ];
    let opens = 0;
    const h: ReturnType<typeof harness> = harness({
      staged: {
        open: () => {
          opens += 1;
          return Promise.reject(refused);
        },
      },
      // The consumer delivers the records again from the offset sought to.
      seek: (offset) => {
        h.seeks.push(offset);
        setImmediate(() => h.ingest.offer(records.filter((r) => BigInt(r.offset) >= BigInt(offset))));
      },
    });
    h.ingest.offer(records);
    await until('sealed', () => h.bus.sealed().length === 1);
    expect(opens).toBe(3);
    const sealed = h.bus.sealed()[0]!;
    expect(sealed).toMatchObject({ firstOffset: records[0]!.offset, versionCount: 2 });
    const kept = h.bus.versions().filter((v) => v.snapshotId === sealed.snapshotId);
    expect(kept.map((v) => v.key)).toEqual(['k1', 'k3']);
    const dead = h.bus.all.filter((p) => p.topic === T.deadLetters);
    expect(dead).toHaveLength(1);
    expect(String(dead[0]!.message.headers![DEAD_LETTER_HEADERS.reason])).toBe(
      'failed 3 times with a non-retriable STORE_REJECTED: S3 GET staging/locked failed: AccessDenied (HTTP 403)',
    );
    await h.ingest.abandon();
  });

  it('never dead-letters a record whose failure is retriable (the store is down): it is tried again', async () => {
    const down = new StoreError('S3 GET staging/x failed: ECONNREFUSED', { retriable: true });
    const records = [
      record(
        {
          source: 'crm.files',
          key: 'k2',
          op: 'upsert',
          ts: TS,
          ref: { key: 'staging/x', size: 1, sha256: sha256('x') },
        },
        'k2',
      ),
    ];
    let opens = 0;
    const h: ReturnType<typeof harness> = harness({
      staged: {
        open: () => {
          opens += 1;
          return Promise.reject(down);
        },
      },
      seek: (offset) => {
        h.seeks.push(offset);
        setImmediate(() => h.ingest.offer(records));
      },
    });
    h.ingest.offer(records);
    await until('tried 6 times', () => opens >= 6);
    expect(h.bus.all.filter((p) => p.topic === T.deadLetters)).toHaveLength(0);
    await h.ingest.abandon();
  });

  it('skips records the ledger covers already (read again after a crash) and commits past them', async () => {
    const h = harness();
    h.ledger.add({ topic: TOPIC, partition: 0, toOffset: '1' });
    h.ingest.offer([record(upsert('k1', 1)), record(upsert('k2', 2)), record(upsert('k3', 3))]);
    await until('the skipped offsets are committed', () => h.commits.length === 1);
    expect(h.commits).toEqual(['2']);
    expect(h.bus.versions().map((v) => v.offset)).toEqual(['2']);
    expect(h.ingest.stats.skipped).toBe(2);
    await h.ingest.abandon();
  });

  it('ignores records it has taken already (a fetch that raced a seek)', async () => {
    const h = harness({ limits: { maxEvents: 2, maxMs: 60_000 } });
    const records = [record(upsert('k1', 1)), record(upsert('k2', 2))];
    h.ingest.offer(records);
    h.ingest.offer(records);
    await until('sealed', () => h.bus.sealed().length === 1);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(h.bus.versions()).toHaveLength(2);
    await h.ingest.abandon();
  });

  it('pauses the partition when too many fetched bytes wait, and resumes once they are taken', async () => {
    const h = harness({ maxQueuedBytes: 200, limits: { maxEvents: 2, maxMs: 60_000 } });
    const records = Array.from({ length: 6 }, (_, i) => record(upsert(`k${i}`, { pad: 'p'.repeat(50) })));
    h.ingest.offer(records);
    expect(h.flow).toEqual(['pause']);
    // Two batches' worth wait for the first batch's ledger record; then everything flows.
    await until('sealed', () => h.bus.sealed().length === 1);
    h.commitInLedger(h.bus.sealed()[0]!);
    await until('sealed twice', () => h.bus.sealed().length === 2);
    h.commitInLedger(h.bus.sealed()[1]!);
    await until('sealed three times', () => h.bus.sealed().length === 3);
    expect(h.flow).toEqual(['pause', 'resume']);
    await h.ingest.abandon();
  });

  it('on a failure of its own (the store down) drops the open batch and reads again after the last sealed one', async () => {
    const h = harness({ limits: { maxEvents: 1, maxMs: 60_000 } });
    h.ingest.offer([record(upsert('k1', 1))]);
    await until('sealed', () => h.bus.sealed().length === 1);
    jest.spyOn(h.store, 'head').mockRejectedValueOnce(new StoreError('S3 HEAD failed: 503', { retriable: true }));
    h.ingest.offer([record(upsert('k2', 2))]);
    await until('the partition is read again', () => h.seeks.length === 1);
    expect(h.seeks).toEqual(['1']);
    await until('the open batch is failed', () => h.bus.of('snapshot-failed').length === 1);
    // The sealed batch is still awaited and committed.
    h.commitInLedger(h.bus.sealed()[0]!);
    await until('committed', () => h.commits.length === 1);
    expect(h.commits).toEqual(['1']);
    h.ingest.offer([record(upsert('k2', 2), 'k2', 1)]);
    await until('sealed again', () => h.bus.sealed().length === 2);
    expect(h.bus.sealed()[1]).toMatchObject({ firstOffset: '1', lastOffset: '1', versionCount: 1 });
    await h.ingest.abandon();
  });

  it('a publishing failure is handled the same way, with a new publisher', async () => {
    const h = harness({ limits: { maxEvents: 1, maxMs: 60_000 } });
    h.bus.failNext = new Error('broker says no');
    h.ingest.offer([record(upsert('k1', 1))]);
    await until('the partition is read again', () => h.seeks.length === 1);
    expect(h.seeks).toEqual(['0']);
    h.ingest.offer([record(upsert('k1', 1), 'k1', 0)]);
    await until('sealed', () => h.bus.sealed().length === 1);
    await h.ingest.abandon();
  });

  it('stops gracefully: seals the open batch, waits for the ledger and commits', async () => {
    const h = harness({ limits: { maxEvents: 100, maxMs: 60_000 } });
    h.ingest.offer([record(upsert('k1', 1)), record(upsert('k2', 2))]);
    await until('versions published', () => h.bus.versions().length === 2);
    const stopping = h.ingest.stop(5000);
    await until('sealed', () => h.bus.sealed().length === 1);
    h.ingest.offer([record(upsert('k3', 3))]); // nothing new is taken while stopping
    h.commitInLedger(h.bus.sealed()[0]!);
    await stopping;
    expect(h.commits).toEqual(['2']);
    expect(h.bus.versions()).toHaveLength(2);
    expect(h.bus.of('snapshot-failed')).toHaveLength(0);
  });

  it('abandons what is not committed when the stop times out, without committing an offset', async () => {
    const h = harness({ limits: { maxEvents: 1, maxMs: 60_000 } });
    h.ingest.offer([record(upsert('k1', 1)), record(upsert('k2', 2))]);
    await until('the second batch is built', () => h.bus.versions().length === 2);
    await h.ingest.stop(30);
    expect(h.bus.sealed()).toHaveLength(1);
    expect(h.commits).toEqual([]);
    // The batch that was never sealed is failed, so the archiver stops waiting for it.
    expect(h.bus.json<{ snapshotId: string }>('snapshot-failed').map((f) => f.snapshotId)).toEqual([
      h.bus.versions()[1]!.snapshotId,
    ]);
    // A late ledger record commits nothing after the end.
    h.commitInLedger(h.bus.sealed()[0]!);
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(h.commits).toEqual([]);
    expect(h.ledger.waiting).toBe(0);
  });
});

describe('RepairList', () => {
  it('gives each hash once and forgets the oldest beyond its cap', () => {
    const r = new RepairList(2);
    r.add('a');
    r.add('b');
    r.add('c');
    expect(r.size).toBe(2);
    expect(r.take('a')).toBe(false);
    expect(r.take('b')).toBe(true);
    expect(r.take('b')).toBe(false);
  });
});
