import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Producer } from 'kafkajs';
import { createIdempotentProducer } from '../../libs/bus';
import { blockKey } from '../../libs/store';
import { loadConfig } from '../../libs/config';
import { DEAD_LETTER_HEADERS, HEADERS, consumerGroupId, headerString, topicName } from '../../libs/events';
import { backupSummary, killAll, runCli, spawnCli, startService, type ServiceProcess } from '../support/processes';
import { RepositoryProbe, waitFor } from '../support/repository';
import { testEnv } from '../support/stack-config';
import { pseudoRandomBytes } from '../../libs/chunking/pseudo-random';
import { describeTree, generateTree } from '../support/tree';

/**
 * The whole pipeline on the real stack: producer (the backup command), chunk-workers,
 * verifiers and the archiver as separate processes, against real Kafka and versitygw.
 * Small chunk sizes make a few MiB cross many partitions and many blocks.
 */
const env = testEnv('pipeline', {
  BACKSTREAM_CHUNKING_MIN_SIZE: '16KiB',
  BACKSTREAM_CHUNKING_AVG_SIZE: '64KiB',
  BACKSTREAM_CHUNKING_MAX_SIZE: '256KiB',
  BACKSTREAM_TOPICS_PARTITIONS: '4',
  BACKSTREAM_PRODUCER_COMMIT_TIMEOUT_MS: '60000',
  BACKSTREAM_LOG_LEVEL: 'info',
});
const config = loadConfig({ env }).config;
const probe = new RepositoryProbe(config);
const services = new Map<string, ServiceProcess>();
const scratch = mkdtempSync(join(tmpdir(), 'backstream-pipeline-'));
const tree = join(scratch, 'tree');

async function backup(root: string, source: string): Promise<ReturnType<typeof backupSummary>> {
  const result = await runCli(['backup', root, '--source', source, '--json'], env);
  if (result.code !== 0) {
    const logs = [...services.values()].map((s) => `--- ${s.name}\n${s.output().split('\n').slice(-15).join('\n')}`);
    throw new Error(`backup exited ${result.code}:\n${result.stderr}\n${logs.join('\n')}`);
  }
  return backupSummary(result.stdout);
}

async function restart(name: string): Promise<void> {
  services.set(name, await startService(name, env));
}

beforeAll(async () => {
  const init = await runCli(['init'], env);
  expect(init.code).toBe(0);
  await generateTree(tree, { largeFileBytes: 6 * 1024 * 1024, smallFiles: 120 });
  await Promise.all(['chunk-worker', 'verifier', 'archiver'].map(restart));
});

afterAll(async () => {
  await killAll();
  probe.close();
  await rm(scratch, { recursive: true, force: true });
});

describe('the backup pipeline', () => {
  let first: ReturnType<typeof backupSummary>;

  it('backs up a tree with every kind of entry, and the manifests account for every byte', async () => {
    first = await backup(tree, 'tree');
    const records = (await probe.ledgerRecords()).filter((r) => r.snapshotId === first.snapshotId);
    expect(records).toHaveLength(1);
    const record = records[0]!;
    const files = await probe.snapshotFiles(record);
    const expected = await describeTree(tree);
    expect(files.get('.')?.entry.kind).toBe('dir');
    expect([...files.keys()].filter((p) => p !== '.').sort()).toEqual([...expected.keys()].sort());
    let bytes = 0;
    for (const [path, facts] of expected) {
      const { entry, chunks } = files.get(path)!;
      expect({ path, kind: entry.kind, mode: entry.mode, mtimeMs: entry.mtimeMs }).toEqual({
        path,
        kind: facts.kind,
        mode: facts.mode,
        mtimeMs: facts.mtimeMs,
      });
      if (facts.kind === 'symlink') expect(entry.target).toBe(facts.target);
      if (facts.kind !== 'file') continue;
      expect(chunks.reduce((n, c) => n + c.size, 0)).toBe(facts.size);
      expect(entry.contentHash).toBe(facts.sha256);
      // The blocks reassemble the file byte for byte.
      const whole = createHash('sha256');
      for (const c of chunks) whole.update(await probe.readChunk(c.hash));
      expect(whole.digest('hex')).toBe(facts.sha256);
      bytes += facts.size;
    }
    expect(record.totalBytes).toBe(bytes);
    expect(record.files).toBe([...expected.values()].filter((f) => f.kind === 'file').length);
    // The duplicated large file was stored once: fewer bytes sent than backed up.
    expect(first.sentBytes as number).toBeLessThan(bytes - 5 * 1024 * 1024);
  });

  it('sends no chunk bytes when the same tree is backed up again', async () => {
    const chunkMessagesBefore = await probe.messageCount('chunks');
    const again = await backup(tree, 'tree');
    expect(again.parent).toBe(first.snapshotId);
    expect(again.sentBytes).toBe(0);
    expect(again.readBytes).toBe(0);
    expect(again.filesUnchanged).toBe(again.files);
    expect((again.producedBytes as Record<string, number>).chunks ?? 0).toBe(0);
    // An independent count: not one message was added to the chunks topic.
    expect(await probe.messageCount('chunks')).toBe(chunkMessagesBefore);
    expect((await probe.ledgerRecords()).filter((r) => r.snapshotId === again.snapshotId)).toHaveLength(1);
  });

  it('moves malformed events of every topic to the dead-letter topic, with a reason, while valid ones flow', async () => {
    const producer: Producer = createIdempotentProducer(probe.kafka);
    await producer.connect();
    const hash = 'a'.repeat(64);
    const id = 'b'.repeat(32);
    const meta = { snapshotId: id, source: 'x', seq: 0, hash, size: 3 };
    const v1 = { [HEADERS.version]: '1' };
    const chunks = topicName(config, 'chunks');
    const stored = topicName(config, 'stored');
    const progress = topicName(config, 'progress');
    const bad: Array<{ topic: string; key: string; value: Buffer; headers: Record<string, string>; expect: RegExp }> = [
      { topic: chunks, key: 'k1', value: Buffer.from('abc'), headers: {}, expect: /missing header bs-type/ },
      {
        topic: chunks,
        key: 'k2',
        value: Buffer.from('abc'),
        headers: { [HEADERS.type]: 'chunk', [HEADERS.version]: '9', [HEADERS.meta]: JSON.stringify(meta) },
        expect: /unsupported chunk schema version "9"/,
      },
      {
        topic: chunks,
        key: 'k3',
        value: Buffer.from('abc'),
        headers: { [HEADERS.type]: 'chunk', ...v1, [HEADERS.meta]: JSON.stringify({ ...meta, hash: undefined }) },
        expect: /invalid chunk metadata: hash/,
      },
      {
        topic: chunks,
        key: 'k4',
        value: Buffer.from('abc'),
        headers: { [HEADERS.type]: 'chunk', ...v1, [HEADERS.meta]: JSON.stringify(meta) },
        expect: /chunk hash mismatch/,
      },
      {
        topic: chunks,
        key: 'k5',
        value: Buffer.from('abc'),
        headers: { [HEADERS.type]: 'chunk', ...v1, [HEADERS.meta]: '{not json' },
        expect: /chunk metadata is not JSON/,
      },
      {
        topic: stored,
        key: 'k6',
        value: Buffer.from([0xff, 0xfe, 0x00]),
        headers: { [HEADERS.type]: 'chunk-stored', ...v1 },
        expect: /chunk-stored event is not JSON/,
      },
      {
        topic: stored,
        key: 'k7',
        value: Buffer.from(JSON.stringify({ snapshotId: id, seq: 0 })),
        headers: { [HEADERS.type]: 'chunk-stored', ...v1 },
        expect: /invalid chunk-stored event: hash/,
      },
      {
        topic: progress,
        key: id,
        value: Buffer.from('[1,2'),
        headers: { [HEADERS.type]: 'file', ...v1 },
        expect: /file event is not JSON/,
      },
      {
        topic: progress,
        key: id,
        value: Buffer.from('{}'),
        headers: { [HEADERS.type]: 'mystery', ...v1 },
        expect: /unknown event type "mystery"/,
      },
    ];
    for (const b of bad) {
      await producer.send({ topic: b.topic, acks: -1, messages: [{ key: b.key, value: b.value, headers: b.headers }] });
    }
    await producer.disconnect();
    // Valid events behind them: a changed tree commits.
    writeFileSync(join(tree, 'docs', 'new-after-garbage.bin'), pseudoRandomBytes(300 * 1024, 99));
    const after = await backup(tree, 'tree');
    expect(after.chunksSent as number).toBeGreaterThan(0);
    expect((await probe.ledgerRecords()).filter((r) => r.snapshotId === after.snapshotId)).toHaveLength(1);

    const letters = (await probe.messages('dead-letters')).map((m) => ({
      key: m.message.key?.toString(),
      topic: headerString(m.message.headers, DEAD_LETTER_HEADERS.topic),
      reason: headerString(m.message.headers, DEAD_LETTER_HEADERS.reason) ?? '',
      value: m.message.value,
    }));
    for (const b of bad) {
      const letter = letters.find((l) => l.key === b.key && l.topic === b.topic && b.expect.test(l.reason));
      expect({
        key: b.key,
        found: letter !== undefined,
        reasons: letters.filter((l) => l.key === b.key).map((l) => l.reason),
      }).toEqual({
        key: b.key,
        found: true,
        reasons: expect.any(Array) as unknown,
      });
      expect(letter?.value?.equals(b.value)).toBe(true);
    }
  });

  it.each([
    ['chunk-worker', 1],
    ['verifier', 2],
    ['archiver', 3],
  ] as const)(
    'survives SIGKILL of the %s mid-backup: one ledger record, every block verified',
    async (victim, round) => {
      const root = join(scratch, `kill-${victim}`);
      await generateTree(root, { largeFileBytes: 4 * 1024 * 1024, smallFiles: 20, seed: 10 + round });
      const before = await probe.messageCount('chunks');
      const run = spawnCli(['backup', root, '--source', `kill-${victim}`, '--json'], env);
      // A random point in the first part of the backup's chunk stream.
      const threshold = 5 + Math.floor(Math.random() * 40);
      await waitFor(
        `${threshold} chunk events`,
        async () => (await probe.messageCount('chunks')) - before >= threshold,
      );
      await services.get(victim)!.kill('SIGKILL');
      await restart(victim);
      const exit = await new Promise<number | null>((res) => run.proc.once('exit', res));
      expect({ victim, threshold, exit, stderr: exit === 0 ? '' : run.stderr() }).toEqual({
        victim,
        threshold,
        exit: 0,
        stderr: '',
      });
      const summary = backupSummary(run.stdout());
      const records = (await probe.ledgerRecords()).filter((r) => r.snapshotId === summary.snapshotId);
      expect({ victim, records: records.length }).toEqual({ victim, records: 1 });
      for (const { entry, chunks } of (await probe.snapshotFiles(records[0]!)).values()) {
        const whole = createHash('sha256');
        for (const c of chunks) whole.update(await probe.readChunk(c.hash));
        if (entry.kind === 'file') expect(whole.digest('hex')).toBe(entry.contentHash);
      }
    },
  );

  it('shares the work between two chunk-workers and two verifiers in one group', async () => {
    const second = {
      'chunk-worker': await startService('chunk-worker', env),
      verifier: await startService('verifier', env),
    };
    const root = join(scratch, 'shared');
    await generateTree(root, { largeFileBytes: 8 * 1024 * 1024, smallFiles: 10, seed: 20 });
    // Wait until both members of each group hold partitions, then back up.
    const admin = probe.kafka.admin();
    await admin.connect();
    await waitFor('both groups rebalanced to two members', async () => {
      const { groups } = await admin.describeGroups([
        consumerGroupId(config, 'chunk-worker'),
        consumerGroupId(config, 'verifier'),
      ]);
      return groups.every((g) => g.state === 'Stable' && g.members.length === 2);
    });
    await admin.disconnect();
    await backup(root, 'shared');
    const processed: Record<string, number[]> = {};
    for (const [name, a, b] of [
      ['chunk-worker', services.get('chunk-worker')!, second['chunk-worker']],
      ['verifier', services.get('verifier')!, second.verifier],
    ] as const) {
      const before = [a.output().length, b.output().length];
      await Promise.all([a.kill('SIGTERM'), b.kill('SIGTERM')]);
      processed[name] = [a, b].map((p, i) => {
        const stopped = p
          .output()
          .slice(i === 0 ? 0 : 0)
          .split('\n')
          .filter((l) => l.includes('stage stopped'))
          .pop();
        void before;
        return stopped ? (JSON.parse(stopped) as { messages: number }).messages : -1;
      });
      await restart(name);
    }
    for (const [name, counts] of Object.entries(processed)) {
      expect({ name, bothWorked: counts.every((c) => c > 0) }).toEqual({ name, bothWorked: true });
    }
  });

  it('re-uploads a block that verification finds corrupt, from the source file, and then commits', async () => {
    const root = join(scratch, 'repair');
    await rm(root, { recursive: true, force: true });
    await mkdir(root, { recursive: true });
    // One small file is one chunk: its block's key is known before the backup.
    const content = pseudoRandomBytes(10_000, 4242);
    writeFileSync(join(root, 'victim.bin'), content);
    const hash = createHash('sha256').update(content).digest('hex');
    // A block with the right name and the wrong bytes, as bit rot or a bad write would leave it.
    await probe.store.put(blockKey(hash), Buffer.from('BSB\x01\x00 these are not the bytes', 'latin1'));
    const summary = await backup(root, 'repair');
    expect(summary.chunksFound).toBe(1);
    expect(summary.repairs).toBe(1);
    expect((await probe.readChunk(hash)).equals(content)).toBe(true);
    expect((await probe.ledgerRecords()).filter((r) => r.snapshotId === summary.snapshotId)).toHaveLength(1);
  });

  it('resumes an interrupted backup, sending only the chunks that were not stored yet', async () => {
    const root = join(scratch, 'interrupted');
    await generateTree(root, { largeFileBytes: 12 * 1024 * 1024, smallFiles: 30, seed: 30 });
    const before = await probe.messageCount('chunks');
    const run = spawnCli(['backup', root, '--source', 'interrupted', '--json'], env);
    await waitFor('a third of the chunks sent', async () => (await probe.messageCount('chunks')) - before >= 60);
    run.proc.kill('SIGKILL');
    await new Promise((res) => run.proc.once('exit', res));
    // Let the chunk-workers store whatever the first run delivered.
    await waitFor(
      'chunk-workers drained',
      async () => (await probe.groupLag(consumerGroupId(config, 'chunk-worker'), 'chunks')) === 0,
    );
    const storedBefore = await probe.blockHashes();
    const chunkMessagesBefore = await probe.messageCount('chunks');

    const rerun = await backup(root, 'interrupted');
    const record = (await probe.ledgerRecords()).find((r) => r.snapshotId === rerun.snapshotId)!;
    const hashes = new Set<string>();
    for (const { chunks } of (await probe.snapshotFiles(record)).values()) for (const c of chunks) hashes.add(c.hash);
    const alreadyStored = [...hashes].filter((h) => storedBefore.has(h)).length;
    expect(alreadyStored).toBeGreaterThan(0);
    expect(rerun.parent).toBeNull();
    expect(rerun.chunksFound).toBe(alreadyStored);
    expect(rerun.chunksSent).toBe(hashes.size - alreadyStored);
    expect((await probe.messageCount('chunks')) - chunkMessagesBefore).toBe(rerun.chunksSent);
  });
});
