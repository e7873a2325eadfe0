import { constants, type Stats } from 'node:fs';
import { lstat, open, type FileHandle } from 'node:fs/promises';
import { BackstreamError, describeError } from '../errors';

/**
 * Opening what the walk saw, and nothing else. Between the walk's lstat and the open, an
 * entry can be swapped for a symlink, a FIFO, a device or another file; so opens never
 * follow a final symlink (O_NOFOLLOW), never block (O_NONBLOCK: a FIFO without a writer
 * would hang the read), and the descriptor's fstat must show the same kind, device and
 * inode as the lstat did. One open and one fstat per entry, nothing per chunk.
 */

const { O_RDONLY, O_NOFOLLOW, O_NONBLOCK, O_DIRECTORY } = constants;
const FILE_FLAGS = O_RDONLY | O_NOFOLLOW | O_NONBLOCK;
const DIR_FLAGS = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK;

/** An entry that is no longer what the walk saw; `reason` says what happened. */
export class SourceChangedError extends BackstreamError {
  constructor(
    readonly absPath: string,
    readonly reason: string,
  ) {
    super('SOURCE_UNREADABLE', `${absPath} ${reason}`, { retriable: false });
  }
}

/** "a FIFO", "a symlink", …: what an entry is, for reports. */
export function describeKind(stat: Stats): string {
  if (stat.isFile()) return 'a regular file';
  if (stat.isDirectory()) return 'a directory';
  if (stat.isSymbolicLink()) return 'a symlink';
  if (stat.isFIFO()) return 'a FIFO';
  if (stat.isSocket()) return 'a socket';
  if (stat.isCharacterDevice()) return 'a character device';
  if (stat.isBlockDevice()) return 'a block device';
  return 'of an unknown kind';
}

/** The identity the walk saw: device and inode. */
export interface SeenIdentity {
  dev: number;
  ino: number;
}

async function kindNow(path: string): Promise<string> {
  try {
    return describeKind(await lstat(path));
  } catch (err) {
    return `unreadable: ${(err as NodeJS.ErrnoException).code ?? 'error'}`;
  }
}

async function openChecked(path: string, reportedPath: string, seen: SeenIdentity, dir: boolean): Promise<FileHandle> {
  let handle: FileHandle;
  try {
    handle = await open(path, dir ? DIR_FLAGS : FILE_FLAGS);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // ELOOP: a symlink (O_NOFOLLOW); ENOTDIR: not a directory (any more); ENXIO: a socket.
    if (code === 'ELOOP' || code === 'ENXIO' || (dir && code === 'ENOTDIR')) {
      throw new SourceChangedError(reportedPath, `changed kind between scan and open (now ${await kindNow(path)})`);
    }
    throw err;
  }
  let reason: string;
  try {
    const stat = await handle.stat();
    const kindOk = dir ? stat.isDirectory() : stat.isFile();
    if (!kindOk) reason = `changed kind between scan and open (now ${describeKind(stat)})`;
    else if (stat.dev !== seen.dev || stat.ino !== seen.ino)
      reason = 'was replaced between scan and open (inode changed)';
    else return handle;
  } catch (err) {
    await handle.close();
    throw err;
  }
  await handle.close();
  throw new SourceChangedError(reportedPath, reason);
}

/**
 * Opens the regular file the walk saw at absPath for reading. Throws SourceChangedError if
 * it is now of another kind or another inode; file system errors (EACCES, ENOENT) as they are.
 */
export function openSourceFile(absPath: string, seen: SeenIdentity): Promise<FileHandle> {
  return openChecked(absPath, absPath, seen, false);
}

/**
 * Opens the directory the walk saw, by `path` (which may go through a parent's descriptor),
 * reporting it as `reportedPath`; throws as openSourceFile does.
 */
export function openSourceDir(path: string, reportedPath: string, seen: SeenIdentity): Promise<FileHandle> {
  return openChecked(path, reportedPath, seen, true);
}

/**
 * Why a file is skipped when opening or reading it failed: it changed since the walk, or
 * the file system refused (EACCES, ENOENT, EIO…). Undefined for any other error, which
 * must fail the backup.
 */
export function skipReasonOf(err: unknown): string | undefined {
  if (err instanceof SourceChangedError) return err.reason;
  if (typeof (err as NodeJS.ErrnoException | undefined)?.syscall === 'string')
    return `cannot read: ${describeError(err)}`;
  return undefined;
}
