import { mkdir, readdir, readlink, realpath, rename, rmdir, symlink, unlink, lutimes } from 'node:fs/promises';
import { resolve } from 'node:path';
import pLimit from 'p-limit';
import type { BlockDecoder } from '../blocks';
import type { FileEvent, SnapshotCommitRecord } from '../events';
import { fileEntries, joinFileParts, readManifest } from '../manifest';
import type { ObjectStore } from '../store';
import { restorableMode } from './mode-bits';
import { NOT_EMPTY, keepReason, kindOf, type OverwritePolicy } from './overwrite';
import { checkPlan, describeProblems } from './plan-check';
import { RestoreError } from './restore-error';
import { TEMP_NAME, restoreFile, tempName, type ChunkBudget } from './restore-file';
import { TargetDir } from './target-dir';

export interface RestoreOptions {
  record: SnapshotCommitRecord;
  target: string;
  /** Restore only these snapshot paths and what is below them; all when empty. */
  includes?: string[];
  /** What to do with an entry already in the target that differs (default `if-changed`). */
  overwrite?: OverwritePolicy;
}

export interface RestoreDeps {
  store: ObjectStore;
  decoder: BlockDecoder;
  /**
   * Chunks fetched but not yet written, over all files: bounds memory to about this many
   * chunks, and is also the number of object-store requests in flight.
   */
  concurrency: number;
  onProgress?(progress: RestoreProgress): void;
  /** An existing entry in the target that was not replaced, and why. */
  onLeftAlone?(leftAlone: { path: string; reason: string }): void;
}

export interface RestoreProgress {
  files: number;
  dirs: number;
  symlinks: number;
  bytes: number;
  /** Files already present with the right content, left as they were. */
  filesSkipped: number;
  chunksVerified: number;
  /** Existing entries that differ from the snapshot's and were kept (see onLeftAlone). */
  leftAlone: number;
  /** Snapshot entries not restored because a directory above them was left alone. */
  notRestoredBelowLeftAlone: number;
  /** Files and directories whose setuid, setgid or (files) sticky bits were not restored. */
  modeBitsDropped: number;
  elapsedMs: number;
}

/** A directory of the snapshot on the current path; `dir` is undefined when it was left alone. */
interface OpenDir {
  path: string;
  dir: TargetDir | undefined;
  /** The snapshot's mode and mtime, applied when the last entry below it is done. */
  meta?: { mode: number; mtimeMs: number };
  /** The chain's reference plus one per file in flight in it. */
  refs: number;
}

function selected(path: string, includes: string[]): boolean {
  if (includes.length === 0 || path === '.') return true;
  return includes.some((inc) => path === inc || path.startsWith(`${inc}/`) || inc.startsWith(`${path}/`));
}

const nameOf = (path: string): string => path.slice(path.lastIndexOf('/') + 1);

/**
 * Restores a committed snapshot into `target`. First the whole file list is checked
 * (checkPlan: order, parents, names); a list that is not what the producer's walk writes is
 * refused (TARGET_UNSAFE) before anything is written. Then every entry is restored through
 * descriptors of the directories above it (TargetDir), so no symlink is followed and nothing
 * outside the target is touched. Each chunk's hash and each file's hash is checked; files
 * are written under a temporary name and renamed into place, several at once within one
 * budget of chunks in flight. A file already correct is left alone (an interrupted restore
 * resumes). Existing entries are replaced only as `overwrite` allows, and nothing the
 * snapshot does not have is removed. A directory gets its mode and mtime once the walk has
 * left it. Any mismatch or missing block throws RestoreError naming the file and the block.
 */
export async function restoreSnapshot(options: RestoreOptions, deps: RestoreDeps): Promise<RestoreProgress> {
  const started = Date.now();
  const includes = (options.includes ?? [])
    .map((p) => p.replace(/^(\.\/+)+|^\/+|\/+$/g, ''))
    .filter((p) => p !== '' && p !== '.');
  const overwrite = options.overwrite ?? 'if-changed';
  const concurrency = Math.max(1, Math.floor(deps.concurrency));
  const progress: RestoreProgress = {
    files: 0,
    dirs: 0,
    symlinks: 0,
    bytes: 0,
    filesSkipped: 0,
    chunksVerified: 0,
    leftAlone: 0,
    notRestoredBelowLeftAlone: 0,
    modeBitsDropped: 0,
    elapsedMs: 0,
  };
  const report = (): void => {
    progress.elapsedMs = Date.now() - started;
    deps.onProgress?.({ ...progress });
  };
  const leaveAlone = (path: string, reason: string): void => {
    progress.leftAlone += 1;
    deps.onLeftAlone?.({ path, reason });
  };
  const manifest = await readManifest(deps.store, deps.decoder, options.record.manifest);
  const problems = await checkPlan(fileEntries(deps.store, deps.decoder, manifest));
  if (problems.length > 0)
    throw new RestoreError(
      (problems[0] as { path: string }).path,
      `snapshot ${options.record.snapshotId} cannot be restored safely: ${describeProblems(problems)}`,
      undefined,
      { code: 'TARGET_UNSAFE' },
    );

  const ticker = setInterval(report, 1000);
  const budget: ChunkBudget = pLimit(concurrency);
  const inFlight = new Set<Promise<void>>();
  const closing = new Set<Promise<void>>();
  let failure: { err: unknown } | undefined;
  const fail = (err: unknown): void => {
    failure ??= { err };
  };
  // A directory is done once the walk has left it and its files in flight are written.
  const release = (d: OpenDir): void => {
    d.refs -= 1;
    if (d.refs > 0 || !d.dir) return;
    const dir = d.dir;
    const done = (async () => {
      try {
        if (d.meta && !failure) await dir.finish(d.meta.mode, d.meta.mtimeMs);
      } finally {
        await dir.close();
      }
    })()
      .catch(fail)
      .finally(() => closing.delete(done));
    closing.add(done);
  };
  const chain: OpenDir[] = [];
  try {
    await mkdir(resolve(options.target), { recursive: true });
    chain.push({ path: '.', dir: await TargetDir.openRoot(await realpath(options.target)), refs: 1 });
    await removeTempFiles(chain[0]?.dir as TargetDir);
    for await (const { entry, chunks, contentHash } of joinFileParts(fileEntries(deps.store, deps.decoder, manifest))) {
      if (failure) break;
      if (!selected(entry.path, includes)) continue;
      if (entry.path === '.') {
        const root = chain[0] as OpenDir;
        root.meta = metaOf(entry, progress);
        progress.dirs += 1;
        continue;
      }
      while (chain.length > 1 && !entry.path.startsWith(`${(chain.at(-1) as OpenDir).path}/`))
        release(chain.pop() as OpenDir);
      const parent = chain.at(-1) as OpenDir;
      if (!parent.dir) {
        progress.notRestoredBelowLeftAlone += 1;
        continue;
      }
      const dir = parent.dir;
      const name = nameOf(entry.path);
      if (entry.kind === 'dir') {
        const opened = await openDir(dir, name, entry, overwrite);
        if (typeof opened === 'string') {
          leaveAlone(entry.path, opened);
          chain.push({ path: entry.path, dir: undefined, refs: 1 });
          continue;
        }
        await removeTempFiles(opened);
        chain.push({ path: entry.path, dir: opened, meta: metaOf(entry, progress), refs: 1 });
        progress.dirs += 1;
      } else if (entry.kind === 'symlink') {
        const reason = await restoreSymlink(dir, name, entry, overwrite);
        if (reason) leaveAlone(entry.path, reason);
        else progress.symlinks += 1;
      } else {
        while (inFlight.size >= concurrency) await Promise.race(inFlight);
        if (restorableMode('file', entry.mode).dropped) progress.modeBitsDropped += 1;
        parent.refs += 1;
        const fileDeps = {
          ...deps,
          concurrency,
          budget,
          overwrite,
          onChunk: (bytes: number) => {
            progress.chunksVerified += 1;
            progress.bytes += bytes;
          },
        };
        const task = restoreFile(dir, name, entry, chunks, contentHash, fileDeps)
          .then((outcome) => {
            if ('leftAlone' in outcome) return leaveAlone(entry.path, outcome.leftAlone);
            progress.files += 1;
            if (outcome.restored === 'already-correct') {
              progress.filesSkipped += 1;
              progress.bytes += outcome.bytes;
            }
          })
          .catch(fail)
          .finally(() => {
            inFlight.delete(task);
            release(parent);
          });
        inFlight.add(task);
      }
    }
  } catch (err) {
    fail(err);
  } finally {
    // Files in flight finish (or remove their temporary files) before the error is thrown.
    while (chain.length > 0) release(chain.pop() as OpenDir);
    await Promise.all(inFlight);
    while (closing.size > 0) await Promise.all(closing);
    clearInterval(ticker);
  }
  if (failure) throw failure.err;
  progress.elapsedMs = Date.now() - started;
  return progress;
}

function metaOf(entry: FileEvent, progress: RestoreProgress): { mode: number; mtimeMs: number } {
  const { mode, dropped } = restorableMode('dir', entry.mode);
  if (dropped) progress.modeBitsDropped += 1;
  return { mode, mtimeMs: entry.mtimeMs };
}

/** Opens (or creates) the directory `name`; a string says why an entry in the way was left alone. */
async function openDir(
  parent: TargetDir,
  name: string,
  entry: FileEvent,
  overwrite: OverwritePolicy,
): Promise<TargetDir | string> {
  const existing = await parent.lstat(name);
  if (existing && !existing.isDirectory()) {
    const reason = keepReason(overwrite, kindOf(existing), 'dir');
    if (reason) return `${reason}; nothing below it restored`;
    await unlink(parent.at(name));
  }
  return parent.openChild(name, entry.path, !existing || !existing.isDirectory());
}

/** Restores a symlink (never following one); returns why an entry in the way was left alone, if it was. */
async function restoreSymlink(
  dir: TargetDir,
  name: string,
  entry: FileEvent,
  overwrite: OverwritePolicy,
): Promise<string | undefined> {
  const target = entry.target as string;
  const existing = await dir.lstat(name);
  const same = existing?.isSymbolicLink() && (await readlink(dir.at(name))) === target;
  if (existing && !same) {
    const reason = keepReason(overwrite, kindOf(existing), 'symlink');
    if (reason) return reason;
    if (existing.isDirectory()) {
      const removed = await rmdir(dir.at(name)).then(
        () => true,
        () => false,
      );
      if (!removed) return NOT_EMPTY;
    }
  }
  if (!same) {
    // Made under a temporary name and renamed over whatever file or link is there.
    const temp = tempName();
    await symlink(target, dir.at(temp));
    await rename(dir.at(temp), dir.at(name)).catch(async (err: unknown) => {
      await unlink(dir.at(temp)).catch(() => undefined);
      throw err;
    });
  }
  // Some file systems cannot set a symlink's own times; its target and content are what matter.
  await lutimes(dir.at(name), entry.mtimeMs / 1000, entry.mtimeMs / 1000).catch(() => undefined);
  return undefined;
}

/** A restore killed mid-file leaves its temporary file behind; the rerun removes it (never following a link). */
async function removeTempFiles(dir: TargetDir): Promise<void> {
  for (const name of await readdir(dir.at('.')))
    if (TEMP_NAME.test(name)) await unlink(dir.at(name)).catch(() => undefined);
}
