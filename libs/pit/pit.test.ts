import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canonicalJson, parseChangeRecord, parseJson, type ChangeRecord, type JsonValue } from '../changes';
import { isJsonObject } from '../changes/json';
import { message, withSchema } from '../changes/test-fixtures';
import { flipByte } from '../pipeline/test-fixtures';
import { blockKey, type ObjectStore } from '../store';
import {
  FileSink,
  MemorySink,
  PitError,
  committedVersions,
  emptyScanStats,
  fetchPayload,
  keyHistory,
  renderVersion,
  restoreAt,
  type CommittedVersion,
  type HistoryEntry,
  type PitDeps,
  type PitFormat,
} from '.';
import { Repo, T0, decoder, entriesOf, remove, tombstone, upsert, type Publish } from './test-fixtures';

/** Any value (typed, for the linter). */
const anything: unknown = expect.anything();

const deps = (repo: Repo, overrides: Partial<PitDeps> = {}): PitDeps => ({
  store: repo.store,
  decoder,
  concurrency: 4,
  ...overrides,
});

async function restore(repo: Repo, atMs: number, format: PitFormat = 'jsonl', source = 'crm.customers') {
  const sink = new MemorySink();
  const result = await restoreAt(repo.entries(), { source, atMs, format }, sink, deps(repo));
  expect(sink.committed).toBe(true);
  return { sink, result };
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

/**
 * The state by a deliberately different algorithm: per key, of the versions at or before T,
 * the latest by time, and of those at that time the last in the log.
 */
function referenceState(log: readonly ChangeRecord[], atMs: number, source: string): ChangeRecord[] {
  const byKey = new Map<string, ChangeRecord[]>();
  for (const r of log) if (r.source === source) byKey.set(r.key, [...(byKey.get(r.key) ?? []), r]);
  const live: ChangeRecord[] = [];
  for (const versions of byKey.values()) {
    const before = versions.filter((v) => v.tsMs <= atMs);
    const newest = Math.max(...before.map((v) => v.tsMs));
    const last = before.filter((v) => v.tsMs === newest).pop();
    if (last && last.op === 'upsert') live.push(last);
  }
  return live.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/** Restored native lines, parsed back as change records (the key as record key). */
const parsedBack = (sink: MemorySink): ChangeRecord[] =>
  sink.records.map((r) => parseChangeRecord(message(r.value, r.key)));

const idsOf = (records: readonly { key: string; id: string }[]): string[] => records.map((r) => `${r.key}:${r.id}`);

/**
 * Two partitions of crm.changes and a batch of another source. Keys: k1 upserted, deleted
 * by a tombstone, re-created; k2 written earlier in time than k1 but later in the log, then
 * deleted; k3 bytes then JSON; k4 a number no double holds; k5 two versions at the same
 * millisecond; k6 a clock that went back (the later version in the log has the earlier time).
 */
async function history(): Promise<Repo> {
  const repo = new Repo();
  await repo.commitBatch(
    'a',
    [
      upsert('k1', T0 + 10, { v: 1 }),
      upsert('k2', T0 + 5, { v: 'a', text: 'x'.repeat(400) }),
      upsert('k1', T0 + 20, { v: 2 }),
      {
        key: 'k3',
        value: {
          source: 'crm.customers',
          key: 'k3',
          op: 'upsert',
          ts: new Date(T0 + 15).toISOString(),
          contentType: 'image/png',
          dataEncoding: 'base64',
          data: Buffer.from(Array.from({ length: 700 }, (_, i) => (i * 37) % 256)).toString('base64'),
        },
      },
      remove('k2', T0 + 30),
    ],
    { partition: 0, firstOffset: 0 },
  );
  await repo.commitBatch('deals', [upsert('k1', T0 + 1, { deal: true }, 'crm.deals')], {
    topic: 'crm.deals',
    firstOffset: 0,
  });
  await repo.commitBatch(
    'b',
    [
      {
        key: 'k4',
        value: `{"source":"crm.customers","key":"k4","op":"upsert","ts":${T0 + 1},"data":{"big":12345678901234567890}}`,
      },
      tombstone('k1', T0 + 40),
      upsert('k1', T0 + 50, { v: 3 }),
      upsert('k3', T0 + 25, { v: 'x' }),
      upsert('k5', T0 + 20, { v: 'first' }),
      upsert('k5', T0 + 20, { v: 'second' }),
      upsert('k6', T0 + 100, { v: 'late' }),
      upsert('k6', T0 + 60, { v: 'early' }),
    ],
    { partition: 1, firstOffset: 0 },
  );
  return repo;
}

describe('restoreAt', () => {
  it('gives the state of every key at each moment: deletes respected, sorted by key', async () => {
    const repo = await history();
    const expectKeys = async (at: number, expected: Record<string, unknown>) => {
      const { sink } = await restore(repo, at);
      const state = Object.fromEntries(
        parsedBack(sink).map((r) => [
          r.key,
          r.payload?.kind === 'inline' && r.payload.encoding === 'json'
            ? JSON.parse(r.payload.bytes.toString())
            : r.payload?.contentType,
        ]),
      );
      expect(state).toEqual(expected);
      expect(sink.records.map((r) => r.key)).toEqual(Object.keys(expected).sort());
    };
    await expectKeys(T0, {});
    await expectKeys(T0 + 1, { k4: { big: 12345678901234567000 } });
    await expectKeys(T0 + 10, { k1: { v: 1 }, k2: { v: 'a', text: 'x'.repeat(400) }, k4: anything });
    await expectKeys(T0 + 20, {
      k1: { v: 2 },
      k2: anything,
      k3: 'image/png',
      k4: anything,
      k5: { v: 'second' },
    });
    await expectKeys(T0 + 30, { k1: { v: 2 }, k3: { v: 'x' }, k4: anything, k5: { v: 'second' } });
    await expectKeys(T0 + 40, { k3: { v: 'x' }, k4: anything, k5: { v: 'second' } });
    await expectKeys(T0 + 50, { k1: { v: 3 }, k3: { v: 'x' }, k4: anything, k5: { v: 'second' } });
    const settled = { k1: { v: 3 }, k3: { v: 'x' }, k4: anything, k5: { v: 'second' } };
    // k6's "late" version (T0+100) came first in the log; "early" (T0+60) is the state until then.
    await expectKeys(T0 + 60, { ...settled, k6: { v: 'early' } });
    await expectKeys(T0 + 99, { ...settled, k6: { v: 'early' } });
    await expectKeys(T0 + 100, { ...settled, k6: { v: 'late' } });
    await expectKeys(T0 + 10_000, { ...settled, k6: { v: 'late' } });
  });

  it('agrees with the reference at every moment around every change, and each line parses back to its version', async () => {
    const repo = await history();
    const times = [...new Set(repo.published.flatMap((r) => [r.tsMs - 1, r.tsMs, r.tsMs + 1]))].sort();
    for (const at of times) {
      const { sink, result } = await restore(repo, at);
      const expected = referenceState(repo.published, at, 'crm.customers');
      expect(idsOf(parsedBack(sink))).toEqual(idsOf(expected));
      expect(result.keys).toBe(expected.length);
      expect(result.keysWritten).toBe(expected.length);
      expect(result.bytes).toBe(expected.reduce((n, r) => n + (r.payload?.size ?? 0), 0));
    }
  });

  it('keeps numbers no double holds and bytes exactly', async () => {
    const repo = await history();
    const { sink } = await restore(repo, T0 + 20);
    const k4 = sink.records.find((r) => r.key === 'k4');
    expect(k4?.value).toContain('"data":{"big":12345678901234567890}');
    const k3 = parsedBack(sink).find((r) => r.key === 'k3');
    const original = repo.published.find((r) => r.key === 'k3' && r.payload?.contentType === 'image/png');
    expect(k3?.payload?.kind === 'inline' && k3.payload.bytes).toEqual(
      original?.payload?.kind === 'inline' && original.payload.bytes,
    );
  });

  it("reads only the source's change batches: others are skipped without reading their manifests", async () => {
    const repo = await history();
    const deals = repo.ledger.records.find((r) => r.topic === 'crm.deals');
    repo.store.objects.delete(deals!.manifest.key);
    const { result } = await restore(repo, T0 + 10_000);
    expect(result).toMatchObject({ batches: 2, batchesSkipped: 1, versions: 13 });
    const empty = await restore(new Repo(), T0);
    expect(empty.result).toMatchObject({ keys: 0, batches: 0 });
    const { sink } = await restore(await history(), T0 + 10_000, 'jsonl', 'crm.deals');
    expect(sink.records.map((r) => r.value)).toEqual([
      `{"source":"crm.deals","key":"k1","op":"upsert","ts":"${new Date(T0 + 1).toISOString()}","contentType":"application/json","data":{"deal":true}}`,
    ]);
  });

  it('keeps one version of an event published twice, and all three of A, B, A', async () => {
    const repo = new Repo();
    const a = upsert('k', T0, { v: 'A' });
    await repo.commitBatch('dup', [a, a, upsert('k', T0, { v: 'B' }), a, a, upsert('other', T0, 1)], {
      firstOffset: 0,
    });
    await repo.commitBatch('dup-later', [a], { firstOffset: 6 });
    const run = keyHistory(repo.entries(), { source: 'crm.customers', key: 'k' }, deps(repo));
    const versions = (await collect(run.entries)).map((e) => e.version);
    expect(versions.map((v) => v.offset)).toEqual(['0', '2', '3']);
    expect(run.result).toMatchObject({ versions: 3, duplicates: 3 });
    const [first, b, again] = versions as [CommittedVersion, CommittedVersion, CommittedVersion];
    expect(again.id).toBe(first.id);
    expect(b.id).not.toBe(first.id);
    // The state is the last version in the log: A.
    const { sink } = await restore(repo, T0);
    expect(sink.records.map((r) => r.value)).toEqual([expect.stringContaining('"data":{"v":"A"}'), anything]);
  });

  it('drops a copy delivered long after newer versions (a replay of old events), and the state stays as it was', async () => {
    const repo = new Repo();
    const v1 = upsert('k', T0 + 1, { v: 1 });
    const v2 = upsert('k', T0 + 2, { v: 2 });
    await repo.commitBatch('stream', [v1, upsert('j', T0 + 1, { j: 1 }), v2, remove('j', T0 + 3)], { firstOffset: 0 });
    // An outbox replay publishes the old events again, after everything else.
    await repo.commitBatch('replay', [v1, upsert('j', T0 + 1, { j: 1 })], { firstOffset: 4 });
    const k = keyHistory(repo.entries(), { source: 'crm.customers', key: 'k' }, deps(repo));
    expect((await collect(k.entries)).map((e) => [e.version.offset, e.version.tsMs - T0])).toEqual([
      ['0', 1],
      ['2', 2],
    ]);
    expect(k.result).toMatchObject({ versions: 2, duplicates: 1 });
    const j = keyHistory(repo.entries(), { source: 'crm.customers', key: 'j' }, deps(repo));
    expect((await collect(j.entries)).map((e) => e.version.op)).toEqual(['upsert', 'delete']);
    expect((await restore(repo, T0 + 1)).sink.records.map((r) => r.key)).toEqual(['j', 'k']);
    const after = await restore(repo, T0 + 10);
    expect(after.sink.records.map((r) => r.value)).toEqual([expect.stringContaining('"data":{"v":2}')]);
  });

  it('yields each offset once when a batch is published again after a crash with overlapping offsets', async () => {
    const repo = new Repo();
    const log: Publish[] = Array.from({ length: 8 }, (_, i) => upsert(`k${i % 3}`, T0 + i, { i }));
    const first = await repo.commitBatch('before-crash', log.slice(0, 5), { firstOffset: 0 });
    // The producer crashed before committing its Kafka offsets: it reads from offset 2 again.
    const second = await repo.commitBatch('after-crash', log.slice(2), { firstOffset: 2 });
    expect(first).toMatchObject({ fromOffset: '0', toOffset: '4', versions: 5 });
    expect(second).toMatchObject({ fromOffset: '5', toOffset: '7', versions: 3 });
    const stats = emptyScanStats();
    const versions = await collect(committedVersions(repo.entries(), { store: repo.store, decoder }, { stats }));
    expect(versions.map((v) => v.offset)).toEqual(['0', '1', '2', '3', '4', '5', '6', '7']);
    expect(stats).toMatchObject({ batches: 2, versions: 8, outsideRange: 3, overlapping: 0 });

    // Two records whose ranges overlap (two archivers briefly owning one partition): still once each.
    const overlapping = [first!, { ...second!, fromOffset: '2' }];
    const again = emptyScanStats();
    const once = await collect(
      committedVersions(entriesOf(overlapping), { store: repo.store, decoder }, { stats: again }),
    );
    expect(once.map((v) => v.offset)).toEqual(['0', '1', '2', '3', '4', '5', '6', '7']);
    expect(again).toMatchObject({ outsideRange: 0, overlapping: 3 });
    const run = keyHistory(entriesOf(overlapping), { source: 'crm.customers', key: 'k2' }, deps(repo));
    expect((await collect(run.entries)).map((e) => e.version.offset)).toEqual(['2', '5']);
    expect(run.result.duplicates).toBe(0);
  });

  it('stops at a corrupt block with a PitError naming the key and the block, and writes nothing', async () => {
    const repo = await history();
    const k2 = (await collect(committedVersions(repo.entries(), { store: repo.store, decoder }))).find(
      (v) => v.key === 'k2',
    );
    const bad = blockKey(k2!.chunks[1]!.hash);
    flipByte(repo.store, bad, 5);
    const sink = new MemorySink();
    const err = await restoreAt(
      repo.entries(),
      { source: 'crm.customers', atMs: T0 + 10, format: 'jsonl' },
      sink,
      deps(repo),
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PitError);
    expect(err).toMatchObject({ code: 'BLOCK_CORRUPT', key: 'k2', source: 'crm.customers', blockKey: bad });
    expect((err as PitError).message).toContain('key "k2" of source crm.customers');
    expect((err as PitError).message).toContain(bad);
    expect(sink).toMatchObject({ committed: false, aborted: true });

    // A file target is never left behind, nor a temporary file.
    const dir = await mkdtemp(join(tmpdir(), 'pit-'));
    try {
      const target = join(dir, 'state.jsonl');
      const file = await FileSink.open(target, 'jsonl');
      await expect(
        restoreAt(repo.entries(), { source: 'crm.customers', atMs: T0 + 10, format: 'jsonl' }, file, deps(repo)),
      ).rejects.toBeInstanceOf(PitError);
      expect(await readdir(dir)).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }

    // A missing block: BLOCK_MISSING; the moment before k2 existed needs no block of it.
    repo.store.objects.delete(bad);
    await expect(restore(repo, T0 + 10)).rejects.toMatchObject({ code: 'BLOCK_MISSING', key: 'k2', blockKey: bad });
    await expect(restore(repo, T0 + 4)).resolves.toBeDefined();
  });

  it('checks the joined payload against the sha256 of the version', async () => {
    const repo = await history();
    const k1 = (await collect(committedVersions(repo.entries(), { store: repo.store, decoder }))).find(
      (v) => v.key === 'k1',
    );
    const forged = { ...k1!, sha256: 'f'.repeat(64) };
    await expect(fetchPayload(forged, { store: repo.store, decoder })).rejects.toMatchObject({
      code: 'BLOCK_CORRUPT',
      key: 'k1',
      blockKey: undefined,
    });
  });

  it('renders a version stored without an encoding (a claim-check payload) as base64, with the same identity', async () => {
    const repo = await history();
    const all = await collect(committedVersions(repo.entries(), { store: repo.store, decoder }));
    const { encoding: _encoding, ...k1 } = all.find((v) => v.key === 'k1')!;
    const payload = await fetchPayload(k1, { store: repo.store, decoder });
    expect(payload).toMatchObject({ kind: 'inline', encoding: 'base64', contentType: 'application/json', size: 7 });
    const line = renderVersion(k1, payload, 'jsonl');
    expect(line.value).toContain(`"dataEncoding":"base64","data":"${Buffer.from('{"v":1}').toString('base64')}"`);
    expect(parseChangeRecord(message(line.value, line.key)).id).toBe(k1.id);
  });

  it('fetches within store.concurrency requests, and writes in key order whatever order they finish in', async () => {
    const repo = new Repo();
    const keys = Array.from({ length: 30 }, (_, i) => `key-${String(i).padStart(2, '0')}`);
    await repo.commitBatch(
      'many',
      [...keys].reverse().map((k, i) => upsert(k, T0 + i, { k, pad: 'p'.repeat(300 + i) })),
      { firstOffset: 0 },
    );
    let inFlight = 0;
    let most = 0;
    const slow: ObjectStore = {
      ...repo.store,
      put: (k, b, o) => repo.store.put(k, b, o),
      head: (k) => repo.store.head(k),
      delete: (k) => repo.store.delete(k),
      list: (p) => repo.store.list(p),
      keepLocked: (i) => repo.store.keepLocked(i),
      get: async (key) => {
        if (!key.startsWith('blocks/')) return repo.store.get(key);
        inFlight += 1;
        most = Math.max(most, inFlight);
        await new Promise((r) => setTimeout(r, Math.random() * 5));
        inFlight -= 1;
        return repo.store.get(key);
      },
    };
    const sink = new MemorySink();
    const result = await restoreAt(
      repo.entries(),
      { source: 'crm.customers', atMs: T0 + 1000, format: 'jsonl' },
      sink,
      { store: slow, decoder, concurrency: 3, maxBufferedBytes: 1000 },
    );
    expect(sink.records.map((r) => r.key)).toEqual(keys);
    expect(result.keys).toBe(30);
    expect(most).toBeLessThanOrEqual(3);
    expect(most).toBeGreaterThan(1);
  });

  it('writes a file atomically, as JSON lines', async () => {
    const repo = await history();
    const dir = await mkdtemp(join(tmpdir(), 'pit-'));
    try {
      const target = join(dir, 'out', 'state.jsonl');
      await writeFile(join(dir, 'keep'), 'unrelated');
      const sink = await FileSink.open(target, 'jsonl');
      const result = await restoreAt(
        repo.entries(),
        { source: 'crm.customers', atMs: T0 + 60, format: 'jsonl' },
        sink,
        deps(repo),
      );
      const lines = (await readFile(target, 'utf8')).split('\n');
      expect(lines.pop()).toBe('');
      expect(lines).toHaveLength(5);
      expect(lines.map((l) => (JSON.parse(l) as { key: string }).key)).toEqual(['k1', 'k3', 'k4', 'k5', 'k6']);
      expect(result.outputBytes).toBe(lines.join('').length);
      expect((await readdir(join(dir, 'out'))).sort()).toEqual(['state.jsonl']);
      // A rerun replaces the file.
      const again = await FileSink.open(target, 'jsonl');
      await restoreAt(repo.entries(), { source: 'crm.customers', atMs: T0, format: 'jsonl' }, again, deps(repo));
      expect(await readFile(target, 'utf8')).toBe('');
      await expect(FileSink.open(dir, 'jsonl')).rejects.toMatchObject({ code: 'TARGET_UNSAFE' });
      expect(existsSync(join(dir, 'keep'))).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('restoreAt with Debezium', () => {
  // The key as JsonConverter writes it with schemas.enable=true: restored as {"id":1001}.
  const keyText = JSON.stringify({
    schema: { type: 'struct', name: 'pg1.shop.public.customers.Key' },
    payload: { id: 1001 },
  });
  const envelope = (op: string, tsMs: number, after: unknown) =>
    JSON.stringify(
      withSchema({
        before: null,
        after,
        source: { connector: 'postgresql', name: 'pg1', db: 'shop', schema: 'public', table: 'customers', ts_ms: tsMs },
        op,
        ts_ms: tsMs + 7,
      }),
    ).replace('"#big"', '12345678901234567890');
  const created = { id: 1001, name: 'Ada', balance: '#big', tags: ['a', 'b'], nested: { z: 1, a: null } };
  const updated = { ...created, name: 'Ada L.' };

  async function debeziumRepo(): Promise<Repo> {
    const repo = new Repo();
    await repo.commitBatch(
      'pg',
      [
        { key: keyText, value: envelope('c', T0 + 5, created) },
        { key: keyText, value: envelope('u', T0 + 10, updated) },
        { key: '{"id": 1002}', value: envelope('r', T0 + 1, { id: 1002, name: 'Grace', balance: 0 }) },
        { key: '{"id": 1002}', value: envelope('d', T0 + 20, null) },
      ],
      { topic: 'pg1.shop.public.customers', firstOffset: 100 },
    );
    return repo;
  }

  it('round-trips: restored as Debezium, the after is the original after, and it parses back to the same change', async () => {
    const repo = await debeziumRepo();
    const source = 'pg1.shop.public.customers';
    const afterOf = (value: string): string => {
      const parsed = parseJson(value);
      if (!isJsonObject(parsed)) throw new Error('not an object');
      const payload = parsed.payload;
      return canonicalJson((isJsonObject(payload) ? payload.after : parsed.after) as JsonValue);
    };
    const original = envelope('c', T0 + 5, created);
    const { sink } = await restore(repo, T0 + 6, 'debezium', source);
    expect(sink.records.map((r) => r.key)).toEqual(['{"id":1001}', '{"id":1002}']);
    const first = sink.records[0]!;
    expect(afterOf(first.value)).toBe(afterOf(original));
    expect(first.value).toContain('"balance":12345678901234567890');
    expect(JSON.parse(first.value)).toMatchObject({ before: null, op: 'r', source: { name: source, ts_ms: T0 + 5 } });
    const back = parseChangeRecord(message(first.value, first.key));
    const stored = repo.published[0]!;
    expect(back).toMatchObject({ source, key: '{"id":1001}', op: 'upsert', tsMs: T0 + 5, id: stored.id });

    const later = await restore(repo, T0 + 20, 'debezium', source);
    expect(later.sink.records).toHaveLength(1);
    expect(afterOf(later.sink.records[0]!.value)).toBe(afterOf(envelope('u', T0 + 10, updated)));
  });

  it('writes a Debezium file as {"key":…,"value":…} lines, structured keys as objects', async () => {
    const repo = await debeziumRepo();
    const dir = await mkdtemp(join(tmpdir(), 'pit-'));
    try {
      const target = join(dir, 'state.jsonl');
      await restoreAt(
        repo.entries(),
        { source: 'pg1.shop.public.customers', atMs: T0 + 6, format: 'debezium' },
        await FileSink.open(target, 'debezium'),
        deps(repo),
      );
      const lines = (await readFile(target, 'utf8')).trim().split('\n');
      expect(lines).toHaveLength(2);
      expect(lines[0]).toMatch(/^\{"key":\{"id":1001\},"value":\{"before":null,"after":\{/);
      expect(JSON.parse(lines[1]!)).toMatchObject({ key: { id: 1002 }, value: { after: { name: 'Grace' } } });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('keyHistory', () => {
  it("lists a key's versions in time order with their coordinates, and payloads when asked", async () => {
    const repo = await history();
    const run = keyHistory(repo.entries(), { source: 'crm.customers', key: 'k1', withData: true }, deps(repo));
    const entries: HistoryEntry[] = await collect(run.entries);
    expect(
      entries.map(({ version: v }) => [v.topic, v.partition, v.offset, v.op, v.tsMs - T0, v.format, v.contentType]),
    ).toEqual([
      ['crm.changes', 0, '0', 'upsert', 10, 'native', 'application/json'],
      ['crm.changes', 0, '2', 'upsert', 20, 'native', 'application/json'],
      ['crm.changes', 1, '1', 'delete', 40, 'tombstone', undefined],
      ['crm.changes', 1, '2', 'upsert', 50, 'native', 'application/json'],
    ]);
    expect(entries.map((e) => e.payload?.bytes.toString() ?? null)).toEqual(['{"v":1}', '{"v":2}', null, '{"v":3}']);
    expect(run.result).toMatchObject({ versions: 4, duplicates: 0, scan: { batches: 2, batchesSkipped: 1 } });
    // k6: "late" (T0+100) at offset 6, then "early" (T0+60) at offset 7: listed by time.
    const k6 = keyHistory(repo.entries(), { source: 'crm.customers', key: 'k6' }, deps(repo));
    expect((await collect(k6.entries)).map((e) => [e.version.offset, e.version.tsMs - T0])).toEqual([
      ['7', 60],
      ['6', 100],
    ]);
    const none = keyHistory(repo.entries(), { source: 'crm.customers', key: 'nope' }, deps(repo));
    expect(await collect(none.entries)).toEqual([]);
  });
});
