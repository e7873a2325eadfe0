import { lstat, mkdir, mkdtemp, readdir, readFile, rename, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TargetDir } from './target-dir';

/** A directory swapped for a symlink after it was opened: every use still lands in the directory that was opened. */
describe('TargetDir', () => {
  let scratch: string;
  let target: string;
  let outside: string;
  beforeEach(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'backstream-target-dir-'));
    target = join(scratch, 'target');
    outside = join(scratch, 'outside');
    await mkdir(target);
    await mkdir(outside, { mode: 0o700 });
    await utimes(outside, 1000, 1000);
  });
  afterEach(() => rm(scratch, { recursive: true, force: true }));

  async function swapped(): Promise<TargetDir> {
    const root = await TargetDir.openRoot(target);
    const x = await root.openChild('x', 'x', true);
    await root.close();
    // Someone replaces target/x by a symlink to outside after restore opened it.
    await rename(join(target, 'x'), join(target, 'moved'));
    await symlink(outside, join(target, 'x'));
    return x;
  }

  it('writes a name below the directory it opened, not through the symlink now at its path', async () => {
    const x = await swapped();
    await writeFile(x.at('f'), 'restored');
    await x.close();
    expect(await readdir(outside)).toEqual([]);
    expect(await readFile(join(target, 'moved', 'f'), 'utf8')).toBe('restored');
  });

  it('applies mode and mtime to the directory it opened, not to the symlink target', async () => {
    const x = await swapped();
    await x.finish(0o755, Date.parse('2020-01-01T00:00:00Z'));
    await x.close();
    const o = await lstat(outside);
    expect({ mode: o.mode & 0o7777, mtimeMs: o.mtimeMs }).toEqual({ mode: 0o700, mtimeMs: 1_000_000 });
    expect((await lstat(join(target, 'moved'))).mode & 0o7777).toBe(0o755);
  });

  it('refuses to open a symlink as a directory', async () => {
    await symlink(outside, join(target, 'l'));
    const root = await TargetDir.openRoot(target);
    await expect(root.openChild('l', 'l', false)).rejects.toMatchObject({ code: 'TARGET_UNSAFE' });
    await root.close();
  });

  it('refuses names that are not one component', async () => {
    const root = await TargetDir.openRoot(target);
    for (const name of ['a/b', '..', '']) expect(() => root.at(name)).toThrow(/not a name within one directory/);
    await root.close();
  });
});
