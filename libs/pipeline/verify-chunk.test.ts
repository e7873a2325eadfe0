import { BlockDecoder, BlockEncoder } from '../blocks';
import { InvalidEventError } from '../errors';
import type { ChunkStoredEvent } from '../events';
import { StoreError, blockKey } from '../store';
import { storeChunk } from './store-chunk';
import { RANDOM, SNAP, TEXT, chunk, flipByte, setup, sha256 } from './test-fixtures';
import { verifyStoredChunk } from './verify-chunk';

describe('verifyStoredChunk', () => {
  async function stored(data: Buffer, seq = 2): Promise<{ deps: ReturnType<typeof setup>; event: ChunkStoredEvent }> {
    const deps = setup();
    return { deps, event: await storeChunk(chunk(data, seq), deps) };
  }

  it.each([
    ['zstd', TEXT],
    ['raw', RANDOM],
  ])('verifies a good %s block', async (_what, data) => {
    const { deps, event } = await stored(data);
    expect(await verifyStoredChunk(event, deps)).toEqual({
      verified: { snapshotId: SNAP, seq: 2, hash: sha256(data), size: data.length, storedSize: event.storedSize },
    });
    // Pure in effect: a second check gives the same answer and leaves the store as it was.
    const before = Buffer.from(deps.store.objects.get(event.key)!);
    expect(await verifyStoredChunk(event, deps)).toHaveProperty('verified');
    expect(deps.store.objects.get(event.key)!.equals(before)).toBe(true);
  });

  it('reports a missing block as corrupt', async () => {
    const { deps, event } = await stored(TEXT);
    await deps.store.delete(event.key);
    expect(await verifyStoredChunk(event, deps)).toEqual({
      corrupt: { snapshotId: SNAP, seq: 2, hash: event.hash, key: event.key, reason: `block ${event.key} is missing` },
    });
  });

  it.each([
    ['zstd', TEXT],
    ['raw', RANDOM],
  ])('reports a %s block with a flipped byte as corrupt, with a reason', async (_what, data) => {
    const { deps, event } = await stored(data);
    flipByte(deps.store, event.key, event.storedSize - 1);
    const outcome = await verifyStoredChunk(event, deps);
    expect(outcome).toEqual({
      corrupt: { snapshotId: SNAP, seq: 2, hash: event.hash, key: event.key, reason: expect.any(String) as string },
    });
    if (!('corrupt' in outcome)) throw new Error('expected corrupt');
    expect(outcome.corrupt.reason).toContain(event.key);
  });

  it('reports a well-formed block of other content as corrupt (hash mismatch)', async () => {
    const { deps, event } = await stored(TEXT);
    const other = Buffer.from(TEXT);
    other[0] = 0x41;
    await deps.store.put(event.key, new BlockEncoder(3).encode(other));
    const outcome = await verifyStoredChunk(event, deps);
    if (!('corrupt' in outcome)) throw new Error('expected corrupt');
    expect(outcome.corrupt.reason).toBe(
      `block ${event.key} decodes to bytes hashing ${sha256(other)}, expected ${event.hash}`,
    );
  });

  it('reports a block whose content has the hash but not the announced size as corrupt', async () => {
    const { deps, event } = await stored(TEXT);
    const outcome = await verifyStoredChunk({ ...event, size: TEXT.length + 1 }, deps);
    if (!('corrupt' in outcome)) throw new Error('expected corrupt');
    expect(outcome.corrupt.reason).toBe(`block ${event.key} holds ${TEXT.length} bytes, expected ${TEXT.length + 1}`);
  });

  it('reports a block above the decoder maxSize as corrupt', async () => {
    const { deps, event } = await stored(TEXT);
    const outcome = await verifyStoredChunk(event, { store: deps.store, decoder: new BlockDecoder(100) });
    if (!('corrupt' in outcome)) throw new Error('expected corrupt');
    expect(outcome.corrupt.reason).toMatch(/more than the largest chunk/);
  });

  it('refuses a planted block far larger than the largest block without reading it whole', async () => {
    const { deps, event } = await stored(TEXT);
    deps.store.objects.set(event.key, Buffer.alloc(8 * 1024 * 1024));
    const get = jest.spyOn(deps.store, 'get');
    const outcome = await verifyStoredChunk(event, deps);
    if (!('corrupt' in outcome)) throw new Error('expected corrupt');
    expect(outcome.corrupt.reason).toBe(
      `object ${event.key} is larger than the ${deps.decoder.maxBlockBytes} bytes its reader expects`,
    );
    expect(get).toHaveBeenCalledWith(event.key, { maxBytes: 1024 * 1024 + 5 });
  });

  it('rejects a stored event naming a key that is not blockKey(hash), without reading the store', async () => {
    const { deps, event } = await stored(TEXT);
    const get = jest.spyOn(deps.store, 'get');
    for (const key of [`blocks/zz/${event.hash}`, `${event.key}.tmp`, blockKey(sha256(RANDOM))]) {
      const attempt = verifyStoredChunk({ ...event, key }, deps);
      await expect(attempt).rejects.toBeInstanceOf(InvalidEventError);
      await expect(attempt).rejects.toThrow(
        `stored event names key ${key}, but chunk ${event.hash} lives at ${event.key}`,
      );
    }
    expect(get).not.toHaveBeenCalled();
  });

  it('lets a store failure through (to retry the batch) instead of calling the block corrupt', async () => {
    const { deps, event } = await stored(TEXT);
    const failure = new StoreError('503 Slow Down', { retriable: true });
    jest.spyOn(deps.store, 'get').mockRejectedValue(failure);
    await expect(verifyStoredChunk(event, deps)).rejects.toBe(failure);
  });
});
