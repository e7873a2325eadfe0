import type { ChunkRef, FileEvent } from '../events';
import { compareTreePaths } from './walk';

/** A file of the parent snapshot, its parts joined. */
export interface ParentFile {
  entry: FileEvent;
  chunks: ChunkRef[];
  contentHash: string | undefined;
}

/**
 * Walks the parent snapshot's file list alongside the tree: both are in compareTreePaths
 * order, so finding the previous version of each path takes one pass and holds one
 * entry (a file's chunk list) in memory, whatever the size of the snapshot.
 */
export class ParentCursor {
  private head: FileEvent | undefined;
  private started = false;

  constructor(private readonly entries: AsyncIterator<FileEvent> | undefined) {}

  private async next(): Promise<void> {
    if (!this.entries) {
      this.head = undefined;
      return;
    }
    const r = await this.entries.next();
    this.head = r.done ? undefined : r.value;
  }

  /** The parent's entry for `path`, if it had one. Calls must come in walk order. */
  async find(path: string): Promise<ParentFile | undefined> {
    if (!this.started) {
      this.started = true;
      await this.next();
    }
    while (this.head && compareTreePaths(this.head.path, path) < 0) await this.next();
    if (!this.head || this.head.path !== path) return undefined;
    const first = this.head;
    const chunks = [...first.chunks];
    let contentHash = first.contentHash;
    let last = first.last;
    await this.next();
    while (!last && this.head && this.head.path === path) {
      chunks.push(...this.head.chunks);
      contentHash = this.head.contentHash ?? contentHash;
      last = this.head.last;
      await this.next();
    }
    return { entry: first, chunks, contentHash };
  }
}
