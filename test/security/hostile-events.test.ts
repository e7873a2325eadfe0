import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createKafka } from '../../libs/bus';
import { loadConfig } from '../../libs/config';
import { DEAD_LETTER_HEADERS, HEADERS, topicName, type ChangesCommitRecord } from '../../libs/events';
import { backupSummary, killAll, runCli, startService } from '../support/processes';
import { RepositoryProbe, waitFor } from '../support/repository';
import { testEnv } from '../support/stack-config';
import { hasWitness, witness } from '../support/witness';

/**
 * Messages that try to crash, exhaust or stall a consumer, published with kcat (librdkafka,
 * an independent client) as any upstream producer or anyone with write access to a topic
 * can: record batches compressed with each codec Kafka has, JSON nested past any parser's
 * stack, chunk events whose numbers are out of range. Each is dead-lettered with its reason
 * and the partition behind it keeps flowing (docs/security.md, "Hostile events and blocks").
 */
const CODECS = ['gzip', 'snappy', 'lz4', 'zstd'] as const;
const SOURCE = 'hostile.kv';
const base = testEnv('hostile-events', { BACKSTREAM_TOPICS_PARTITIONS: '1' });
const upstream = `${base.BACKSTREAM_KAFKA_TOPIC_PREFIX}upstream`;
const env = {
  ...base,
  BACKSTREAM_CHANGES_TOPICS: upstream,
  BACKSTREAM_CHANGES_SOURCE: SOURCE,
  BACKSTREAM_CHANGES_BATCH_MAX_EVENTS: '100',
  BACKSTREAM_CHANGES_BATCH_MAX_MS: '300',
};
const config = loadConfig({ env }).config;
const probe = new RepositoryProbe(config);
const scratch = mkdtempSync(join(tmpdir(), 'backstream-hostile-events-'));
let kcat = false;
let files = 0;

/** kcat -P with one codec: `lines` as key|value records, or one message whose value is `value`. */
async function kcatProduce(
  topic: string,
  codec: string,
  input: { lines: string[] } | { key: string; value: Buffer; headers: Record<string, string> },
): Promise<void> {
  files += 1;
  const file = join(scratch, `input-${files}`);
  const args = ['-P', '-b', config.kafka.brokers.join(','), '-t', topic, '-z', codec];
  if ('lines' in input) {
    writeFileSync(file, input.lines.join('\n') + '\n');
    args.push('-K', '|', '-l', file);
  } else {
    writeFileSync(file, input.value);
    args.push('-k', input.key, ...Object.entries(input.headers).flatMap(([k, v]) => ['-H', `${k}=${v}`]), file);
  }
  await witness('kcat', args);
}

async function deadLetters(): Promise<Array<{ key: string; topic: string; reason: string }>> {
  return (await probe.messages('dead-letters')).map((m) => ({
    key: m.message.key?.toString() ?? '',
    topic: m.message.headers?.[DEAD_LETTER_HEADERS.topic]?.toString() ?? '',
    reason: m.message.headers?.[DEAD_LETTER_HEADERS.reason]?.toString() ?? '',
  }));
}

async function upstreamEnd(): Promise<number> {
  const admin = probe.kafka.admin();
  await admin.connect();
  try {
    const [p] = await admin.fetchTopicOffsets(upstream);
    return Number(p?.high ?? 0) - 1;
  } finally {
    await admin.disconnect();
  }
}

async function commits(): Promise<ChangesCommitRecord[]> {
  return (await probe.changeCommits()).filter((r) => r.topic === upstream);
}

beforeAll(async () => {
  kcat = await hasWitness('kcat');
  expect((await runCli(['init'], env)).code).toBe(0);
  const admin = createKafka(config.kafka, { clientSuffix: 'test-admin' }).admin();
  await admin.connect();
  await admin.createTopics({ waitForLeaders: true, topics: [{ topic: upstream, numPartitions: 1 }] });
  await admin.disconnect();
  for (const s of ['producer', 'chunk-worker', 'verifier', 'archiver']) await startService(s, env);
}, 240_000);

afterAll(async () => {
  await killAll();
  probe.close();
  await rm(scratch, { recursive: true, force: true });
});

describe('hostile events', () => {
  it('ingests change batches compressed with gzip, Snappy, LZ4 and ZSTD, and dead-letters JSON nested 100,000 deep', async () => {
    if (!kcat) return;
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    for (const codec of CODECS) {
      const lines = Array.from({ length: 25 }, (_, i) => {
        const key = `${codec}-${i}`;
        return `${key}|${JSON.stringify({ source: SOURCE, key, op: 'upsert', ts: 1_700_000_000_000 + i, data: { codec, i } })}`;
      });
      lines.splice(
        10,
        0,
        `deep-${codec}|${JSON.stringify({ source: SOURCE, key: `deep-${codec}`, op: 'upsert', ts: 1 }).slice(0, -1)},"data":${deep}}`,
      );
      await kcatProduce(upstream, codec, { lines });
    }
    const end = await upstreamEnd();
    await waitFor(
      'every offset of the compressed batches committed to the ledger',
      async () => (await commits()).some((r) => Number(r.toOffset) >= end),
      180_000,
      500,
    );
    // 25 events of each codec stored; the four deep ones dead-lettered, each with its reason.
    expect((await commits()).reduce((n, r) => n + r.versions, 0)).toBe(25 * CODECS.length);
    const dead = (await deadLetters()).filter((d) => d.key.startsWith('deep-'));
    expect(dead.map((d) => d.key).sort()).toEqual(CODECS.map((c) => `deep-${c}`).sort());
    for (const d of dead) expect(d.reason).toMatch(/nested too deeply/);
  }, 240_000);

  it('dead-letters chunk events with an out-of-range seq or a wrong hash in compressed batches, and backups still commit', async () => {
    if (!kcat) return;
    const value = Buffer.from('abc');
    const hash = createHash('sha256').update(value).digest('hex');
    const meta = { snapshotId: 'c'.repeat(32), source: 'x', seq: 0, hash, size: value.length };
    const chunks = topicName(config, 'chunks');
    const headers = (m: object): Record<string, string> => ({
      [HEADERS.type]: 'chunk',
      [HEADERS.version]: '1',
      [HEADERS.meta]: JSON.stringify(m),
    });
    for (const codec of CODECS) {
      await kcatProduce(chunks, codec, { key: `seq-${codec}`, value, headers: headers({ ...meta, seq: 2 ** 32 }) });
      await kcatProduce(chunks, codec, {
        key: `hash-${codec}`,
        value,
        headers: headers({ ...meta, hash: 'd'.repeat(64) }),
      });
    }
    // Valid events behind them: a backup through the same partition commits.
    const tree = join(scratch, 'tree');
    await mkdir(tree, { recursive: true });
    writeFileSync(join(tree, 'file.bin'), Buffer.alloc(200_000, 9));
    const r = await runCli(['backup', tree, '--source', 'hostile-tree', '--json'], env);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    const { snapshotId } = backupSummary(r.stdout);
    expect((await probe.ledgerRecords()).filter((x) => x.snapshotId === snapshotId)).toHaveLength(1);

    await waitFor('eight chunk events dead-lettered', async () => {
      const dead = await deadLetters();
      return dead.filter((d) => d.topic === chunks).length >= 8;
    });
    const dead = (await deadLetters()).filter((d) => d.topic === chunks);
    for (const codec of CODECS) {
      expect(dead.find((d) => d.key === `seq-${codec}`)?.reason).toMatch(/invalid chunk metadata: seq/);
      expect(dead.find((d) => d.key === `hash-${codec}`)?.reason).toMatch(/chunk hash mismatch/);
    }
  }, 240_000);
});
