import type { Stats } from 'node:fs';
import { constants } from 'node:fs';
import { lstat, mkdir, open, stat, type FileHandle } from 'node:fs/promises';
import { RestoreError } from './restore-error';

const { O_RDONLY, O_DIRECTORY, O_NOFOLLOW } = constants;

/**
 * A directory of the target held open. Names in it are reached through the descriptor
 * (`/proc/self/fd/N/name`: the kernel starts from the open directory, not from the path
 * that led to it), so a directory renamed or replaced by a symlink after it was opened
 * cannot redirect a write, and no symlink on the way is ever followed. Linux only.
 */
export class TargetDir {
  private constructor(
    private readonly handle: FileHandle,
    /** The snapshot path of this directory, for messages. */
    readonly path: string,
  ) {}

  /** Opens the target itself (which may be reached through a symlink the user chose). */
  static async openRoot(abs: string): Promise<TargetDir> {
    const handle = await open(abs, O_RDONLY | O_DIRECTORY);
    const dir = new TargetDir(handle, '.');
    const [viaFd, direct] = await Promise.all([stat(dir.at('.')).catch(() => undefined), handle.stat()]);
    if (viaFd?.ino !== direct.ino || viaFd.dev !== direct.dev) {
      await handle.close();
      throw new RestoreError('.', 'restore needs /proc/self/fd (Linux) to write below the target safely', undefined, {
        code: 'TARGET_UNSAFE',
      });
    }
    return dir;
  }

  /** The path by which the kernel resolves `name` from this directory's descriptor. */
  at(name: string): string {
    if (name.includes('/') || name === '' || name === '..')
      throw new RestoreError(name, `"${name}" is not a name within one directory`, undefined, {
        code: 'TARGET_UNSAFE',
      });
    return `/proc/self/fd/${this.handle.fd}/${name}`;
  }

  /** What `name` is, never following it; undefined when absent. */
  async lstat(name: string): Promise<Stats | undefined> {
    return lstat(this.at(name)).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw err;
    });
  }

  /** Opens the directory `name` (creating it, owner-only, when absent); a symlink there is refused, not followed. */
  async openChild(name: string, childPath: string, create: boolean): Promise<TargetDir> {
    if (create) await mkdir(this.at(name), { mode: 0o700 });
    const handle = await open(this.at(name), O_RDONLY | O_DIRECTORY | O_NOFOLLOW).catch(
      (err: NodeJS.ErrnoException) => {
        if (err.code === 'ELOOP' || err.code === 'ENOTDIR')
          throw new RestoreError(childPath, `"${childPath}" is no longer a directory`, undefined, {
            cause: err,
            code: 'TARGET_UNSAFE',
          });
        throw err;
      },
    );
    const dir = new TargetDir(handle, childPath);
    // Writable for the owner while restoring; the snapshot's mode comes at the end.
    const st = await handle.stat();
    if ((st.mode & 0o700) !== 0o700) await handle.chmod((st.mode & 0o7777) | 0o700);
    return dir;
  }

  /** Applies mode and mtime to the directory itself, through its descriptor. */
  async finish(mode: number, mtimeMs: number): Promise<void> {
    await this.handle.chmod(mode);
    await this.handle.utimes(mtimeMs / 1000, mtimeMs / 1000);
  }

  close(): Promise<void> {
    return this.handle.close();
  }
}
