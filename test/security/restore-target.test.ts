import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync } from 'node:fs';
import { chmod, lstat, mkdir, readFile, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../libs/config';
import { topicName } from '../../libs/events';
import { killAll, runCli, startService, type CliResult } from '../support/processes';
import { RepositoryProbe, waitFor } from '../support/repository';
import { testEnv } from '../support/stack-config';
import { describeTree } from '../support/tree';
import { hasWitness, witness } from '../support/witness';

/**
 * Restore never touches anything outside its target, whatever the snapshot says. Hostile
 * file lists are committed the way a compromised producer (or anyone who can write the
 * progress topic) would: `file` and `snapshot-sealed` events published with kcat, which
 * the real archiver writes into segments and commits with a real signed ledger record.
 */
const env = testEnv('restore-target', { BACKSTREAM_TOPICS_PARTITIONS: '1' });
const config = loadConfig({ env }).config;
const probe = new RepositoryProbe(config);
const scratch = mkdtempSync(join(tmpdir(), 'backstream-restore-target-'));
const T = Date.parse('2021-06-01T10:00:00.000Z');
const EMPTY_SHA256 = createHash('sha256').update('').digest('hex');
let kcat = false;

interface HostileEntry {
  path: string;
  kind: 'file' | 'dir' | 'symlink';
  mode?: number;
  target?: string;
  /** A file's claimed size and hash; an empty file by default (no chunks needed). */
  size?: number;
  contentHash?: string;
}

/** Publishes the entries (in the given order) and a seal with kcat; resolves once the archiver has committed them. */
async function commitHostile(entries: HostileEntry[]): Promise<string> {
  const snapshotId = randomBytes(16).toString('hex');
  const topic = topicName(config, 'progress');
  const files = entries.map((e, i) =>
    JSON.stringify({
      snapshotId,
      path: e.path,
      kind: e.kind,
      mode: e.mode ?? (e.kind === 'dir' ? 0o755 : 0o644),
      mtimeMs: T + i * 1000,
      size: e.kind === 'file' ? (e.size ?? 0) : 0,
      ...(e.target !== undefined ? { target: e.target } : {}),
      part: 0,
      last: true,
      chunks: [],
      ...(e.kind === 'file' ? { contentHash: e.contentHash ?? EMPTY_SHA256 } : {}),
    }),
  );
  const sealed = JSON.stringify({
    snapshotId,
    source: 'hostile',
    host: 'attacker',
    root: '/',
    parent: null,
    startedAt: new Date(T).toISOString(),
    finishedAt: new Date(T + 1000).toISOString(),
    chunkCount: 0,
    fileEventCount: entries.length,
    files: entries.filter((e) => e.kind === 'file').length,
    dirs: entries.filter((e) => e.kind === 'dir').length,
    symlinks: entries.filter((e) => e.kind === 'symlink').length,
    totalBytes: 0,
    sentBytes: 0,
  });
  const publish = async (type: string, lines: string[]): Promise<void> => {
    const file = join(scratch, `${snapshotId}.${type}.jsonl`);
    await writeFile(file, `${lines.join('\n')}\n`);
    const brokers = config.kafka.brokers.join(',');
    const headers = ['-H', `bs-type=${type}`, '-H', 'bs-version=1'];
    await witness('kcat', ['-P', '-b', brokers, '-t', topic, '-p', '0', '-k', snapshotId, ...headers, '-l', file]);
  };
  await publish('file', files);
  await publish('snapshot-sealed', [sealed]);
  await waitFor(`the commit of ${snapshotId}`, async () =>
    (await probe.ledgerRecords()).some((r) => r.snapshotId === snapshotId),
  );
  return snapshotId;
}

/** A file outside every target, whose content, mode and mtime must never change. */
interface Sentinel {
  dir: string;
  file: string;
  facts(): Promise<unknown>;
}

async function sentinel(name: string): Promise<Sentinel> {
  const dir = join(scratch, `outside-${name}`);
  const file = join(dir, 'a');
  await mkdir(dir);
  await writeFile(file, 'do not touch\n');
  await chmod(file, 0o600);
  await utimes(file, new Date(T - 5000), new Date(T - 5000));
  await chmod(dir, 0o700);
  await utimes(dir, new Date(T - 9000), new Date(T - 9000));
  const facts = async (): Promise<unknown> => {
    const [d, f] = await Promise.all([lstat(dir), lstat(file)]);
    return {
      dir: { mode: d.mode & 0o7777, mtimeMs: d.mtimeMs },
      file: { mode: f.mode & 0o7777, mtimeMs: f.mtimeMs, content: await readFile(file, 'utf8') },
    };
  };
  return { dir, file, facts };
}

async function restore(snapshotId: string, target: string, extra: string[] = []): Promise<CliResult> {
  return runCli(['restore', snapshotId, '--target', target, ...extra], env);
}

/** The paths below a target; none when restore did not even create it. */
const listing = async (dir: string): Promise<string[]> =>
  existsSync(dir) ? [...(await describeTree(dir)).keys()] : [];

const summaryOf = (r: CliResult): Record<string, unknown> =>
  JSON.parse(r.stdout.split('\n').find((l) => l.includes('"type":"summary"')) ?? '{}') as Record<string, unknown>;

beforeAll(async () => {
  kcat = await hasWitness('kcat');
  expect((await runCli(['init'], env)).code).toBe(0);
  await startService('archiver', env);
}, 240_000);

afterAll(async () => {
  await killAll();
  probe.close();
  await rm(scratch, { recursive: true, force: true });
});

describe('restore refuses an inconsistent snapshot before writing anything', () => {
  it('a path that changes kind (dir x, x/a, then symlink x -> outside): outside and target untouched', async () => {
    if (!kcat) return;
    const outside = await sentinel('kind-change');
    const target = join(scratch, 'kind-change');
    // The target already holds x/a with the content the snapshot claims: restore would only hash it and set its metadata.
    const big = randomBytes(48 * 1024 * 1024);
    await mkdir(join(target, 'x'), { recursive: true });
    await writeFile(join(target, 'x', 'a'), big);
    const before = await describeTree(target);
    const id = await commitHostile([
      { path: '.', kind: 'dir' },
      { path: 'x', kind: 'dir', mode: 0o777 },
      {
        path: 'x/a',
        kind: 'file',
        mode: 0o777,
        size: big.length,
        contentHash: createHash('sha256').update(big).digest('hex'),
      },
      { path: 'x', kind: 'symlink', target: outside.dir },
    ]);
    const outsideBefore = await outside.facts();
    const r = await restore(id, target);
    expect(await outside.facts()).toEqual(outsideBefore);
    expect(await describeTree(target)).toEqual(before);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/"x" appears twice \(dir, then symlink\)/);
  });

  it('a duplicate path and a path below a symlink: names both entries, writes nothing', async () => {
    if (!kcat) return;
    const outside = await sentinel('duplicate');
    const target = join(scratch, 'duplicate');
    const id = await commitHostile([
      { path: '.', kind: 'dir' },
      { path: 'a.txt', kind: 'file' },
      { path: 'dup', kind: 'file', mode: 0o600 },
      { path: 'dup', kind: 'file', mode: 0o666 },
      { path: 'l', kind: 'symlink', target: outside.dir },
      { path: 'l/a', kind: 'file', mode: 0o777 },
    ]);
    const outsideBefore = await outside.facts();
    const r = await restore(id, target);
    expect(await outside.facts()).toEqual(outsideBefore);
    // Nothing was restored: not even the entries before the first bad one.
    expect(await listing(target)).toEqual([]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('"dup" appears twice');
    expect(r.stderr).toContain('"l/a" is below "l", a symlink');
  });

  it.each([
    [
      'a file named "."',
      [
        { path: '.', kind: 'dir' },
        { path: '.', kind: 'file' },
      ],
      '"."',
    ],
    [
      'an empty component',
      [
        { path: 'a', kind: 'dir' },
        { path: 'a//b', kind: 'file' },
      ],
      '"a//b"',
    ],
    [
      'a "." component',
      [
        { path: 'a', kind: 'dir' },
        { path: 'a/./b', kind: 'file' },
      ],
      '"a/./b"',
    ],
    ['a trailing slash', [{ path: 'x/', kind: 'file' }], '"x/"'],
    ['a ".." component', [{ path: '..', kind: 'dir' }], '".."'],
    ['an absolute path', [{ path: '/tmp/backstream-evil', kind: 'file' }], '"/tmp/backstream-evil"'],
    [
      'entries out of order',
      [
        { path: 'b', kind: 'file' },
        { path: 'a', kind: 'file' },
      ],
      '"a"',
    ],
    ['a file without its directory', [{ path: 'nodir/f', kind: 'file' }], '"nodir/f"'],
  ] as Array<[string, HostileEntry[], string]>)(
    '%s: refused as unsafe, naming the entry',
    async (_, entries, named) => {
      if (!kcat) return;
      const target = join(scratch, `degenerate-${randomBytes(4).toString('hex')}`);
      const id = await commitHostile(entries);
      const r = await restore(id, target);
      expect(await listing(target)).toEqual([]);
      expect(r.stderr).not.toMatch(/RangeError|call stack/);
      expect({ code: r.code, unsafe: r.stderr.includes('cannot be restored safely') }).toEqual({
        code: 1,
        unsafe: true,
      });
      expect(r.stderr).toContain(named);
    },
  );
});

describe('restore into a directory that is not empty', () => {
  async function seeded(name: string): Promise<string> {
    const target = join(scratch, name);
    await mkdir(join(target, 'keep'), { recursive: true });
    await writeFile(join(target, 'keep', 'user.txt'), 'mine\n');
    await writeFile(join(target, 'mine.txt'), 'mine too\n');
    await writeFile(join(target, 'changed.txt'), 'my edit\n');
    await symlink('mine.txt', join(target, 'link'));
    await mkdir(join(target, 'emptydir'));
    return target;
  }
  let id: string;
  beforeAll(async () => {
    if (!kcat) return;
    id = await commitHostile([
      { path: '.', kind: 'dir' },
      { path: 'changed.txt', kind: 'file' },
      { path: 'emptydir', kind: 'file' },
      { path: 'keep', kind: 'file' },
      { path: 'link', kind: 'file' },
      { path: 'new.txt', kind: 'file' },
    ]);
  });

  it('by default replaces changed files only: a directory or symlink in the way is left alone and reported', async () => {
    if (!kcat) return;
    const target = await seeded('overwrite-default');
    const r = await restore(id, target, ['--json']);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    const tree = await describeTree(target);
    expect(tree.get('keep')?.kind).toBe('dir');
    expect(await readFile(join(target, 'keep', 'user.txt'), 'utf8')).toBe('mine\n');
    expect(tree.get('link')).toMatchObject({ kind: 'symlink', target: 'mine.txt' });
    expect(tree.get('emptydir')?.kind).toBe('dir');
    expect(await readFile(join(target, 'mine.txt'), 'utf8')).toBe('mine too\n');
    expect(tree.get('changed.txt')).toMatchObject({ kind: 'file', size: 0 });
    expect(tree.get('new.txt')).toMatchObject({ kind: 'file', size: 0 });
    const leftAlone = r.stdout
      .split('\n')
      .filter((l) => l.includes('"type":"left-alone"'))
      .map((l) => (JSON.parse(l) as { path: string }).path)
      .sort();
    expect(leftAlone).toEqual(['emptydir', 'keep', 'link']);
    expect(summaryOf(r).leftAlone).toBe(3);
    // The text output says what was left alone, too.
    const text = await restore(id, await seeded('overwrite-default-text'));
    expect(text.stdout).toMatch(/left alone: keep: a directory/);
  });

  it('--overwrite always replaces a symlink or an empty directory in the way, never a non-empty directory', async () => {
    if (!kcat) return;
    const target = await seeded('overwrite-always');
    const r = await restore(id, target, ['--overwrite', 'always']);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    const tree = await describeTree(target);
    expect(tree.get('link')).toMatchObject({ kind: 'file', size: 0 });
    expect(tree.get('emptydir')).toMatchObject({ kind: 'file', size: 0 });
    expect(tree.get('keep')?.kind).toBe('dir');
    expect(await readFile(join(target, 'keep', 'user.txt'), 'utf8')).toBe('mine\n');
    expect(await readFile(join(target, 'mine.txt'), 'utf8')).toBe('mine too\n');
  });

  it('--overwrite never leaves every existing entry as it is', async () => {
    if (!kcat) return;
    const target = await seeded('overwrite-never');
    const r = await restore(id, target, ['--overwrite', 'never']);
    expect(r.code).toBe(0);
    expect(await readFile(join(target, 'changed.txt'), 'utf8')).toBe('my edit\n');
    expect((await stat(join(target, 'new.txt'))).size).toBe(0);
    expect(r.stdout).toMatch(/left alone: changed\.txt/);
  });
});

describe('a symlink already in the target where the snapshot has a directory', () => {
  it('is left alone with what is below it by default, replaced by the directory with --overwrite always', async () => {
    if (!kcat) return;
    const outside = await sentinel('target-symlink');
    const id = await commitHostile([
      { path: '.', kind: 'dir' },
      { path: 'a', kind: 'dir', mode: 0o777 },
      { path: 'a/a', kind: 'file', mode: 0o777 },
      { path: 'b', kind: 'file' },
    ]);
    const outsideBefore = await outside.facts();
    const seeded = async (name: string): Promise<string> => {
      const target = join(scratch, name);
      await mkdir(target);
      await symlink(outside.dir, join(target, 'a'));
      return target;
    };
    const kept = await seeded('target-symlink-kept');
    const r = await restore(id, kept, ['--json']);
    expect(await outside.facts()).toEqual(outsideBefore);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    expect(summaryOf(r)).toMatchObject({ leftAlone: 1, notRestoredBelowLeftAlone: 1, files: 1 });
    expect((await describeTree(kept)).get('a')).toMatchObject({ kind: 'symlink', target: outside.dir });

    const replaced = await seeded('target-symlink-replaced');
    const always = await restore(id, replaced, ['--overwrite', 'always']);
    expect(await outside.facts()).toEqual(outsideBefore);
    expect(always.code).toBe(0);
    const tree = await describeTree(replaced);
    expect(tree.get('a')).toMatchObject({ kind: 'dir', mode: 0o777 });
    expect(tree.get('a/a')).toMatchObject({ kind: 'file', mode: 0o777, size: 0 });
  });
});

describe('special mode bits', () => {
  it('setuid, setgid and sticky bits of files (setuid and setgid of directories) are dropped and counted', async () => {
    if (!kcat) return;
    const target = join(scratch, 'modes');
    const id = await commitHostile([
      { path: '.', kind: 'dir' },
      { path: 'shared', kind: 'dir', mode: 0o3775 },
      { path: 'shared/sgid', kind: 'file', mode: 0o2755 },
      { path: 'sticky', kind: 'file', mode: 0o1644 },
      { path: 'suid', kind: 'file', mode: 0o4755 },
    ]);
    const r = await restore(id, target, ['--json']);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    const modes = Object.fromEntries([...(await describeTree(target))].map(([p, f]) => [p, f.mode.toString(8)]));
    expect(modes).toEqual({ shared: '1775', 'shared/sgid': '755', sticky: '644', suid: '755' });
    expect(summaryOf(r).modeBitsDropped).toBe(4);
    const text = await restore(id, join(scratch, 'modes-text'));
    expect(text.stdout).toMatch(/4 entries' setuid\/setgid\/sticky bits not restored/);
  });
});

/** A control character other than newline and tab, or a bidi override, as printed raw. */
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const RAW_CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202e]/;

describe('names are printed terminal-safe', () => {
  const evil = 'evil\u001b]0;pwned\u0007\u001b[2J\u009b31m\u202e.txt';
  it('ls escapes control characters; ls --json keeps the exact name', async () => {
    if (!kcat) return;
    const id = await commitHostile([
      { path: '.', kind: 'dir' },
      { path: evil, kind: 'file' },
      { path: 'link', kind: 'symlink', target: `\u001b[31m${evil}` },
    ]);
    const r = await runCli(['ls', id], env);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toMatch(RAW_CONTROL);
    expect(r.stdout).toContain('evil\\x1b]0;pwned\\x07\\x1b[2J\\x9b31m\\u{202e}.txt');
    const json = await runCli(['ls', id, '--json'], env);
    const paths = json.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { path: string; target?: string });
    expect(paths.map((p) => p.path)).toEqual(['.', evil, 'link']);
    expect(paths[2]?.target).toBe(`\u001b[31m${evil}`);
  });

  it('an error naming a hostile entry is escaped too', async () => {
    if (!kcat) return;
    const id = await commitHostile([{ path: `../${evil}`, kind: 'file' }]);
    const r = await restore(id, join(scratch, 'escaped-error'));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('evil\\x1b]0;pwned');
    expect(r.stderr).not.toMatch(RAW_CONTROL);
  });
});
