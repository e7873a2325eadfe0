import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compareTreePaths, walkTree, type SkippedEntry, type TreeEntry, type WalkOptions } from './walk';

describe('compareTreePaths', () => {
  it('puts the root "." first', () => {
    for (const p of ['a', '-', '!', '..a', '.a', 'a/b', ' ']) {
      expect(compareTreePaths('.', p)).toBeLessThan(0);
      expect(compareTreePaths(p, '.')).toBeGreaterThan(0);
    }
    expect(compareTreePaths('.', '.')).toBe(0);
  });

  it('orders depth first by path segments: a < a/b < a-c (unlike plain string order)', () => {
    expect(compareTreePaths('a', 'a/b')).toBeLessThan(0);
    expect(compareTreePaths('a/b', 'a')).toBeGreaterThan(0);
    expect(compareTreePaths('a/b', 'a-c')).toBeLessThan(0);
    expect(compareTreePaths('a-c', 'a/b')).toBeGreaterThan(0);
    expect(compareTreePaths('a/z/z', 'a.txt')).toBeLessThan(0);
    expect('a/b' < 'a-c').toBe(false); // what a plain comparison would do
  });

  it('compares names by UTF-16 code units, and equal paths as 0', () => {
    expect(compareTreePaths('B', 'a')).toBeLessThan(0);
    expect(compareTreePaths('z', 'é')).toBeLessThan(0);
    expect(compareTreePaths('😀', '！')).toBeLessThan(0); // surrogate 0xD83D < 0xFF01
    expect(compareTreePaths('a/b/c', 'a/b/c')).toBe(0);
  });

  it('sorts a list into walk order', () => {
    const walkOrder = ['.', 'B', 'a', 'a/b', 'a/b/c', 'a/b-d', 'a/b.e', 'a-c', 'a.txt', 'a0', 'b', 'b/a', 'é', 'é/x'];
    const scrambled = [...walkOrder].reverse();
    scrambled.push(scrambled.shift()!);
    expect([...scrambled].sort(compareTreePaths)).toEqual(walkOrder);
    // Antisymmetric and consistent over every pair.
    walkOrder.forEach((x, i) =>
      walkOrder.forEach((y, j) => expect(Math.sign(compareTreePaths(x, y))).toBe(Math.sign(i - j))),
    );
  });
});

/** Whether a FIFO can be made here with mkfifo(1): tried once, in a scratch directory. */
function hasMkfifo(): boolean {
  const dir = mkdtempSync(join(tmpdir(), 'backstream-fifo-probe-'));
  try {
    execFileSync('mkfifo', [join(dir, 'probe')], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('walkTree', () => {
  let root: string;
  const fifo = hasMkfifo();

  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'backstream-walk-'));
    const file = (rel: string, content = 'x'): void => writeFileSync(join(root, rel), content);
    mkdirSync(join(root, 'a/b'), { recursive: true });
    mkdirSync(join(root, 'a/c'));
    mkdirSync(join(root, 'empty-dir'));
    mkdirSync(join(root, 'é-dir'));
    file('a/b/deep.txt', 'deep');
    file('a/b-file', 'sibling of a/b');
    file('a-c', 'after the whole of a/');
    file('a.txt');
    file('B', 'upper case sorts first');
    file('empty', '');
    file('é-dir/ünïcødé.txt', 'non-ASCII');
    file('😀', 'astral');
    file('！', 'fullwidth');
    symlinkSync('a', join(root, 'link-to-dir')); // must not be followed
    symlinkSync('does/not/exist', join(root, 'dangling'));
    if (fifo) execFileSync('mkfifo', [join(root, 'a/c/pipe')]);
  });

  afterAll(() => rmSync(root, { recursive: true, force: true }));

  async function walk(dir = root): Promise<{ entries: TreeEntry[]; skipped: SkippedEntry[] }> {
    const entries: TreeEntry[] = [];
    const skipped: SkippedEntry[] = [];
    for await (const entry of walkTree(dir, (s) => skipped.push(s))) entries.push(entry);
    return { entries, skipped };
  }

  it('yields every entry, in exactly compareTreePaths order', async () => {
    const { entries } = await walk();
    const paths = entries.map((e) => e.path);
    expect(paths).toEqual([
      '.',
      'B',
      'a',
      'a/b',
      'a/b/deep.txt',
      'a/b-file',
      'a/c',
      'a-c',
      'a.txt',
      'dangling',
      'empty',
      'empty-dir',
      'link-to-dir',
      'é-dir',
      'é-dir/ünïcødé.txt',
      '😀',
      '！',
    ]);
    expect([...paths].sort(compareTreePaths)).toEqual(paths);
  });

  it('reports kinds, absolute paths and stats; an empty file is a file', async () => {
    const { entries } = await walk();
    const byPath = new Map(entries.map((e) => [e.path, e]));
    expect(byPath.get('.')).toMatchObject({ kind: 'dir', absPath: root });
    expect(byPath.get('a/b')).toMatchObject({ kind: 'dir', absPath: join(root, 'a/b') });
    expect(byPath.get('a/b/deep.txt')).toMatchObject({ kind: 'file', absPath: join(root, 'a/b/deep.txt') });
    expect(byPath.get('a/b/deep.txt')!.stat.size).toBe(4);
    expect(byPath.get('empty')!.kind).toBe('file');
    expect(byPath.get('empty')!.stat.size).toBe(0);
    expect(byPath.get('empty-dir')!.kind).toBe('dir');
    expect(byPath.get('é-dir/ünïcødé.txt')!.stat.size).toBe(Buffer.byteLength('non-ASCII'));
    for (const e of entries.filter((x) => x.kind !== 'symlink')) expect(e.target).toBeUndefined();
  });

  it('reports symlinks with their target and never follows them', async () => {
    const { entries } = await walk();
    expect(entries.filter((e) => e.kind === 'symlink').map((e) => [e.path, e.target])).toEqual([
      ['dangling', 'does/not/exist'],
      ['link-to-dir', 'a'],
    ]);
    expect(entries.some((e) => e.path.startsWith('link-to-dir/'))).toBe(false);
    expect(entries.find((e) => e.path === 'link-to-dir')!.stat.isSymbolicLink()).toBe(true);
  });

  (fifo ? it : it.skip)('skips a FIFO, reporting it, and goes on', async () => {
    const { entries, skipped } = await walk();
    expect(skipped).toEqual([{ path: 'a/c/pipe', reason: 'a FIFO: not backed up' }]);
    expect(entries.some((e) => e.path === 'a/c/pipe')).toBe(false);
    expect(entries.map((e) => e.path)).toContain('a-c');
  });

  it('reports nothing skipped without special files', async () => {
    const { skipped } = await walk(join(root, 'é-dir'));
    expect(skipped).toEqual([]);
  });

  it('refuses a root that is not a directory (or a symlink to one)', async () => {
    await expect(walk(join(root, 'a.txt'))).rejects.toThrow(/is not a directory/);
    await expect(walk(join(root, 'link-to-dir'))).rejects.toThrow(/is not a directory/);
    await expect(walk(join(root, 'missing'))).rejects.toThrow(/ENOENT/);
  });
});

describe('walkTree on a hostile tree', () => {
  let root: string;

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'backstream-walk-hostile-'));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  async function walk(options: WalkOptions = {}): Promise<{ paths: string[]; skipped: SkippedEntry[] }> {
    const paths: string[] = [];
    const skipped: SkippedEntry[] = [];
    for await (const entry of walkTree(root, (s) => skipped.push(s), options)) paths.push(entry.path);
    return { paths, skipped };
  }

  /** A tree with dir/secret.txt, plus outside/secret.txt, which the walk must never reach. */
  function withDir(): string {
    mkdirSync(join(root, 'dir'));
    writeFileSync(join(root, 'dir', 'mine.txt'), 'mine');
    const outside = mkdtempSync(join(tmpdir(), 'backstream-walk-outside-'));
    writeFileSync(join(outside, 'secret.txt'), 'not in the tree');
    return outside;
  }

  it('does not descend into a directory swapped for a symlink between its lstat and its open', async () => {
    const outside = withDir();
    const { paths, skipped } = await walk({
      betweenScanAndOpen: (entry) => {
        if (entry.path !== 'dir') return;
        renameSync(join(root, 'dir'), join(root, 'moved'));
        symlinkSync(outside, join(root, 'dir'));
      },
    });
    expect(skipped).toEqual([{ path: 'dir', reason: 'changed kind between scan and open (now a symlink)' }]);
    // The listing of the root was read before the rename: only the refused directory was there.
    expect(paths).toEqual(['.']);
    rmSync(outside, { recursive: true, force: true });
  });

  it('refuses a directory replaced by another one (inode changed), and one replaced by a file', async () => {
    const outside = withDir();
    mkdirSync(join(root, 'file-next'));
    const { paths, skipped } = await walk({
      betweenScanAndOpen: (entry) => {
        if (entry.path === 'dir') {
          rmSync(join(root, 'dir'), { recursive: true });
          renameSync(outside, join(root, 'dir'));
        } else if (entry.path === 'file-next') {
          rmSync(join(root, 'file-next'), { recursive: true });
          writeFileSync(join(root, 'file-next'), 'now a file');
        }
      },
    });
    expect(skipped).toEqual([
      { path: 'dir', reason: 'was replaced between scan and open (inode changed)' },
      { path: 'file-next', reason: 'changed kind between scan and open (now a regular file)' },
    ]);
    expect(paths).toEqual(['.']);
  });

  it('lists a directory through its descriptor: a parent swapped after its open does not redirect the walk', async () => {
    const outside = withDir();
    writeFileSync(join(outside, 'mine.txt'), 'impostor');
    mkdirSync(join(root, 'dir', 'sub'));
    writeFileSync(join(root, 'dir', 'sub', 'deep.txt'), 'deep');
    const { paths, skipped } = await walk({
      betweenScanAndOpen: (entry) => {
        // dir is open and listed; now swap it for a link before its entries are looked at.
        if (entry.path !== 'dir/sub') return;
        renameSync(join(root, 'dir'), join(root, 'away'));
        symlinkSync(outside, join(root, 'dir'));
      },
    });
    expect(paths).toEqual(['.', 'dir', 'dir/mine.txt', 'dir/sub', 'dir/sub/deep.txt']);
    expect(skipped).toEqual([]);
    rmSync(outside, { recursive: true, force: true });
  });

  it('skips names that are not valid UTF-8, reporting them escaped, and keeps the real U+FFFD name', async () => {
    const at = (...bytes: number[]): Buffer => Buffer.concat([Buffer.from(`${root}/`), Buffer.from(bytes)]);
    writeFileSync(at(0x66, 0xff), 'f ff');
    writeFileSync(at(0x66, 0xfe), 'f fe');
    writeFileSync(join(root, 'f\uFFFD'), 'real');
    mkdirSync(at(0x64, 0xff));
    writeFileSync(Buffer.concat([at(0x64, 0xff), Buffer.from('/inner')]), 'inner');
    symlinkSync(at(0x74, 0xff), join(root, 'link'));
    const { paths, skipped } = await walk();
    expect(paths).toEqual(['.', 'f\uFFFD']);
    const reason = 'name is not valid UTF-8 (shown with \\xHH escapes): not backed up';
    expect([...skipped].sort((a, b) => (a.path < b.path ? -1 : 1))).toEqual([
      { path: 'd\\xff', reason },
      { path: 'f\\xfe', reason },
      { path: 'f\\xff', reason },
      { path: 'link', reason: 'symlink target is not valid UTF-8: not backed up' },
    ]);
  });
});
