import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createKafka } from '../../libs/bus';
import { loadConfig } from '../../libs/config';
import { DEAD_LETTER_HEADERS, type ChangesCommitRecord } from '../../libs/events';
import { killAll, runCli, startService, type ServiceProcess } from '../support/processes';
import { RepositoryProbe, waitFor } from '../support/repository';
import { testEnv } from '../support/stack-config';
import { hasWitness, witness } from '../support/witness';

/**
 * Change-event streams end to end: upstream events published by kcat (an independent
 * client) into a change topic, ingested by the producer service through the chunk
 * pipeline, committed to the ledger in batches, and restored as the state at several
 * moments, compared with a model the test computes itself.
 */
const PARTITIONS = 4;
const KEYS = 1000;
const EVENTS = 10_000;
const T0 = Date.parse('2026-01-01T00:00:00Z');
const SOURCE = 'test.kv';

const base = testEnv('changes', {});
const upstream = `${base.BACKSTREAM_KAFKA_TOPIC_PREFIX}upstream`;
const env = {
  ...base,
  BACKSTREAM_CHANGES_TOPICS: upstream,
  BACKSTREAM_CHANGES_SOURCE: SOURCE,
  BACKSTREAM_CHANGES_BATCH_MAX_EVENTS: '500',
  BACKSTREAM_CHANGES_BATCH_MAX_MS: '300',
  BACKSTREAM_TOPICS_PARTITIONS: String(PARTITIONS),
};
const config = loadConfig({ env }).config;
const probe = new RepositoryProbe(config);
const scratch = mkdtempSync(join(tmpdir(), 'backstream-changes-'));
const services = new Map<string, ServiceProcess>();
let kcat = false;

interface ModelEvent {
  i: number;
  key: string;
  op: 'upsert' | 'delete' | 'tombstone';
  tsMs: number;
  data?: { n: number; key: string; v: number };
}

/** A deterministic stream: 10,000 changes over 1,000 keys, with deletes, tombstones and re-creates. */
function stream(): ModelEvent[] {
  let x = 0x2545f491;
  const next = (): number => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
  const out: ModelEvent[] = [];
  for (let i = 0; i < EVENTS; i++) {
    const r = next();
    const key = `k${String(r % KEYS).padStart(4, '0')}`;
    const roll = (r >>> 12) % 100;
    const op = roll < 12 ? 'delete' : roll < 15 ? 'tombstone' : 'upsert';
    out.push({ i, key, op, tsMs: T0 + i * 1000, ...(op === 'upsert' ? { data: { n: i, key, v: r % 9973 } } : {}) });
  }
  return out;
}
const EVENTS_STREAM = stream();

/** kcat's input: `key|value` lines; an empty value is sent as a tombstone (-Z). */
function kcatLines(events: ModelEvent[]): string {
  return events
    .map((e) =>
      e.op === 'tombstone'
        ? `${e.key}|`
        : `${e.key}|${JSON.stringify({
            source: SOURCE,
            key: e.key,
            op: e.op,
            ts: e.tsMs,
            ...(e.op === 'upsert' ? { data: e.data } : {}),
          })}`,
    )
    .join('\n');
}

async function publishWithKcat(name: string, lines: string, extra: string[] = []): Promise<void> {
  const file = join(scratch, `${name}.txt`);
  writeFileSync(file, lines + '\n');
  await witness('kcat', [
    '-P',
    '-b',
    config.kafka.brokers.join(','),
    '-t',
    upstream,
    '-K',
    '|',
    '-Z',
    ...extra,
    '-l',
    file,
  ]);
}

/**
 * The state at `atMs` by the model: for each key, the event with the latest time at or before
 * it. A tombstone has no time of its own: the contract dates it by its record timestamp, when
 * kcat produced it (today), so it is later than every moment restored here (2026-01).
 */
function modelAt(atMs: number, events = EVENTS_STREAM): Map<string, unknown> {
  const latest = new Map<string, ModelEvent>();
  for (const e of events)
    if (e.op !== 'tombstone' && e.tsMs <= atMs && (latest.get(e.key)?.tsMs ?? -1) <= e.tsMs) latest.set(e.key, e);
  const state = new Map<string, unknown>();
  for (const [key, e] of latest) if (e.op === 'upsert') state.set(key, e.data);
  return state;
}

async function restoreAt(atMs: number, format = 'jsonl'): Promise<{ lines: Array<Record<string, unknown>> }> {
  const target = join(scratch, `state-${atMs}-${format}.jsonl`);
  const r = await runCli(
    ['restore', '--source', SOURCE, '--at', new Date(atMs).toISOString(), '--format', format, '--target', target],
    env,
  );
  expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
  const text = readFileSync(target, 'utf8');
  return {
    lines: text
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

/** Offsets of the change topic each change-batch record commits, checked to be disjoint. */
async function committedOffsets(): Promise<Map<number, number>> {
  const records: ChangesCommitRecord[] = (await probe.changeCommits()).filter((r) => r.topic === upstream);
  const through = new Map<number, number>();
  for (const r of records) {
    const from = Number(r.fromOffset);
    const to = Number(r.toOffset);
    // Each offset once, in order: every record starts right after the previous one of its partition.
    expect({ partition: r.partition, from }).toEqual({
      partition: r.partition,
      from: (through.get(r.partition) ?? -1) + 1,
    });
    through.set(r.partition, to);
  }
  return through;
}

async function topicEnds(): Promise<Map<number, number>> {
  const admin = probe.kafka.admin();
  await admin.connect();
  try {
    return new Map((await admin.fetchTopicOffsets(upstream)).map((p) => [p.partition, Number(p.high) - 1]));
  } finally {
    await admin.disconnect();
  }
}

/** Waits until the ledger commits every offset the change topic holds. */
async function allCommitted(timeoutMs = 240_000): Promise<void> {
  await waitFor(
    'every change-topic offset committed to the ledger',
    async () => {
      const [ends, through] = await Promise.all([topicEnds(), committedOffsets()]);
      return [...ends].every(([p, end]) => end < 0 || (through.get(p) ?? -1) >= end);
    },
    timeoutMs,
    500,
  );
}

beforeAll(async () => {
  kcat = await hasWitness('kcat');
  expect((await runCli(['init'], env)).code).toBe(0);
  const admin = createKafka(config.kafka, { clientSuffix: 'test-admin' }).admin();
  await admin.connect();
  await admin.createTopics({ waitForLeaders: true, topics: [{ topic: upstream, numPartitions: PARTITIONS }] });
  await admin.disconnect();
  for (const s of ['producer', 'chunk-worker', 'verifier', 'archiver']) services.set(s, await startService(s, env));
}, 240_000);

afterAll(async () => {
  await killAll();
  probe.close();
  await rm(scratch, { recursive: true, force: true });
});

describe('change streams', () => {
  it('ingests 10,000 changes over 1,000 keys published by kcat, surviving SIGKILL of the producer and the archiver', async () => {
    if (!kcat) return;
    const half = EVENTS / 2;
    await publishWithKcat('first-half', kcatLines(EVENTS_STREAM.slice(0, half)));
    // Kill the producer and the archiver once a first batch is in the ledger, mid-stream.
    await waitFor('a first change batch committed', async () => (await committedOffsets()).size > 0, 120_000, 200);
    for (const name of ['producer', 'archiver']) {
      await services.get(name)?.kill('SIGKILL');
      services.set(name, await startService(name, env));
    }
    await publishWithKcat('second-half', kcatLines(EVENTS_STREAM.slice(half)));
    await allCommitted();
    const records = (await probe.changeCommits()).filter((r) => r.topic === upstream);
    expect(records.reduce((n, r) => n + r.versions, 0)).toBe(EVENTS);
  }, 400_000);

  it.each([0.25, 0.5, 0.75, 1])('restores the exact state at %p of the stream, deletes respected', async (fraction) => {
    if (!kcat) return;
    const atMs = T0 + Math.floor((EVENTS - 1) * fraction) * 1000;
    const { lines } = await restoreAt(atMs);
    const restored = new Map(lines.map((l) => [l.key as string, l.data]));
    const expected = modelAt(atMs);
    expect(restored.size).toBe(expected.size);
    expect(restored).toEqual(expected);
    expect(lines.every((l) => l.op === 'upsert' && l.source === SOURCE)).toBe(true);
  });

  it('keeps one version per distinct event when events are delivered twice', async () => {
    if (!kcat) return;
    const again = EVENTS_STREAM.slice(3000, 4000).filter((e) => e.op !== 'tombstone');
    await publishWithKcat('again', kcatLines(again));
    await allCommitted();
    const key = again[0]?.key as string;
    const r = await runCli(['history', '--source', SOURCE, '--key', key, '--json'], env);
    expect(r.code).toBe(0);
    const versions = r.stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { tsMs: number; op: string; type?: string })
      .filter((v) => v.type !== 'summary');
    // History is in event-time order: the key's events, then its tombstones (dated when produced).
    const ofKey = EVENTS_STREAM.filter((e) => e.key === key);
    const timed = ofKey.filter((e) => e.op !== 'tombstone');
    const tombstones = ofKey.filter((e) => e.op === 'tombstone');
    expect(versions.map((v) => v.op)).toEqual([...timed.map((e) => e.op), ...tombstones.map(() => 'delete')]);
    expect(versions.slice(0, timed.length).map((v) => v.tsMs)).toEqual(timed.map((e) => e.tsMs));
    // The state is untouched by the replay.
    const atMs = T0 + (EVENTS - 1) * 1000;
    expect(new Map((await restoreAt(atMs)).lines.map((l) => [l.key as string, l.data]))).toEqual(modelAt(atMs));
  });

  it('round-trips Debezium-shaped events to Debezium-shaped output', async () => {
    if (!kcat) return;
    const after = (id: number): Record<string, unknown> => ({ id, name: `customer ${id}`, balance: id * 10 });
    const envelope = (op: string, id: number, ts: number): string =>
      JSON.stringify({
        before: op === 'c' ? null : after(id),
        after: op === 'd' ? null : after(id),
        source: { connector: 'postgresql', name: 'pg', db: 'shop', schema: 'public', table: 'customers', ts_ms: ts },
        op,
        ts_ms: ts + 5,
      });
    const lines = [
      `{"id":1}|${envelope('c', 1, T0 + 1)}`,
      `{"id":2}|${envelope('c', 2, T0 + 2)}`,
      `{"id":3}|${envelope('c', 3, T0 + 3)}`,
      `{"id":2}|${envelope('d', 2, T0 + 4)}`,
    ].join('\n');
    await publishWithKcat('debezium', lines, ['-H', 'bs-source=test.dbz']);
    await allCommitted();
    const target = join(scratch, 'debezium.jsonl');
    const r = await runCli(
      ['restore', '--source', 'test.dbz', '--at', String(T0 + 10), '--format', 'debezium', '--target', target],
      env,
    );
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    const out = readFileSync(target, 'utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const afters = out.map((l) => ((l.value ?? l) as { after?: unknown }).after);
    expect(afters).toEqual([after(1), after(3)]);
  });

  it('sends malformed events to the dead-letter topic with a reason while the stream keeps flowing', async () => {
    if (!kcat) return;
    const lines = [
      'bad-1|this is not json',
      `bad-2|${JSON.stringify({ source: SOURCE, op: 'upsert', ts: T0, data: {} })}`,
      `bad-3|${JSON.stringify({ source: SOURCE, key: 'bad-3', op: 'merge', ts: T0, data: {} })}`,
      `bad-4|${JSON.stringify({ source: SOURCE, key: 'bad-4', op: 'upsert', ts: T0, ref: { key: 'staging/test/missing', size: 10, sha256: 'a'.repeat(64) } })}`,
      `good-1|${JSON.stringify({ source: 'test.after-bad', key: 'good-1', op: 'upsert', ts: T0, data: { ok: true } })}`,
    ].join('\n');
    await publishWithKcat('malformed', lines);
    await allCommitted();
    const dead = (await probe.messages('dead-letters'))
      .map((m) => ({
        key: m.message.key?.toString(),
        reason: m.message.headers?.[DEAD_LETTER_HEADERS.reason]?.toString(),
      }))
      .filter((d) => d.key?.startsWith('bad-'));
    expect(dead.map((d) => d.key).sort()).toEqual(['bad-1', 'bad-2', 'bad-3', 'bad-4']);
    for (const d of dead) expect(d.reason).toMatch(/./);
    const { lines: state } = await (async () => {
      const target = join(scratch, 'after-bad.jsonl');
      const r = await runCli(
        ['restore', '--source', 'test.after-bad', '--at', String(T0 + 1), '--target', target, '--format', 'jsonl'],
        env,
      );
      expect(r.code).toBe(0);
      return {
        lines: readFileSync(target, 'utf8')
          .split('\n')
          .filter((l) => l !== '')
          .map((l) => JSON.parse(l) as Record<string, unknown>),
      };
    })();
    expect(state.map((l) => [l.key, l.data])).toEqual([['good-1', { ok: true }]]);
  });
});
