import type { Stats } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';

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

/**
 * Walks a tree depth first in compareTreePaths order, yielding directories, regular files
 * and symlinks (never following them). Sockets, FIFOs and devices are skipped, and so is
 * what cannot be read; each skip is reported, none stops the walk.
 */
export async function* walkTree(root: string, onSkip: (skip: SkippedEntry) => void): AsyncGenerator<TreeEntry> {
  const rootStat = await lstat(root);
  if (!rootStat.isDirectory()) {
    throw new Error(`${root} is not a directory`);
  }
  yield { path: '.', absPath: root, kind: 'dir', stat: rootStat };
  yield* walkDir(root, '', onSkip);
}

async function* walkDir(
  absDir: string,
  relDir: string,
  onSkip: (skip: SkippedEntry) => void,
): AsyncGenerator<TreeEntry> {
  let names: string[];
  try {
    names = (await readdir(absDir)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  } catch (err) {
    onSkip({ path: relDir || '.', reason: `cannot list directory: ${(err as Error).message}` });
    return;
  }
  for (const name of names) {
    const absPath = join(absDir, name);
    const path = relDir ? `${relDir}/${name}` : name;
    let stat: Stats;
    try {
      stat = await lstat(absPath);
    } catch (err) {
      onSkip({ path, reason: `cannot stat: ${(err as Error).message}` });
      continue;
    }
    if (stat.isDirectory()) {
      yield { path, absPath, kind: 'dir', stat };
      yield* walkDir(absPath, path, onSkip);
    } else if (stat.isFile()) {
      yield { path, absPath, kind: 'file', stat };
    } else if (stat.isSymbolicLink()) {
      try {
        yield { path, absPath, kind: 'symlink', stat, target: await readlink(absPath) };
      } catch (err) {
        onSkip({ path, reason: `cannot read symlink: ${(err as Error).message}` });
      }
    } else {
      onSkip({ path, reason: 'not a regular file, directory or symlink' });
    }
  }
}
