import { mkdtempSync, writeFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KafkaMessage } from 'kafkajs';
import { BlockEncoder } from '../../libs/blocks';
import { loadConfig } from '../../libs/config';
import {
  HEADERS,
  consumerGroupId,
  decodeLedgerMessage,
  headerString,
  topicName,
  type ChangesCommitRecord,
  type SnapshotCommitRecord,
} from '../../libs/events';
import { sha256Hex } from '../../libs/manifest';
import { backupSummary, killAll, runCli, spawnCli, startService, type ServiceProcess } from '../support/processes';
import { RepositoryProbe, createKafka, waitFor } from '../support/repository';
import { TEST_SIGNING_KEY, testEnv } from '../support/stack-config';
import { hasWitness, witness } from '../support/witness';

/**
 * Unsigned, forged and duplicated records on the ledger topic (published with kcat, as
 * anyone with write access to Kafka can), and manifest keys outside `snapshots/`: every
 * process that acts on the ledger reads it through the one trusted follower, so none of
 * them believes what the ledger key did not sign (docs/security.md, "One trusted ledger").
 */
const base = testEnv('ledger-trust', {
  BACKSTREAM_TOPICS_PARTITIONS: '2',
  BACKSTREAM_PRODUCER_COMMIT_TIMEOUT_MS: '60000',
});
const upstream = `${base.BACKSTREAM_KAFKA_TOPIC_PREFIX}upstream`;
const env = {
  ...base,
  BACKSTREAM_CHANGES_TOPICS: upstream,
  BACKSTREAM_CHANGES_SOURCE: 'trust.kv',
  BACKSTREAM_CHANGES_BATCH_MAX_EVENTS: '100',
  BACKSTREAM_CHANGES_BATCH_MAX_MS: '300',
};
const config = loadConfig({ env }).config;
const probe = new RepositoryProbe(config);
const scratch = mkdtempSync(join(tmpdir(), 'backstream-ledger-trust-'));
const tree = join(scratch, 'tree');
const SOURCE = 'trust-tree';
const FORGED_AT = '2000-01-01T00:00:00.000Z';
const services = new Map<string, ServiceProcess>();
let tools = false;
let files = 0;

/** Publishes one message with kcat: the value is a file's whole content, sent as it is. */
async function kcatProduce(topic: string, key: string, value: Buffer, headers: Record<string, string>): Promise<void> {
  files += 1;
  const file = join(scratch, `message-${files}`);
  writeFileSync(file, value);
  await witness('kcat', [
    '-P',
    '-b',
    config.kafka.brokers.join(','),
    '-t',
    topic,
    '-k',
    key,
    ...Object.entries(headers).flatMap(([k, v]) => ['-H', `${k}=${v}`]),
    file,
  ]);
}

/** A ledger record as someone without the key writes it: well-formed, unsigned. */
async function forgeRecord(record: SnapshotCommitRecord | ChangesCommitRecord, type: string): Promise<void> {
  const value = Buffer.from(JSON.stringify({ seq: 0, prev: '0'.repeat(64), type, record }));
  await kcatProduce(topicName(config, 'ledger'), record.snapshotId, value, {
    [HEADERS.type]: 'ledger-record',
    [HEADERS.version]: '1',
  });
}

/** The records of the ledger topic that the test key signed, in order. */
async function signedRecords(): Promise<Array<{ message: KafkaMessage; type: string; record: unknown }>> {
  const out: Array<{ message: KafkaMessage; type: string; record: unknown }> = [];
  for (const { message } of await probe.messages('ledger')) {
    let decoded;
    try {
      decoded = decodeLedgerMessage(message);
    } catch {
      continue;
    }
    if (decoded.kind === 'record' && TEST_SIGNING_KEY.verifying.verify(decoded.value, decoded.signature)) {
      out.push({ message, type: decoded.chained.type, record: decoded.chained.record });
    }
  }
  return out;
}

async function signedSnapshots(): Promise<SnapshotCommitRecord[]> {
  return (await signedRecords())
    .filter((r) => r.type === 'snapshot-commit')
    .map((r) => r.record as SnapshotCommitRecord);
}

/** The id of a snapshot once its producer has sealed it (from the progress topic). */
async function sealedSnapshotId(): Promise<string> {
  let id: string | undefined;
  await waitFor('a snapshot-sealed event', async () => {
    for (const { message } of await probe.messages('progress')) {
      if (headerString(message.headers, HEADERS.type) === 'snapshot-sealed') id = message.key?.toString();
    }
    return id !== undefined;
  });
  return id as string;
}

async function backup(): Promise<ReturnType<typeof backupSummary>> {
  const r = await runCli(['backup', tree, '--source', SOURCE, '--json'], env);
  if (r.code !== 0) throw new Error(`backup exited ${r.code}:\n${r.stderr}`);
  return backupSummary(r.stdout);
}

async function snapshotIds(e: Record<string, string> = env): Promise<string[]> {
  const r = await runCli(['snapshots', '--json'], e);
  if (r.code !== 0) throw new Error(`snapshots exited ${r.code}:\n${r.stderr}`);
  return r.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => (JSON.parse(l) as { snapshotId: string }).snapshotId);
}

beforeAll(async () => {
  tools = (await hasWitness('kcat')) && (await hasWitness('aws'));
  await mkdir(join(tree, 'dir'), { recursive: true });
  await writeFile(join(tree, 'a.txt'), 'the first file\n');
  await writeFile(join(tree, 'dir', 'b.bin'), Buffer.alloc(200_000, 7));
  expect((await runCli(['init'], env)).code).toBe(0);
  for (const name of ['chunk-worker', 'verifier']) services.set(name, await startService(name, env));
}, 240_000);

afterAll(async () => {
  await killAll();
  probe.close();
  await rm(scratch, { recursive: true, force: true });
});

describe('one trusted ledger', () => {
  it('a reader without a ledger key exits 2 naming the settings, unless ledger.allowUnsigned is set', async () => {
    const noKey = { ...env, BACKSTREAM_LEDGER_SIGNING_KEY: '' };
    const refused = await runCli(['snapshots'], noKey);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('ledger.publicKey');
    expect(refused.stderr).toContain('ledger.allowUnsigned');
    const allowed = await runCli(['snapshots'], { ...noKey, BACKSTREAM_LEDGER_ALLOW_UNSIGNED: 'true' });
    expect(allowed.code).toBe(0);
    expect(allowed.stderr).toMatch(/NOT verified/);
    // backup needs the key too (parent lookup, commit wait); services that never read the ledger do not.
    expect((await runCli(['backup', tree, '--source', SOURCE], noKey)).code).toBe(2);
  }, 60_000);

  it('an unsigned record with a real snapshot id neither makes the archiver drop it nor backup report it committed', async () => {
    if (!tools) return;
    // The archiver is not running yet: the snapshot seals and waits, and the forgery comes first.
    const run = spawnCli(['backup', tree, '--source', SOURCE, '--json'], env);
    const exited = new Promise<number | null>((res) => run.proc.once('exit', (c) => res(c)));
    const id = await sealedSnapshotId();
    const sealedRecord: SnapshotCommitRecord = {
      snapshotId: id,
      source: SOURCE,
      host: 'forger',
      root: '/forged',
      parent: null,
      startedAt: FORGED_AT,
      finishedAt: FORGED_AT,
      chunkCount: 0,
      files: 0,
      dirs: 0,
      symlinks: 0,
      totalBytes: 0,
      sentBytes: 0,
      committedAt: FORGED_AT,
      manifest: { key: `snapshots/${id}.json`, sha256: '0'.repeat(64), size: 1 },
    };
    await forgeRecord(sealedRecord, 'snapshot-commit');
    services.set('archiver', await startService('archiver', env));
    expect(await exited).toBe(0);
    const summary = backupSummary(run.stdout()) as { snapshotId: string; committedAt: string };
    expect(summary.snapshotId).toBe(id);
    expect(summary.committedAt).not.toBe(FORGED_AT);
    expect((await signedSnapshots()).map((r) => r.snapshotId)).toContain(id);
  }, 180_000);

  it('backup does not adopt a forged parent, and readers do not list it', async () => {
    if (!tools) return;
    const real = (await signedSnapshots()).at(-1) as SnapshotCommitRecord;
    const forgedId = 'f'.repeat(32);
    // The forged record names the real manifest: a parent cursor would read it without complaint.
    await forgeRecord({ ...real, snapshotId: forgedId, committedAt: new Date().toISOString() }, 'snapshot-commit');
    const summary = await backup();
    expect(summary.parent).toBe(real.snapshotId);
    const listed = await snapshotIds();
    expect(listed).not.toContain(forgedId);
    expect(listed).toContain(real.snapshotId);
  }, 120_000);

  it('a byte-identical repeat of a signed record and a second archiver (second sequencer) do not wedge the sequencer', async () => {
    if (!tools) return;
    // A signed record to repeat, whatever the tests before left (also when run alone).
    if (!services.has('archiver')) services.set('archiver', await startService('archiver', env));
    await writeFile(join(tree, 'c0.txt'), 'before the repeat\n');
    await backup();
    const [first] = await signedRecords();
    if (!first) throw new Error('no signed record');
    const headers = Object.fromEntries(
      Object.keys(first.message.headers ?? {}).map((k) => [k, headerString(first.message.headers, k) as string]),
    );
    await kcatProduce(
      topicName(config, 'ledger'),
      first.message.key?.toString() ?? '',
      first.message.value as Buffer,
      headers,
    );
    // A second archiver joins; the first leaves, so the second's sequencer rebuilds over the repeat.
    services.set('archiver-2', await startService('archiver', env));
    await services.get('archiver')?.kill('SIGTERM');
    const before = (await signedSnapshots()).length;
    await writeFile(join(tree, 'c.txt'), 'after the repeat\n');
    const summary = await backup();
    const after = await signedSnapshots();
    expect(after.length).toBe(before + 1);
    expect(after.at(-1)?.snapshotId).toBe(summary.snapshotId);
    // And again after the first archiver is back: two sequencers, one active, no fork.
    services.set('archiver', await startService('archiver', env));
    await writeFile(join(tree, 'd.txt'), 'two sequencers\n');
    expect((await backup()).snapshotId).toBe((await signedSnapshots()).at(-1)?.snapshotId);
    const verify = await runCli(['ledger', 'verify', '--json'], env);
    // The audit still names the repeat (and the unsigned forgeries); nothing else.
    const kinds = new Set(
      verify.stdout
        .split('\n')
        .filter((l) => l.includes('"type":"finding"'))
        .map((l) => (JSON.parse(l) as { kind: string }).kind),
    );
    expect([...kinds].sort()).toEqual(['duplicate', 'unsigned']);
  }, 240_000);

  it('a signed record whose manifest key is outside snapshots/ is refused by readers', async () => {
    if (!tools) return;
    if (!services.has('archiver')) services.set('archiver', await startService('archiver', env));
    await writeFile(join(tree, 'e.txt'), 'a real snapshot to copy\n');
    const real = (await backup()).snapshotId;
    const record = (await signedSnapshots()).find((r) => r.snapshotId === real) as SnapshotCommitRecord;
    const forgedId = 'e'.repeat(32);
    const manifest = Buffer.from(
      JSON.stringify({
        version: 1,
        ...Object.fromEntries(Object.entries(record).filter(([k]) => k !== 'committedAt' && k !== 'manifest')),
        snapshotId: forgedId,
        entries: 0,
        segments: [],
      }),
    );
    const sha256 = sha256Hex(manifest);
    const key = `staging/${SOURCE}/${sha256}`;
    const block = new BlockEncoder(3).encode(manifest);
    const file = join(scratch, 'forged-manifest');
    writeFileSync(file, block);
    // A publisher's right (s3:PutObject on staging/*) is enough to place it.
    await witness(
      'aws',
      ['--endpoint-url', config.s3.endpoint, 's3', 'cp', file, `s3://${config.s3.bucket}/${config.s3.prefix}${key}`],
      {
        AWS_ACCESS_KEY_ID: config.s3.accessKeyId,
        AWS_SECRET_ACCESS_KEY: config.s3.secretAccessKey,
        AWS_DEFAULT_REGION: config.s3.region,
      },
    );
    // A writer of ledger-intents gets any well-formed intent signed by the sequencer.
    const intent = { ...record, snapshotId: forgedId, manifest: { key, sha256, size: block.length } };
    await kcatProduce(topicName(config, 'ledger-intents'), forgedId, Buffer.from(JSON.stringify(intent)), {
      [HEADERS.type]: 'snapshot-commit',
      [HEADERS.version]: '1',
    });
    await waitFor('the forged intent signed', async () =>
      (await signedSnapshots()).some((r) => r.snapshotId === forgedId),
    );
    const ls = await runCli(['ls', forgedId], env);
    expect(ls.code).toBe(1);
    expect(ls.stderr).toContain('snapshots/');
  }, 120_000);

  it('the change ingest does not commit change-topic offsets past data never stored on a forged changes-commit', async () => {
    if (!tools) return;
    const admin = createKafka(config.kafka, { clientSuffix: 'test-admin' }).admin();
    await admin.connect();
    try {
      await admin.createTopics({ waitForLeaders: true, topics: [{ topic: upstream, numPartitions: 1 }] });
      const events = Array.from({ length: 10 }, (_, i) =>
        JSON.stringify({ source: 'trust.kv', key: `k${i}`, op: 'upsert', ts: Date.now(), data: { i } }),
      );
      // Before any change is read, the ledger "commits" all ten offsets of the partition.
      await forgeRecord(
        {
          snapshotId: 'd'.repeat(32),
          topic: upstream,
          partition: 0,
          fromOffset: '0',
          toOffset: '9',
          versions: 10,
          sources: ['trust.kv'],
          minTsMs: null,
          maxTsMs: null,
          committedAt: new Date().toISOString(),
          manifest: { key: `snapshots/${'d'.repeat(32)}.json`, sha256: '0'.repeat(64), size: 1 },
        },
        'changes-commit',
      );
      const file = join(scratch, 'changes.txt');
      writeFileSync(file, events.map((e, i) => `k${i}|${e}`).join('\n') + '\n');
      await witness('kcat', ['-P', '-b', config.kafka.brokers.join(','), '-t', upstream, '-K', '|', '-l', file]);
      services.set('producer', await startService('producer', env));
      const group = consumerGroupId(config, 'producer');
      let committed = -1;
      await waitFor(
        'the producer to commit the change topic',
        async () => {
          const offsets = (await admin.fetchOffsets({ groupId: group, topics: [upstream] }))[0]?.partitions ?? [];
          committed = Number(offsets[0]?.offset ?? -1);
          return committed >= 10;
        },
        120_000,
        200,
      );
      // Every committed offset is in a signed changes-commit record: the data is stored.
      const versions = (await signedRecords())
        .filter((r) => r.type === 'changes-commit' && (r.record as ChangesCommitRecord).topic === upstream)
        .reduce((n, r) => n + (r.record as ChangesCommitRecord).versions, 0);
      expect(versions).toBe(10);
    } finally {
      await admin.disconnect();
    }
  }, 180_000);
});
