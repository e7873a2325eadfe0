import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import {
  chmod,
  lstat,
  lutimes,
  mkdir,
  open,
  readdir,
  readlink,
  realpath,
  rename,
  rm,
  symlink,
  utimes,
} from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import pLimit from 'p-limit';
import type { BlockDecoder } from '../blocks';
import { BackstreamError, BlockError, type ErrorCode } from '../errors';
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
  /**
   * Chunks fetched but not yet written, over all files: bounds memory to about this many
   * chunks, and is also the number of object-store requests in flight.
   */
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

/** A file could not be restored byte-identical, or not safely; names the file and, when known, the block. */
export class RestoreError extends BackstreamError {
  constructor(
    readonly path: string,
    message: string,
    readonly blockKey?: string,
    options: { cause?: unknown; code?: Extract<ErrorCode, 'BLOCK_CORRUPT' | 'BLOCK_MISSING' | 'TARGET_UNSAFE'> } = {},
  ) {
    super(options.code ?? 'BLOCK_CORRUPT', message, { retriable: false, cause: options.cause });
  }
}

/** Names of the temporary files a restore writes before renaming them into place. */
const TEMP_NAME = /^\.[0-9a-f]{12}\.backstream-restore$/;
const tempName = (): string => `.${randomBytes(6).toString('hex')}.backstream-restore`;

function selected(path: string, includes: string[]): boolean {
  if (includes.length === 0 || path === '.') return true;
  return includes.some((inc) => path === inc || path.startsWith(`${inc}/`) || inc.startsWith(`${path}/`));
}

async function sha256OfFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const data of createReadStream(path)) hash.update(data as Buffer);
  return hash.digest('hex');
}

/** Chunk slots shared by every file in flight; a slot is held from the request until the chunk is written. */
type ChunkBudget = ReturnType<typeof pLimit>;

/**
 * Restores a committed snapshot into `target`: every chunk's hash and every file's hash is
 * checked, each file is written to a temporary name and renamed into place, and mode, mtime
 * and symlinks are restored. Several files are restored at once (thousands of small files
 * would otherwise wait on one request each in turn) within one budget of chunks in flight.
 * A file already present with the right size and hash is left alone, so an interrupted
 * restore resumes where it stopped. Nothing is written through a symlink or outside the
 * target. Any mismatch or missing block throws RestoreError naming the file and the block;
 * no wrong file is ever put in place.
 */
export async function restoreSnapshot(options: RestoreOptions, deps: RestoreDeps): Promise<RestoreProgress> {
  const started = Date.now();
  const includes = (options.includes ?? [])
    .map((p) => p.replace(/^(\.\/+)+|^\/+|\/+$/g, ''))
    .filter((p) => p !== '' && p !== '.');
  const concurrency = Math.max(1, Math.floor(deps.concurrency));
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
  const budget: ChunkBudget = pLimit(concurrency);
  const inFlight = new Set<Promise<void>>();
  let failure: { err: unknown } | undefined;
  try {
    await mkdir(resolve(options.target), { recursive: true });
    // The target itself may be reached through a symlink the user chose; below it, none is followed.
    const target = await realpath(options.target);
    const safeDirs = new SafeDirectories(target);
    const inside = (path: string): string => {
      const abs = path === '.' ? target : resolve(target, path);
      if (abs !== target && !abs.startsWith(target + sep))
        throw new RestoreError(path, `${path}: refusing to restore outside the target`, undefined, {
          code: 'TARGET_UNSAFE',
        });
      return abs;
    };
    const manifest = await readManifest(deps.store, deps.decoder, options.record.manifest);
    for await (const { entry, chunks, contentHash } of joinFileParts(fileEntries(deps.store, deps.decoder, manifest))) {
      if (failure) break;
      if (!selected(entry.path, includes)) continue;
      const abs = inside(entry.path);
      if (entry.kind === 'dir') {
        await safeDirs.ensure(abs, entry.path);
        // A restore killed mid-file leaves its temporary file behind; the rerun removes it.
        for (const name of await readdir(abs)) if (TEMP_NAME.test(name)) await rm(join(abs, name), { force: true });
        dirs.push({ path: abs, mode: entry.mode, mtimeMs: entry.mtimeMs });
        progress.dirs += 1;
      } else if (entry.kind === 'symlink') {
        await safeDirs.ensure(dirname(abs), entry.path);
        const existing = await readlink(abs).catch(() => undefined);
        if (existing !== entry.target) {
          await rm(abs, { force: true, recursive: true });
          safeDirs.forget(abs);
          await symlink(entry.target as string, abs);
        }
        // Some file systems cannot set a symlink's own times; its target and content are what matter.
        await lutimes(abs, entry.mtimeMs / 1000, entry.mtimeMs / 1000).catch(() => undefined);
        progress.symlinks += 1;
      } else {
        await safeDirs.ensure(dirname(abs), entry.path);
        while (inFlight.size >= concurrency) await Promise.race(inFlight);
        const task = restoreFile(abs, entry, chunks, contentHash, { ...deps, concurrency }, budget, progress)
          .then(() => {
            progress.files += 1;
          })
          .catch((err: unknown) => {
            failure ??= { err };
          })
          .finally(() => inFlight.delete(task));
        inFlight.add(task);
      }
    }
    await Promise.all(inFlight);
    if (failure) throw failure.err;
    for (const d of dirs.reverse()) {
      await chmod(d.path, d.mode);
      await utimes(d.path, d.mtimeMs / 1000, d.mtimeMs / 1000);
    }
  } finally {
    // On an early throw (a bad path, an unreadable manifest) the files in flight still
    // finish or clean up their temporary files before the error reaches the caller.
    await Promise.all(inFlight);
    clearInterval(ticker);
  }
  progress.elapsedMs = Date.now() - started;
  return progress;
}

/**
 * Creates directories below the target one component at a time, refusing any component
 * that is a symlink: a snapshot (or a target) holding `out -> /elsewhere` and then
 * `out/file` must not write outside the target. Existing directories are made writable
 * for the owner so a rerun can replace files in them; their modes are applied at the end.
 */
class SafeDirectories {
  private readonly known = new Set<string>();

  constructor(private readonly target: string) {
    this.known.add(target);
  }

  async ensure(abs: string, entryPath: string): Promise<void> {
    if (this.known.has(abs)) return;
    await this.ensure(dirname(abs), entryPath);
    const st = await lstat(abs).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw err;
    });
    if (st?.isSymbolicLink())
      throw new RestoreError(
        entryPath,
        `${entryPath}: refusing to restore through the symlink ${abs.slice(this.target.length + 1)}`,
        undefined,
        { code: 'TARGET_UNSAFE' },
      );
    if (st && !st.isDirectory()) await rm(abs, { force: true });
    if (!st || !st.isDirectory()) await mkdir(abs);
    else if ((st.mode & 0o700) !== 0o700) await chmod(abs, (st.mode & 0o7777) | 0o700);
    this.known.add(abs);
  }

  forget(abs: string): void {
    for (const path of this.known) if (path === abs || path.startsWith(abs + sep)) this.known.delete(path);
  }
}

async function restoreFile(
  abs: string,
  entry: FileEvent,
  chunks: ChunkRef[],
  contentHash: string | undefined,
  deps: RestoreDeps,
  budget: ChunkBudget,
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
  const temp = join(dirname(abs), tempName());
  const fh = await open(temp, 'w', 0o600);
  const whole = createHash('sha256');
  const fetchChunk = async (c: ChunkRef): Promise<Buffer> => {
    const key = blockKey(c.hash);
    try {
      return deps.decoder.verify(key, await deps.store.get(key), c.hash);
    } catch (err) {
      if (err instanceof ObjectNotFoundError)
        throw new RestoreError(entry.path, `${entry.path}: block ${key} is missing`, key, {
          cause: err,
          code: 'BLOCK_MISSING',
        });
      if (err instanceof BlockError)
        throw new RestoreError(entry.path, `${entry.path}: ${err.message}`, key, { cause: err });
      throw err;
    }
  };
  // Each chunk holds a budget slot from its request until it is written, so the chunks
  // buffered over all files never exceed the budget. Chunks are asked for in file order
  // and the earliest one of every file holds a slot, so every file always progresses.
  const window: Array<{ data: Promise<Buffer>; written(): void }> = [];
  let next = 0;
  const fill = (): void => {
    while (window.length < deps.concurrency && next < chunks.length) {
      const chunk = chunks[next++] as ChunkRef;
      let written!: () => void;
      const isWritten = new Promise<void>((r) => (written = r));
      let resolveData!: (b: Buffer) => void;
      let rejectData!: (e: unknown) => void;
      const data = new Promise<Buffer>((res, rej) => {
        resolveData = res;
        rejectData = rej;
      });
      data.catch(() => undefined);
      void budget(async () => {
        try {
          resolveData(await fetchChunk(chunk));
        } catch (err) {
          rejectData(err);
          return;
        }
        await isWritten;
      });
      window.push({ data, written });
    }
  };
  try {
    fill();
    while (window.length > 0) {
      const slot = window.shift() as { data: Promise<Buffer>; written(): void };
      try {
        const data = await slot.data;
        whole.update(data);
        await fh.write(data);
        progress.chunksVerified += 1;
        progress.bytes += data.length;
      } finally {
        slot.written();
      }
      fill();
    }
    await fh.sync();
    await fh.close();
    const actual = whole.digest('hex');
    if (actual !== contentHash)
      throw new RestoreError(
        entry.path,
        `${entry.path}: restored content hashes to ${actual}, the snapshot says ${contentHash}`,
      );
    await chmod(temp, entry.mode);
    await utimes(temp, entry.mtimeMs / 1000, entry.mtimeMs / 1000);
    // rename() replaces a file atomically; only something else in the way is removed first.
    if (existing && !existing.isFile()) await rm(abs, { force: true, recursive: true });
    await rename(temp, abs);
  } catch (err) {
    // Release the slots of chunks requested but never written, so other files go on.
    for (const slot of window) slot.written();
    await fh.close().catch(() => undefined);
    await rm(temp, { force: true });
    throw err;
  }
}
