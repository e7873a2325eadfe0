import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import {
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  renameSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pseudoRandomBytes } from '../../libs/chunking/pseudo-random';
import { loadConfig } from '../../libs/config';
import { withTimeout } from '../../libs/errors';
import { decodeJson } from '../../libs/events';
import { blockKey } from '../../libs/store';
import { backupSummary, killAll, runCli, spawnCli, startService, type ServiceProcess } from '../support/processes';
import { RepositoryProbe, waitFor } from '../support/repository';
import { testEnv } from '../support/stack-config';

/**
 * A source tree that changes under the walk, and names that are not UTF-8 (docs/security.md,
 * "Source trees"), backed up through the real pipeline: chunk-worker, verifier and archiver
 * as processes, the backup command as a process.
 *
 * The race between the walk's lstat and the open is made deterministic through the repair
 * path, which re-opens a file long after the walk read it: a block planted corrupt before
 * the backup makes the verifier ask for the chunk again, and the verifier is started only
 * once the snapshot is sealed and the test has swapped the file.
 */
const env = testEnv('source-tree', {
  BACKSTREAM_CHUNKING_MIN_SIZE: '16KiB',
  BACKSTREAM_CHUNKING_AVG_SIZE: '64KiB',
  BACKSTREAM_CHUNKING_MAX_SIZE: '256KiB',
  BACKSTREAM_TOPICS_PARTITIONS: '2',
  BACKSTREAM_PRODUCER_COMMIT_TIMEOUT_MS: '30000',
});
const config = loadConfig({ env }).config;
const probe = new RepositoryProbe(config);
const scratch = mkdtempSync(join(tmpdir(), 'backstream-source-tree-'));
let verifier: ServiceProcess | undefined;

/** Whether this process may make a FIFO (mkfifo) or a device node (mknod, needs root). */
function canMake(command: string, args: string[]): boolean {
  const dir = mkdtempSync(join(tmpdir(), 'backstream-probe-'));
  try {
    execFileSync(command, [join(dir, 'x'), ...args], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  } finally {
    execFileSync('rm', ['-rf', dir]);
  }
}
const fifo = canMake('mkfifo', []);
const devices = canMake('mknod', ['c', '1', '3']);

beforeAll(async () => {
  expect((await runCli(['init'], env)).code).toBe(0);
  await Promise.all(['chunk-worker', 'archiver'].map((name) => startService(name, env)));
});

afterAll(async () => {
  await killAll();
  probe.close();
  await rm(scratch, { recursive: true, force: true });
});

async function sealed(source: string): Promise<boolean> {
  return (await probe.messages('progress')).some(({ message }) => {
    try {
      const item = decodeJson(message, ['snapshot-sealed']);
      return item.event.source === source;
    } catch {
      return false;
    }
  });
}

/**
 * Backs up a one-file tree whose block is planted corrupt, swaps the file once the
 * snapshot is sealed, then lets the verifier run: the producer re-opens the swapped file
 * to repair the block. Returns the backup's exit, stderr and the chunk's hash.
 */
async function repairAfterSwap(
  source: string,
  swap: (victim: string, content: Buffer) => void,
): Promise<{ code: number | null; stderr: string; hash: string }> {
  const root = join(scratch, source);
  mkdirSync(root, { recursive: true });
  const content = pseudoRandomBytes(10_000, source.length * 7919);
  const victim = join(root, 'victim.bin');
  writeFileSync(victim, content);
  const hash = createHash('sha256').update(content).digest('hex');
  await probe.store.put(blockKey(hash), Buffer.from('BSB\x01\x00 these are not the bytes', 'latin1'));
  const run = spawnCli(['backup', root, '--source', source, '--json'], env);
  const exited = once(run.proc, 'exit') as Promise<[number | null]>;
  await waitFor(`snapshot of ${source} sealed`, () => sealed(source));
  swap(victim, content);
  verifier = await startService('verifier', env);
  try {
    const [code] = await withTimeout(exited, 45_000, () => new Error(`the backup hangs:\n${run.stderr()}`));
    return { code, stderr: run.stderr(), hash };
  } finally {
    run.proc.kill('SIGKILL');
    await verifier.kill('SIGTERM');
    verifier = undefined;
  }
}

describe('a file swapped between the walk and the repair re-read', () => {
  it('a symlink swapped in is not followed: the snapshot fails naming the file, the block is not rewritten', async () => {
    const elsewhere = join(scratch, 'elsewhere.bin');
    const outcome = await repairAfterSwap('swap-symlink', (victim, content) => {
      // The same bytes behind the link: only not following it tells the two apart.
      writeFileSync(elsewhere, content);
      renameSync(victim, `${victim}.moved`);
      symlinkSync(elsewhere, victim);
    });
    expect(outcome.code).toBe(1);
    expect(outcome.stderr).toMatch(/victim\.bin changed kind between scan and open \(now a symlink\)/);
    await expect(probe.readChunk(outcome.hash)).rejects.toThrow();
  });

  (fifo ? it : it.skip)('a FIFO swapped in is not opened for reading and does not hang the backup', async () => {
    const outcome = await repairAfterSwap('swap-fifo', (victim) => {
      renameSync(victim, `${victim}.moved`);
      execFileSync('mkfifo', [victim]);
    });
    expect(outcome.code).toBe(1);
    expect(outcome.stderr).toMatch(/victim\.bin changed kind between scan and open \(now a FIFO\)/);
  });

  it('another file renamed into its place is refused as replaced', async () => {
    const outcome = await repairAfterSwap('swap-inode', (victim, content) => {
      const other = `${victim}.other`;
      writeFileSync(other, content);
      renameSync(other, victim);
    });
    expect(outcome.code).toBe(1);
    expect(outcome.stderr).toMatch(/victim\.bin was replaced between scan and open \(inode changed\)/);
  });
});

/** Every entry below dir, by name bytes (hex, '/'-joined), with a file's content or a symlink's target. */
function treeByBytes(dir: Buffer, prefix = ''): Map<string, string> {
  const out = new Map<string, string>();
  for (const name of readdirSync(dir, { encoding: 'buffer' })) {
    const path = Buffer.concat([dir, Buffer.from('/'), name]);
    const key = `${prefix}${name.toString('hex')}`;
    const st = lstatSync(path);
    if (st.isDirectory()) {
      out.set(key, 'dir');
      for (const [k, v] of treeByBytes(path, `${key}/`)) out.set(k, v);
    } else if (st.isFile()) out.set(key, `file:${readFileSync(path).toString('hex')}`);
    else if (st.isSymbolicLink()) out.set(key, 'symlink');
    else out.set(key, 'special');
  }
  return out;
}

describe('a hostile tree, walked from the start', () => {
  const root = join(scratch, 'hostile');
  const name = (...bytes: Array<string | number[]>): Buffer =>
    Buffer.concat(bytes.map((b) => (typeof b === 'string' ? Buffer.from(b) : Buffer.from(b))));
  const at = (...parts: Buffer[]): Buffer => Buffer.concat([Buffer.from(root), ...parts.map((p) => name('/', [...p]))]);

  beforeAll(async () => {
    verifier = await startService('verifier', env);
    mkdirSync(join(root, 'outside-target'), { recursive: true });
    writeFileSync(join(root, 'plain.txt'), 'plain');
    // Three names that Node's default decoding maps to one string: "f\uFFFD".
    writeFileSync(at(name('f', [0xff])), 'content of f\\xff');
    writeFileSync(at(name('f', [0xfe])), 'content of f\\xfe');
    writeFileSync(join(root, 'f\uFFFD'), 'content of the real f\uFFFD');
    mkdirSync(at(name('d', [0xff])));
    writeFileSync(at(name('d', [0xff]), name('inner.txt')), 'inside d\\xff');
    mkdirSync(join(root, 'd\uFFFD'));
    writeFileSync(join(root, 'd\uFFFD', 'inner.txt'), 'inside the real d\uFFFD');
    symlinkSync(join(scratch, 'elsewhere-dir'), join(root, 'link-out'));
    mkdirSync(join(scratch, 'elsewhere-dir'), { recursive: true });
    writeFileSync(join(scratch, 'elsewhere-dir', 'not-mine.txt'), 'outside the tree');
    if (fifo) execFileSync('mkfifo', [join(root, 'a-fifo')]);
    if (devices) execFileSync('mknod', [join(root, 'a-device'), 'c', '1', '3']);
  });

  afterAll(async () => {
    await verifier?.kill('SIGTERM');
  });

  it('skips non-UTF-8 names and special files with a report, and restores no content under another name', async () => {
    const result = await runCli(['backup', root, '--source', 'hostile', '--json'], env);
    expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: expect.any(String) as unknown });
    const skipped = backupSummary(result.stdout).skipped as Array<{ path: string; reason: string }>;
    const expected = [
      { path: 'd\\xff', reason: expect.stringMatching(/name is not valid UTF-8/) as unknown },
      { path: 'f\\xfe', reason: expect.stringMatching(/name is not valid UTF-8/) as unknown },
      { path: 'f\\xff', reason: expect.stringMatching(/name is not valid UTF-8/) as unknown },
      ...(devices ? [{ path: 'a-device', reason: 'a character device: not backed up' }] : []),
      ...(fifo ? [{ path: 'a-fifo', reason: 'a FIFO: not backed up' }] : []),
    ];
    expect([...skipped].sort((a, b) => (a.path < b.path ? -1 : 1))).toEqual(
      [...expected].sort((a, b) => (a.path < b.path ? -1 : 1)),
    );

    const target = join(scratch, 'hostile-restored');
    const restored = await runCli(['restore', 'latest', '--source', 'hostile', '--target', target], env);
    expect({ code: restored.code, stderr: restored.stderr }).toEqual({
      code: 0,
      stderr: expect.any(String) as unknown,
    });
    const source = treeByBytes(Buffer.from(root));
    const back = treeByBytes(Buffer.from(target));
    // Every restored name holds what that very name holds in the source.
    for (const [path, what] of back) expect({ path, what }).toEqual({ path, what: source.get(path) });
    const hex = (s: string): string => Buffer.from(s).toString('hex');
    expect([...back.keys()].sort()).toEqual(
      [
        hex('plain.txt'),
        hex('f\uFFFD'),
        hex('d\uFFFD'),
        `${hex('d\uFFFD')}/${hex('inner.txt')}`,
        hex('link-out'),
        hex('outside-target'),
      ].sort(),
    );
  });
});
