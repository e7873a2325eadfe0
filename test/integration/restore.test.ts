import { existsSync, mkdirSync, mkdtempSync, readdirSync, watch, type FSWatcher } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createKafka } from '../../libs/bus';
import { loadConfig } from '../../libs/config';
import { topicName, type TopicRole } from '../../libs/events';
import { blockKey } from '../../libs/store';
import { backupSummary, killAll, runCli, spawnCli, startService } from '../support/processes';
import { RepositoryProbe } from '../support/repository';
import { testEnv } from '../support/stack-config';
import { comparable, describeTree, generateTree } from '../support/tree';

/** Restore by ledger replay, checked against the tree as the file system reports it. */
const env = testEnv('restore', {
  BACKSTREAM_CHUNKING_MIN_SIZE: '16KiB',
  BACKSTREAM_CHUNKING_AVG_SIZE: '64KiB',
  BACKSTREAM_CHUNKING_MAX_SIZE: '256KiB',
  BACKSTREAM_TOPICS_PARTITIONS: '2',
  BACKSTREAM_PRODUCER_COMMIT_TIMEOUT_MS: '60000',
});
const config = loadConfig({ env }).config;
const probe = new RepositoryProbe(config);
const scratch = mkdtempSync(join(tmpdir(), 'backstream-restore-'));
const tree = join(scratch, 'tree');
let snapshotId: string;

async function restore(
  args: string[],
): Promise<{ code: number | null; stderr: string; summary?: Record<string, number> }> {
  const r = await runCli(['restore', ...args, '--json'], env);
  const line = r.stdout.split('\n').find((l) => l.includes('"type":"summary"'));
  return { code: r.code, stderr: r.stderr, ...(line ? { summary: JSON.parse(line) as Record<string, number> } : {}) };
}

beforeAll(async () => {
  expect((await runCli(['init'], env)).code).toBe(0);
  // The large file spans more than 64 MiB: more than any one buffer, chunk or event may hold.
  await generateTree(tree, { largeFileBytes: 70 * 1024 * 1024, smallFiles: 40, seed: 77 });
  const services = await Promise.all(['chunk-worker', 'verifier', 'archiver'].map((s) => startService(s, env)));
  const b = await runCli(['backup', tree, '--source', 'restore-tree', '--json'], env);
  expect(b.code).toBe(0);
  snapshotId = backupSummary(b.stdout).snapshotId;
  // Restore needs only the ledger and the store: the services are stopped.
  await Promise.all(services.map((s) => s.kill('SIGTERM')));
}, 240_000);

afterAll(async () => {
  await killAll();
  probe.close();
  await rm(scratch, { recursive: true, force: true });
});

describe('restore', () => {
  it('lists the snapshot and restores it byte-identical, with modes, mtimes and symlinks', async () => {
    const listed = await runCli(['snapshots', '--source', 'restore-tree', '--json'], env);
    expect(
      listed.stdout
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { snapshotId: string }).snapshotId),
    ).toEqual([snapshotId]);
    const target = join(scratch, 'full');
    const r = await restore(['latest', '--source', 'restore-tree', '--target', target]);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    expect(comparable(await describeTree(target))).toEqual(comparable(await describeTree(tree)));
    expect(readdirSync(join(target, 'data')).filter((n) => n.includes('backstream-restore'))).toEqual([]);

    // A rerun finds every file already correct and rewrites none.
    const again = await restore([snapshotId.slice(0, 8), '--target', target]);
    expect(again.code).toBe(0);
    expect(again.summary?.filesSkipped).toBe(again.summary?.files);
    expect(again.summary?.chunksVerified).toBe(0);
  });

  it('restores only the chosen subtree with --include', async () => {
    const target = join(scratch, 'subtree');
    const r = await restore([snapshotId, '--target', target, '--include', 'docs']);
    expect(r.code).toBe(0);
    expect(readdirSync(target).sort()).toEqual(['docs']);
    const restored = comparable(await describeTree(target));
    const expected = comparable(await describeTree(tree)).filter(([p]) => p === 'docs' || p.startsWith('docs/'));
    expect(restored).toEqual(expected);
  });

  it('finishes an interrupted restore (SIGKILL) on a rerun, skipping the files already restored', async () => {
    const target = join(scratch, 'interrupted');
    // Watch the directories of the two 70 MiB files; kill the restore once one of them is in
    // place and the other is being written to its temporary file.
    const dirs = ['data', 'data/deep/deeper'].map((d) => join(target, d));
    for (const d of dirs) mkdirSync(d, { recursive: true });
    const temps = (): string[] => dirs.flatMap((d) => readdirSync(d).filter((n) => n.endsWith('.backstream-restore')));
    const watchers: FSWatcher[] = [];
    const midway = new Promise<void>((resolveMidway) => {
      const check = (): void => {
        const oneDone = ['data/large.bin', 'data/deep/deeper/copy-of-large.bin'].some((f) =>
          existsSync(join(target, f)),
        );
        if (oneDone && temps().length > 0) resolveMidway();
      };
      for (const d of dirs) watchers.push(watch(d, check));
    });
    // One request and one file at a time, so the files are restored in order and the kill
    // lands while the second large file is being written.
    const first = spawnCli(['restore', snapshotId, '--target', target, '--json'], {
      ...env,
      BACKSTREAM_STORE_CONCURRENCY: '1',
    });
    const exited = new Promise<number | null>((r) => first.proc.once('exit', (code) => r(code)));
    try {
      const winner = await Promise.race([midway.then(() => 'midway' as const), exited.then(() => 'exit' as const)]);
      expect(winner).toBe('midway');
    } finally {
      for (const w of watchers) w.close();
    }
    first.proc.kill('SIGKILL');
    expect(await exited).toBeNull();
    expect(first.proc.signalCode).toBe('SIGKILL');
    // Killed mid-file: its temporary file is left (a symlink made under a temporary name
    // while the file was written may be left beside it).
    expect(temps().length).toBeGreaterThanOrEqual(1);

    const rerun = await restore([snapshotId, '--target', target]);
    expect({ code: rerun.code, stderr: rerun.stderr }).toEqual({ code: 0, stderr: '' });
    expect(rerun.summary?.filesSkipped).toBeGreaterThanOrEqual(1);
    expect(rerun.summary?.filesSkipped).toBeLessThan(rerun.summary?.files ?? 0);
    // Same tree, and no temporary file of the killed run is left anywhere.
    expect(comparable(await describeTree(target))).toEqual(comparable(await describeTree(tree)));
  });

  it('restores from the ledger and object storage alone, after every other topic is deleted', async () => {
    const admin = createKafka(config.kafka, { clientSuffix: 'test-admin' }).admin();
    await admin.connect();
    try {
      const others: TopicRole[] = ['chunks', 'stored', 'progress', 'ledger-intents', 'dead-letters'];
      await admin.deleteTopics({ topics: others.map((role) => topicName(config, role)) });
      const left = (await admin.listTopics()).filter((t) => t.startsWith(config.kafka.topicPrefix));
      expect(left).toEqual([topicName(config, 'ledger')]);
    } finally {
      await admin.disconnect();
    }
    const target = join(scratch, 'ledger-only');
    const r = await restore([snapshotId, '--target', target]);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    expect(comparable(await describeTree(target))).toEqual(comparable(await describeTree(tree)));
  });

  it('fails naming the file and the block when a block is corrupted or deleted, and writes no wrong file', async () => {
    const files = await probe.snapshotFiles((await probe.ledgerRecords()).find((r) => r.snapshotId === snapshotId)!);
    const victim = files.get('docs/text.txt')!;
    const key = blockKey(victim.chunks[1]!.hash);
    const block = await probe.store.get(key);
    block[block.length - 3] = (block[block.length - 3] as number) ^ 0xff;
    await probe.store.put(key, block);
    const corrupted = await restore([snapshotId, '--target', join(scratch, 'corrupt'), '--include', 'docs']);
    expect(corrupted.code).toBe(1);
    expect(corrupted.stderr).toContain('docs/text.txt');
    expect(corrupted.stderr).toContain(key);
    expect(existsSync(join(scratch, 'corrupt', 'docs', 'text.txt'))).toBe(false);

    await probe.store.delete(key);
    const deleted = await restore([snapshotId, '--target', join(scratch, 'deleted'), '--include', 'docs']);
    expect(deleted.code).toBe(1);
    expect(deleted.stderr).toMatch(new RegExp(`docs/text.txt: block ${key} is missing`));
    expect(existsSync(join(scratch, 'deleted', 'docs', 'text.txt'))).toBe(false);
  });
});
