import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, lstat, lutimes, mkdir, open, readlink, rename, rm, symlink, utimes } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import type { BlockDecoder } from '../blocks';
import { BackstreamError, BlockError } from '../errors';
import type { ChunkRef, FileEvent, SnapshotCommitRecord } from '../events';
import { fileEntries, joinFileParts, readManifest } from '../manifest';
import { ObjectNotFoundError, blockKey, type ObjectStore } from '../store';

export interface RestoreOptions {
  record: SnapshotCommitRecord;
  target: string;
  /** Restore only these snapshot paths and what is below them; all when empty. */
  includes?: string[];
}

export interface RestoreDeps {
  store: ObjectStore;
  decoder: BlockDecoder;
  /** Blocks fetched ahead of the one being written; bounds memory to about this many chunks. */
  concurrency: number;
  onProgress?(progress: RestoreProgress): void;
}

export interface RestoreProgress {
  files: number;
  dirs: number;
  symlinks: number;
  bytes: number;
  /** Files already present with the right content, left as they were. */
  filesSkipped: number;
  chunksVerified: number;
  elapsedMs: number;
}

/** A file could not be restored byte-identical; names the file and, when known, the block. */
export class RestoreError extends BackstreamError {
  constructor(
    readonly path: string,
    message: string,
    readonly blockKey?: string,
    options: { cause?: unknown } = {},
  ) {
    super('BLOCK_CORRUPT', message, { retriable: false, cause: options.cause });
  }
}

function selected(path: string, includes: string[]): boolean {
  if (includes.length === 0 || path === '.') return true;
  return includes.some((inc) => path === inc || path.startsWith(`${inc}/`) || inc.startsWith(`${path}/`));
}

async function sha256OfFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const data of createReadStream(path)) hash.update(data as Buffer);
  return hash.digest('hex');
}

/**
 * Restores a committed snapshot into `target`: every chunk's hash and every file's hash is
 * checked, each file is written to a temporary name and renamed into place, and mode, mtime
 * and symlinks are restored. A file already present with the right size and hash is left
 * alone, so an interrupted restore resumes where it stopped. Any mismatch or missing block
 * throws RestoreError naming the file and the block; no wrong file is ever put in place.
 */
export async function restoreSnapshot(options: RestoreOptions, deps: RestoreDeps): Promise<RestoreProgress> {
  const started = Date.now();
  const target = resolve(options.target);
  const includes = (options.includes ?? []).map((p) => p.replace(/^\.?\/+|\/+$/g, '')).filter((p) => p !== '');
  const progress: RestoreProgress = {
    files: 0,
    dirs: 0,
    symlinks: 0,
    bytes: 0,
    filesSkipped: 0,
    chunksVerified: 0,
    elapsedMs: 0,
  };
  const report = (): void => {
    progress.elapsedMs = Date.now() - started;
    deps.onProgress?.({ ...progress });
  };
  const ticker = setInterval(report, 1000);
  // Directory modes and mtimes are applied last: writing children would change the mtime,
  // and a read-only mode would stop the writes.
  const dirs: Array<{ path: string; mode: number; mtimeMs: number }> = [];
  const inside = (path: string): string => {
    const abs = path === '.' ? target : resolve(target, path);
    if (abs !== target && !abs.startsWith(target + sep))
      throw new RestoreError(path, `refusing to restore ${path} outside the target`);
    return abs;
  };
  try {
    await mkdir(target, { recursive: true });
    const manifest = await readManifest(deps.store, deps.decoder, options.record.manifest);
    for await (const { entry, chunks, contentHash } of joinFileParts(fileEntries(deps.store, deps.decoder, manifest))) {
      if (!selected(entry.path, includes)) continue;
      const abs = inside(entry.path);
      if (entry.kind === 'dir') {
        await mkdir(abs, { recursive: true });
        dirs.push({ path: abs, mode: entry.mode, mtimeMs: entry.mtimeMs });
        progress.dirs += 1;
      } else if (entry.kind === 'symlink') {
        await mkdir(dirname(abs), { recursive: true });
        const existing = await readlink(abs).catch(() => undefined);
        if (existing !== entry.target) {
          await rm(abs, { force: true, recursive: true });
          await symlink(entry.target as string, abs);
        }
        await lutimes(abs, entry.mtimeMs / 1000, entry.mtimeMs / 1000).catch(() => undefined);
        progress.symlinks += 1;
      } else {
        await mkdir(dirname(abs), { recursive: true });
        await restoreFile(abs, entry, chunks, contentHash, deps, progress);
        progress.files += 1;
      }
    }
    for (const d of dirs.reverse()) {
      await chmod(d.path, d.mode);
      await utimes(d.path, d.mtimeMs / 1000, d.mtimeMs / 1000);
    }
  } finally {
    clearInterval(ticker);
  }
  progress.elapsedMs = Date.now() - started;
  return progress;
}

async function restoreFile(
  abs: string,
  entry: FileEvent,
  chunks: ChunkRef[],
  contentHash: string | undefined,
  deps: RestoreDeps,
  progress: RestoreProgress,
): Promise<void> {
  const existing = await lstat(abs).catch(() => undefined);
  if (existing?.isFile() && existing.size === entry.size && (await sha256OfFile(abs)) === contentHash) {
    await chmod(abs, entry.mode);
    await utimes(abs, entry.mtimeMs / 1000, entry.mtimeMs / 1000);
    progress.filesSkipped += 1;
    progress.bytes += entry.size;
    return;
  }
  const temp = join(dirname(abs), `.${randomBytes(6).toString('hex')}.backstream-restore`);
  const fh = await open(temp, 'w', 0o600);
  const whole = createHash('sha256');
  try {
    // Fetch up to `concurrency` blocks ahead, write them in order.
    const fetchChunk = async (c: ChunkRef): Promise<Buffer> => {
      const key = blockKey(c.hash);
      try {
        return deps.decoder.verify(key, await deps.store.get(key), c.hash);
      } catch (err) {
        if (err instanceof ObjectNotFoundError)
          throw new RestoreError(entry.path, `${entry.path}: block ${key} is missing`, key, { cause: err });
        if (err instanceof BlockError)
          throw new RestoreError(entry.path, `${entry.path}: ${err.message}`, key, { cause: err });
        throw err;
      }
    };
    const window: Array<Promise<Buffer>> = [];
    let next = 0;
    const fill = (): void => {
      while (window.length < deps.concurrency && next < chunks.length) {
        const p = fetchChunk(chunks[next++] as ChunkRef);
        p.catch(() => undefined);
        window.push(p);
      }
    };
    fill();
    while (window.length > 0) {
      const data = await (window.shift() as Promise<Buffer>);
      fill();
      whole.update(data);
      await fh.write(data);
      progress.chunksVerified += 1;
      progress.bytes += data.length;
    }
    await fh.sync();
  } catch (err) {
    await fh.close();
    await rm(temp, { force: true });
    throw err;
  }
  await fh.close();
  const actual = whole.digest('hex');
  if (actual !== contentHash) {
    await rm(temp, { force: true });
    throw new RestoreError(
      entry.path,
      `${entry.path}: restored content hashes to ${actual}, the snapshot says ${contentHash}`,
    );
  }
  await chmod(temp, entry.mode);
  await utimes(temp, entry.mtimeMs / 1000, entry.mtimeMs / 1000);
  // rename() replaces a file atomically; only something else in the way is removed first.
  if (existing && !existing.isFile()) await rm(abs, { force: true, recursive: true });
  await rename(temp, abs);
}
