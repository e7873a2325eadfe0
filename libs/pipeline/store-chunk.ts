import type { BlockEncoder } from '../blocks';
import type { ChunkEvent, ChunkStoredEvent } from '../events';
import { blockKey, type ObjectStore } from '../store';

export interface StoreChunkDeps {
  store: ObjectStore;
  encoder: BlockEncoder;
}

/**
 * The chunk-worker's effect: the chunk becomes a block under its content address. The
 * write is create-only, so any number of deliveries leave one block; a repair overwrites
 * the block that verification found corrupt. The event's bytes were already checked
 * against its hash when it was decoded.
 */
export async function storeChunk(event: ChunkEvent, deps: StoreChunkDeps): Promise<ChunkStoredEvent> {
  const { meta, data } = event;
  const key = blockKey(meta.hash);
  const block = deps.encoder.encode(data);
  const { created } = await deps.store.put(key, block, { ifNoneMatch: meta.repair !== true });
  let storedSize = block.length;
  if (!created) storedSize = (await deps.store.head(key))?.size ?? block.length;
  return {
    snapshotId: meta.snapshotId,
    seq: meta.seq,
    hash: meta.hash,
    size: meta.size,
    storedSize,
    key,
    origin: created ? 'uploaded' : 'existing',
  };
}
