import { existsSync, type Stats } from 'node:fs';
import { lstat, readdir, readlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeFileName, escapeFileName } from './file-name';
import { SourceChangedError, describeKind, openSourceDir } from './source-open';

export interface TreeEntry {
  /** Relative to the backup root with "/" separators; the root itself is ".". */
  path: string;
  absPath: string;
  kind: 'file' | 'dir' | 'symlink';
  stat: Stats;
  target?: string;
}

export interface SkippedEntry {
  path: string;
  reason: string;
}

/**
 * Orders paths the way walkTree visits them: depth first, the entries of a directory by
 * name (UTF-16 code units). A snapshot's file list is in this order, which lets the next
 * backup walk its parent's list alongside the tree with one cursor (see ParentCursor).
 */
export function compareTreePaths(a: string, b: string): number {
  if (a === b) return 0;
  if (a === '.') return -1;
  if (b === '.') return 1;
  const as = a.split('/');
  const bs = b.split('/');
  for (let i = 0; i < Math.min(as.length, bs.length); i++) {
    const x = as[i] as string;
    const y = bs[i] as string;
    if (x !== y) return x < y ? -1 : 1;
  }
  return as.length - bs.length;
}

export interface WalkOptions {
  /**
   * Called for each directory between its lstat and its open: a test seam, to change the
   * tree exactly inside that window.
   */
  betweenScanAndOpen?(entry: TreeEntry): Promise<void> | void;
}

/**
 * Where a directory's entries are reached once it is open: through its descriptor
 * (/proc/self/fd/N, Linux), so that a directory swapped for a symlink after the check (or
 * any parent swapped) cannot redirect the walk. Without /proc, by path: a swap is then
 * caught only by the identity check of each open.
 */
const PROC_FD = '/proc/self/fd';
let procFd: boolean | undefined;
function viaDescriptor(handle: FileHandle, absPath: string): string {
  procFd ??= existsSync(PROC_FD);
  return procFd ? `${PROC_FD}/${handle.fd}` : absPath;
}

/**
 * Walks a tree depth first in compareTreePaths order, yielding directories, regular files
 * and symlinks (never following them). Sockets, FIFOs and devices are skipped, and so is
 * what cannot be read, a name that is not valid UTF-8 (file-name.ts) and a directory that
 * changed between its lstat and its open (source-open.ts); each skip is reported, none
 * stops the walk. A directory is listed through its open descriptor, so its entries are
 * those of the directory whose identity was checked; the walk holds one descriptor per
 * level of depth.
 */
export async function* walkTree(
  root: string,
  onSkip: (skip: SkippedEntry) => void,
  options: WalkOptions = {},
): AsyncGenerator<TreeEntry> {
  const rootStat = await lstat(root);
  if (!rootStat.isDirectory()) {
    throw new Error(`${root} is not a directory`);
  }
  const handle = await openSourceDir(root, root, rootStat);
  try {
    yield { path: '.', absPath: root, kind: 'dir', stat: rootStat };
    yield* walkDir(viaDescriptor(handle, root), root, '', onSkip, options);
  } finally {
    await handle.close();
  }
}

/** Lists a directory reached at `dirPath` (its descriptor's path): absDir and relDir name it. */
async function* walkDir(
  dirPath: string,
  absDir: string,
  relDir: string,
  onSkip: (skip: SkippedEntry) => void,
  options: WalkOptions,
): AsyncGenerator<TreeEntry> {
  let raw: Buffer[];
  try {
    raw = await readdir(dirPath, { encoding: 'buffer' });
  } catch (err) {
    onSkip({ path: relDir || '.', reason: `cannot list directory: ${errnoOf(err)}` });
    return;
  }
  const names: string[] = [];
  for (const bytes of raw) {
    const name = decodeFileName(bytes);
    if (name !== undefined) names.push(name);
    else {
      const shown = escapeFileName(bytes);
      onSkip({
        path: relDir ? `${relDir}/${shown}` : shown,
        reason: 'name is not valid UTF-8 (shown with \\xHH escapes): not backed up',
      });
    }
  }
  names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  for (const name of names) {
    const absPath = join(absDir, name);
    const inDir = `${dirPath}/${name}`;
    const path = relDir ? `${relDir}/${name}` : name;
    let stat: Stats;
    try {
      stat = await lstat(inDir);
    } catch (err) {
      onSkip({ path, reason: `cannot stat: ${errnoOf(err)}` });
      continue;
    }
    if (stat.isDirectory()) {
      const entry: TreeEntry = { path, absPath, kind: 'dir', stat };
      await options.betweenScanAndOpen?.(entry);
      let handle: FileHandle;
      try {
        handle = await openSourceDir(inDir, path, stat);
      } catch (err) {
        if (err instanceof SourceChangedError) onSkip({ path, reason: err.reason });
        else onSkip({ path, reason: `cannot open directory: ${errnoOf(err)}` });
        continue;
      }
      try {
        yield entry;
        yield* walkDir(viaDescriptor(handle, absPath), absPath, path, onSkip, options);
      } finally {
        await handle.close();
      }
    } else if (stat.isFile()) {
      yield { path, absPath, kind: 'file', stat };
    } else if (stat.isSymbolicLink()) {
      let target: string | undefined;
      try {
        target = decodeFileName(await readlink(inDir, { encoding: 'buffer' }));
      } catch (err) {
        onSkip({ path, reason: `cannot read symlink: ${errnoOf(err)}` });
        continue;
      }
      if (target === undefined) onSkip({ path, reason: 'symlink target is not valid UTF-8: not backed up' });
      else yield { path, absPath, kind: 'symlink', stat, target };
    } else {
      onSkip({ path, reason: `${describeKind(stat)}: not backed up` });
    }
  }
}

/** The errno code of a failed call (the message would name the descriptor's path). */
function errnoOf(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? (err as Error).message;
}
