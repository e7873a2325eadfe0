import { createHash, randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { open, rename, rmdir, unlink, type FileHandle } from 'node:fs/promises';
import type pLimit from 'p-limit';
import type { BlockDecoder } from '../blocks';
import { BlockError } from '../errors';
import type { ChunkRef, FileEvent } from '../events';
import { ObjectNotFoundError, blockKey, type ObjectStore } from '../store';
import { restorableMode } from './mode-bits';
import { NOT_EMPTY, keepReason, kindOf, type OverwritePolicy } from './overwrite';
import { RestoreError } from './restore-error';
import type { TargetDir } from './target-dir';

const { O_RDONLY, O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW, O_NONBLOCK } = constants;

/** Names of the temporary files a restore writes before renaming them into place. */
export const TEMP_NAME = /^\.[0-9a-f]{12}\.backstream-restore$/;
export const tempName = (): string => `.${randomBytes(6).toString('hex')}.backstream-restore`;

/** Chunk slots shared by every file in flight; a slot is held from the request until the chunk is written. */
export type ChunkBudget = ReturnType<typeof pLimit>;

export interface FileRestoreDeps {
  store: ObjectStore;
  decoder: BlockDecoder;
  concurrency: number;
  budget: ChunkBudget;
  overwrite: OverwritePolicy;
  /** Called as each chunk is written. */
  onChunk(bytes: number): void;
}

export type FileOutcome = { restored: 'written' | 'already-correct'; bytes: number } | { leftAlone: string };

async function sha256Of(fh: FileHandle): Promise<string> {
  const hash = createHash('sha256');
  for await (const data of fh.createReadStream({ start: 0, autoClose: false })) hash.update(data as Buffer);
  return hash.digest('hex');
}

/**
 * Restores the regular file `name` of `dir`: every chunk's hash and the whole file's are
 * checked; it is written to a temporary name opened with O_EXCL|O_NOFOLLOW, gets its mode
 * and mtime through the descriptor, and is renamed into place. A file already there with
 * the right size and hash is left as it is (its mode and mtime set, but with `never`). An
 * entry of another kind in the way is replaced only as keepReason allows.
 */
export async function restoreFile(
  dir: TargetDir,
  name: string,
  entry: FileEvent,
  chunks: ChunkRef[],
  contentHash: string | undefined,
  deps: FileRestoreDeps,
): Promise<FileOutcome> {
  const { mode } = restorableMode('file', entry.mode);
  const mtime = entry.mtimeMs / 1000;
  const existing = await dir.lstat(name);
  if (existing?.isFile() && existing.size === entry.size) {
    const fh = await open(dir.at(name), O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
    try {
      const st = await fh.stat();
      if (st.isFile() && st.ino === existing.ino && st.dev === existing.dev && (await sha256Of(fh)) === contentHash) {
        if (deps.overwrite !== 'never') {
          await fh.chmod(mode);
          await fh.utimes(mtime, mtime);
        }
        return { restored: 'already-correct', bytes: entry.size };
      }
    } finally {
      await fh.close();
    }
  }
  if (existing) {
    const reason = keepReason(deps.overwrite, kindOf(existing), 'file');
    if (reason) return { leftAlone: reason };
    if (existing.isDirectory()) {
      const removed = await rmdir(dir.at(name)).then(
        () => true,
        (err: NodeJS.ErrnoException) => {
          if (err.code === 'ENOTEMPTY' || err.code === 'EEXIST') return false;
          throw err;
        },
      );
      if (!removed) return { leftAlone: NOT_EMPTY };
    }
  }
  const temp = tempName();
  const fh = await open(dir.at(temp), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
  try {
    await writeChunks(fh, entry, chunks, contentHash, deps);
    await fh.chmod(mode);
    await fh.utimes(mtime, mtime);
    await fh.close();
    // rename() replaces a file or a symlink atomically, and never a directory.
    await rename(dir.at(temp), dir.at(name));
  } catch (err) {
    await fh.close().catch(() => undefined);
    await unlink(dir.at(temp)).catch(() => undefined);
    throw err;
  }
  return { restored: 'written', bytes: entry.size };
}

/** Fetches, checks and writes the chunks in order, then fsyncs; throws RestoreError on any mismatch. */
async function writeChunks(
  fh: FileHandle,
  entry: FileEvent,
  chunks: ChunkRef[],
  contentHash: string | undefined,
  deps: FileRestoreDeps,
): Promise<void> {
  const whole = createHash('sha256');
  const fetchChunk = async (c: ChunkRef): Promise<Buffer> => {
    const key = blockKey(c.hash);
    try {
      return deps.decoder.verify(key, await deps.store.get(key, { maxBytes: deps.decoder.maxBlockBytes }), c.hash);
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
      void deps.budget(async () => {
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
        deps.onChunk(data.length);
      } finally {
        slot.written();
      }
      fill();
    }
  } finally {
    // Release the slots of chunks requested but never written, so other files go on.
    for (const slot of window) slot.written();
  }
  await fh.sync();
  const actual = whole.digest('hex');
  if (actual !== contentHash)
    throw new RestoreError(
      entry.path,
      `${entry.path}: restored content hashes to ${actual}, the snapshot says ${contentHash}`,
    );
}
