import type { Message } from 'kafkajs';
import { encodeChunk, encodeJson } from '../events';
import { blockKey, type ObjectStore } from '../store';
import { sendMessage } from '../telemetry';

/** Where chunk events go: an EventPublisher fits (publish may wait for back-pressure). */
export interface ChunkPublisher {
  publish(topic: string, message: Message): Promise<void>;
}

/**
 * A counting semaphore: at most `size` holders at once. One instance may be shared by
 * several ChunkSenders, so that their chunks waiting on the store count against one bound.
 */
export class Slots {
  private free: number;
  private readonly waiting: Array<() => void> = [];

  constructor(readonly size: number) {
    if (!Number.isSafeInteger(size) || size < 1) throw new RangeError(`Slots: size must be a positive integer`);
    this.free = size;
  }

  /** Waits for a free slot and takes it; call the returned function once to give it back. */
  async acquire(): Promise<() => void> {
    if (this.free > 0) this.free -= 1;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next) next();
      else this.free += 1;
    };
  }

  /** Slots taken now. */
  get inUse(): number {
    return this.size - this.free;
  }
}

/** A chunk given a seq, with its bytes, to be announced to the pipeline. */
export interface NewChunk {
  snapshotId: string;
  source: string;
  seq: number;
  hash: string;
  data: Buffer;
  /** Send the bytes even if the block exists, and overwrite it (the block was found corrupt). */
  repair?: boolean;
}

export interface ChunkSenderOptions {
  store: ObjectStore;
  publisher: ChunkPublisher;
  topics: { chunks: string; stored: string };
  /** Chunks held at once (existence check + publish): a bound of this sender's own, or shared slots. */
  slots: number | Slots;
  /**
   * Called once per chunk when it is decided: `found` when its block exists already
   * (announced as stored, only re-verified), `sent` when its bytes go through Kafka.
   */
  onDecided?(outcome: 'found' | 'sent', chunk: NewChunk): void;
  /** Called once, when the first chunk fails (its error is thrown later by send() or drain()). */
  onFailed?(err: unknown): void;
}

/**
 * Publishes chunks that a snapshot (or change batch) has just given a seq: if the block is
 * in the store already (a resumed or deduplicated backup, a payload seen before), only a
 * `chunk-stored` event with origin `existing`, so the verifier re-reads it; otherwise a
 * `chunk` event with the bytes, for the chunk-workers.
 *
 * Asking the store whether the block exists costs a round trip per chunk, so several are
 * kept in flight while the caller goes on reading: send() returns once the chunk holds a
 * slot (each holds its bytes, so the bound is `slots` chunks), and a failure of any chunk
 * in flight is thrown by a later send() or by drain().
 */
export class ChunkSender {
  private readonly slots: Slots;
  private readonly work = new Set<Promise<void>>();
  private failure: { err: unknown } | undefined;

  constructor(private readonly options: ChunkSenderOptions) {
    this.slots = typeof options.slots === 'number' ? new Slots(options.slots) : options.slots;
  }

  /** Starts announcing one chunk; waits for a slot first. Throws the first failure of earlier chunks. */
  async send(chunk: NewChunk): Promise<void> {
    this.throwIfFailed();
    const release = await this.slots.acquire();
    if (this.failure) {
      release();
      throw this.failure.err;
    }
    const work: Promise<void> = this.announce(chunk)
      .catch((err: unknown) => {
        if (this.failure) return;
        this.failure = { err };
        this.options.onFailed?.(err);
      })
      .finally(() => {
        release();
        this.work.delete(work);
      });
    this.work.add(work);
  }

  /** Waits until every chunk sent so far is published (handed to the publisher); throws the first failure. */
  async drain(): Promise<void> {
    while (this.work.size > 0) await Promise.race(this.work);
    this.throwIfFailed();
  }

  /** The first failure of a chunk in flight, if any. */
  get failed(): { err: unknown } | undefined {
    return this.failure;
  }

  throwIfFailed(): void {
    if (this.failure) throw this.failure.err;
  }

  private async announce(chunk: NewChunk): Promise<void> {
    const { store, publisher, topics } = this.options;
    const { snapshotId, seq, hash, data } = chunk;
    const size = data.length;
    if (chunk.repair !== true) {
      const key = blockKey(hash);
      const existing = await store.head(key);
      if (existing) {
        // This snapshot shares the block: under Object Lock, it stays locked as long as a new one.
        await store.keepLocked(existing);
        this.options.onDecided?.('found', chunk);
        // Each chunk's journey is a trace of its own, starting here.
        await sendMessage(
          topics.stored,
          (traced) =>
            publisher.publish(
              topics.stored,
              traced(
                encodeJson(
                  'chunk-stored',
                  { snapshotId, seq, hash, size, storedSize: existing.size, key, origin: 'existing' },
                  hash,
                ),
              ),
            ),
          { newTrace: true, attributes: { 'backstream.chunk.hash': hash, 'backstream.snapshot.id': snapshotId } },
        );
        return;
      }
    }
    this.options.onDecided?.('sent', chunk);
    await sendMessage(
      topics.chunks,
      (traced) =>
        publisher.publish(
          topics.chunks,
          traced(
            encodeChunk({
              meta: {
                snapshotId,
                source: chunk.source,
                seq,
                hash,
                size,
                ...(chunk.repair === true ? { repair: true } : {}),
              },
              data,
            }),
          ),
        ),
      {
        newTrace: true,
        attributes: {
          'backstream.chunk.hash': hash,
          'backstream.snapshot.id': snapshotId,
          'messaging.message.body.size': size,
        },
      },
    );
  }
}
