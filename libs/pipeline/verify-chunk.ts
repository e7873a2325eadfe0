import type { BlockDecoder } from '../blocks';
import { BlockError, InvalidEventError } from '../errors';
import type { ChunkCorruptEvent, ChunkStoredEvent, ChunkVerifiedEvent } from '../events';
import { ObjectNotFoundError, blockKey, type ObjectStore } from '../store';

export interface VerifyChunkDeps {
  store: ObjectStore;
  decoder: BlockDecoder;
}

export type VerifyOutcome = { verified: ChunkVerifiedEvent } | { corrupt: ChunkCorruptEvent };

/**
 * The verifier's check: read the block back from the store and prove it decodes to bytes
 * whose SHA-256 is the chunk's hash. Pure in effect — reading twice gives the same
 * answer — so redelivery only repeats an event the archiver already counted.
 */
export async function verifyStoredChunk(event: ChunkStoredEvent, deps: VerifyChunkDeps): Promise<VerifyOutcome> {
  const expectedKey = blockKey(event.hash);
  if (event.key !== expectedKey) {
    throw new InvalidEventError(`stored event names key ${event.key}, but chunk ${event.hash} lives at ${expectedKey}`);
  }
  const corrupt = (reason: string): VerifyOutcome => ({
    corrupt: { snapshotId: event.snapshotId, seq: event.seq, hash: event.hash, key: event.key, reason },
  });
  let block: Buffer;
  try {
    block = await deps.store.get(event.key, { maxBytes: deps.decoder.maxBlockBytes });
  } catch (err) {
    if (err instanceof ObjectNotFoundError) return corrupt(`block ${event.key} is missing`);
    // An encrypted block that does not open (tampered, or moved from another name).
    if (err instanceof BlockError) return corrupt(err.message);
    throw err;
  }
  try {
    const data = deps.decoder.verify(event.key, block, event.hash);
    if (data.length !== event.size)
      return corrupt(`block ${event.key} holds ${data.length} bytes, expected ${event.size}`);
  } catch (err) {
    if (err instanceof BlockError) return corrupt(err.message);
    throw err;
  }
  return {
    verified: {
      snapshotId: event.snapshotId,
      seq: event.seq,
      hash: event.hash,
      size: event.size,
      storedSize: block.length,
    },
  };
}
