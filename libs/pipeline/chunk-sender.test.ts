import { createHash } from 'node:crypto';
import type { Message } from 'kafkajs';
import { HEADERS, decodeChunk, decodeJson } from '../events';
import { MemoryObjectStore, StoreError, blockKey } from '../store';
import { ChunkSender, Slots, type NewChunk } from './chunk-sender';

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');
const TOPICS = { chunks: 'bs.chunks', stored: 'bs.stored' };
const SNAP = 'a'.repeat(32);

function chunk(text: string, seq: number, extra: Partial<NewChunk> = {}): NewChunk {
  const data = Buffer.from(text);
  return { snapshotId: SNAP, source: 'src', seq, hash: sha256(data), data, ...extra };
}

/** A published message as a consumer reads it back. */
const incoming = (m: Message) => ({ value: m.value as Buffer, headers: m.headers });

function recorder(): { published: Array<{ topic: string; message: Message }>; publish: jest.Mock } {
  const published: Array<{ topic: string; message: Message }> = [];
  const publish = jest.fn((topic: string, message: Message) => {
    published.push({ topic, message });
    return Promise.resolve();
  });
  return { published, publish };
}

/** Lets every promise that can settle do so. */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

describe('ChunkSender', () => {
  it('announces a chunk whose block exists as stored (origin existing), and sends the others with their bytes', async () => {
    const store = new MemoryObjectStore();
    const there = chunk('stored before', 0);
    await store.put(blockKey(there.hash), Buffer.alloc(42));
    const { published, publish } = recorder();
    const decided: string[] = [];
    const sender = new ChunkSender({
      store,
      publisher: { publish },
      topics: TOPICS,
      slots: 2,
      onDecided: (outcome, c) => decided.push(`${outcome}:${c.seq}`),
    });
    const fresh = chunk('new content', 1);
    await sender.send(there);
    await sender.send(fresh);
    await sender.drain();

    expect(decided.sort()).toEqual(['found:0', 'sent:1']);
    const stored = published.find((p) => p.topic === TOPICS.stored);
    expect(stored?.message.key).toBe(there.hash);
    expect(decodeJson(incoming(stored!.message), ['chunk-stored']).event).toEqual({
      snapshotId: SNAP,
      seq: 0,
      hash: there.hash,
      size: there.data.length,
      storedSize: 42,
      key: blockKey(there.hash),
      origin: 'existing',
    });
    const sent = published.find((p) => p.topic === TOPICS.chunks);
    expect(decodeChunk(incoming(sent!.message))).toEqual({
      meta: { snapshotId: SNAP, source: 'src', seq: 1, hash: fresh.hash, size: fresh.data.length },
      data: fresh.data,
    });
  });

  it('sends a repair with its bytes and the repair flag, without asking the store', async () => {
    const store = new MemoryObjectStore();
    const c = chunk('corrupt in the store', 3, { repair: true });
    await store.put(blockKey(c.hash), Buffer.from('garbage'));
    const head = jest.spyOn(store, 'head');
    const { published, publish } = recorder();
    const sender = new ChunkSender({ store, publisher: { publish }, topics: TOPICS, slots: 1 });
    await sender.send(c);
    await sender.drain();
    expect(head).not.toHaveBeenCalled();
    expect(published).toHaveLength(1);
    expect(published[0]!.topic).toBe(TOPICS.chunks);
    expect(JSON.parse(String(published[0]!.message.headers![HEADERS.meta]))).toMatchObject({ seq: 3, repair: true });
  });

  it('keeps at most `slots` chunks in flight: send() waits for a free slot', async () => {
    const store = new MemoryObjectStore();
    const heads: Array<() => void> = [];
    jest.spyOn(store, 'head').mockImplementation(() => new Promise((resolve) => heads.push(() => resolve(undefined))));
    const { publish } = recorder();
    const sender = new ChunkSender({ store, publisher: { publish }, topics: TOPICS, slots: 2 });
    await sender.send(chunk('a', 0));
    await sender.send(chunk('b', 1));
    let third = false;
    const sending = sender.send(chunk('c', 2)).then(() => (third = true));
    await settle();
    expect(third).toBe(false);
    expect(heads).toHaveLength(2);
    heads[0]!();
    await sending;
    expect(third).toBe(true);
    await settle();
    expect(heads).toHaveLength(3);
    heads[1]!();
    heads[2]!();
    await sender.drain();
    expect(publish).toHaveBeenCalledTimes(3);
  });

  it('shares slots between senders', async () => {
    const store = new MemoryObjectStore();
    const heads: Array<() => void> = [];
    jest.spyOn(store, 'head').mockImplementation(() => new Promise((resolve) => heads.push(() => resolve(undefined))));
    const slots = new Slots(1);
    const { publish } = recorder();
    const a = new ChunkSender({ store, publisher: { publish }, topics: TOPICS, slots });
    const b = new ChunkSender({ store, publisher: { publish }, topics: TOPICS, slots });
    await a.send(chunk('a', 0));
    let bStarted = false;
    const bSend = b.send(chunk('b', 0)).then(() => (bStarted = true));
    await settle();
    expect(bStarted).toBe(false);
    expect(slots.inUse).toBe(1);
    heads[0]!();
    await bSend;
    await settle();
    heads[1]!();
    await Promise.all([a.drain(), b.drain()]);
    expect(slots.inUse).toBe(0);
  });

  it('throws the failure of a chunk in flight from the next send() and from drain(), and gives its slot back', async () => {
    const store = new MemoryObjectStore();
    const failure = new StoreError('503 Slow Down', { retriable: true });
    jest.spyOn(store, 'head').mockRejectedValueOnce(failure);
    const { publish } = recorder();
    const slots = new Slots(4);
    const sender = new ChunkSender({ store, publisher: { publish }, topics: TOPICS, slots });
    await sender.send(chunk('a', 0));
    await settle();
    expect(sender.failed).toEqual({ err: failure });
    expect(() => sender.throwIfFailed()).toThrow(failure);
    await expect(sender.send(chunk('b', 1))).rejects.toBe(failure);
    await expect(sender.drain()).rejects.toBe(failure);
    expect(slots.inUse).toBe(0);
    expect(publish).not.toHaveBeenCalled();
  });
});

describe('ChunkSender with Object Lock', () => {
  it('keeps the lock of a block a new snapshot finds in the store, extending it only when due', async () => {
    const DAY = 24 * 60 * 60 * 1000;
    let now = new Date('2026-01-01T00:00:00Z');
    const objectLock = { mode: 'GOVERNANCE' as const, retentionDays: 30, extendDays: 7 };
    const store = new MemoryObjectStore({ objectLock, now: () => now });
    const shared = chunk('in every snapshot', 0);
    await store.put(blockKey(shared.hash), Buffer.from('block'));
    const keepLocked = jest.spyOn(store, 'keepLocked');
    const { publish } = recorder();
    const sender = new ChunkSender({ store, publisher: { publish }, topics: TOPICS, slots: 1 });

    now = new Date(now.getTime() + DAY);
    await sender.send(shared);
    await sender.drain();
    expect(keepLocked).toHaveBeenCalledTimes(1);
    expect(store.extensions).toEqual([]);

    now = new Date(now.getTime() + 10 * DAY);
    await sender.send({ ...shared, seq: 1 });
    await sender.drain();
    expect(store.extensions).toEqual([blockKey(shared.hash)]);
    expect(store.locks.get(blockKey(shared.hash))).toEqual(new Date(now.getTime() + 37 * DAY));

    // A new chunk is not the sender's to lock: the chunk-worker's put does that.
    await sender.send(chunk('never stored', 2));
    await sender.drain();
    expect(keepLocked).toHaveBeenCalledTimes(2);
  });

  it('fails the chunk when the lock cannot be kept', async () => {
    const store = new MemoryObjectStore();
    const there = chunk('stored', 0);
    await store.put(blockKey(there.hash), Buffer.from('block'));
    const failure = new StoreError('S3 PUT retention of x failed: AccessDenied (HTTP 403)', { retriable: false });
    jest.spyOn(store, 'keepLocked').mockRejectedValue(failure);
    const { publish } = recorder();
    const sender = new ChunkSender({ store, publisher: { publish }, topics: TOPICS, slots: 1 });
    await sender.send(there);
    await expect(sender.drain()).rejects.toBe(failure);
    expect(publish).not.toHaveBeenCalled();
  });
});

describe('Slots', () => {
  it('hands slots out in order of request; a release is counted once', async () => {
    const slots = new Slots(1);
    const first = await slots.acquire();
    const order: number[] = [];
    const second = slots.acquire().then((r) => (order.push(2), r));
    const third = slots.acquire().then((r) => (order.push(3), r));
    first();
    first();
    const releaseSecond = await second;
    await settle();
    expect(order).toEqual([2]);
    releaseSecond();
    (await third)();
    expect(order).toEqual([2, 3]);
    expect(slots.inUse).toBe(0);
    expect(() => new Slots(0)).toThrow(RangeError);
  });
});
