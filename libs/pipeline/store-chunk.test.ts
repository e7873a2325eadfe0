import { BlockEncoder, CODEC } from '../blocks';
import { blockKey } from '../store';
import { storeChunk } from './store-chunk';
import { RANDOM, SNAP, TEXT, chunk, flipByte, setup, sha256 } from './test-fixtures';
import { verifyStoredChunk } from './verify-chunk';

describe('storeChunk', () => {
  it.each([
    ['compressible', TEXT, CODEC.zstd],
    ['incompressible', RANDOM, CODEC.none],
  ])('stores a %s chunk once: uploaded, then existing with the same storedSize', async (_what, data, codec) => {
    const deps = setup();
    const first = await storeChunk(chunk(data, 4), deps);
    const key = blockKey(sha256(data));
    const block = deps.store.objects.get(key)!;
    expect(block).toBeDefined();
    expect(block[4]).toBe(codec);
    expect(first).toEqual({
      snapshotId: SNAP,
      seq: 4,
      hash: sha256(data),
      size: data.length,
      storedSize: block.length,
      key,
      origin: 'uploaded',
    });
    expect(key).toBe(`blocks/${sha256(data).slice(0, 2)}/${sha256(data)}`);

    const second = await storeChunk(chunk(data, 9), deps);
    expect(second).toEqual({ ...first, seq: 9, origin: 'existing' });
    expect(deps.store.objects.get(key)!.equals(block)).toBe(true);
    expect(deps.store.objects.size).toBe(1);
  });

  it('reports the size of the block already there, and leaves that block alone (no repair)', async () => {
    const deps = setup();
    const key = blockKey(sha256(TEXT));
    const damaged = Buffer.from('BSB\x01\x01garbage', 'latin1');
    await deps.store.put(key, damaged);
    const stored = await storeChunk(chunk(TEXT), deps);
    expect(stored.origin).toBe('existing');
    expect(stored.storedSize).toBe(damaged.length);
    expect(deps.store.objects.get(key)!.equals(damaged)).toBe(true);
  });

  it('a repair overwrites a corrupted block, which then verifies', async () => {
    const deps = setup();
    const first = await storeChunk(chunk(TEXT), deps);
    flipByte(deps.store, first.key, 20);
    expect(await verifyStoredChunk(first, deps)).toHaveProperty('corrupt');

    const repaired = await storeChunk(chunk(TEXT, 0, true), deps);
    expect(repaired.origin).toBe('uploaded');
    expect(repaired.storedSize).toBe(first.storedSize);
    expect(deps.store.objects.get(first.key)!.equals(new BlockEncoder(3).encode(TEXT))).toBe(true);
    expect(await verifyStoredChunk(repaired, deps)).toEqual({
      verified: { snapshotId: SNAP, seq: 0, hash: sha256(TEXT), size: TEXT.length, storedSize: first.storedSize },
    });
  });
});
