import { createHash } from 'node:crypto';
import { BlockDecoder, BlockEncoder } from '../blocks';
import { pseudoRandomBytes } from '../chunking/pseudo-random';
import type { ChunkEvent } from '../events';
import { MemoryObjectStore } from '../store';

/** Shared fixtures of the chunk-worker and verifier unit tests. */
export const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');
export const SNAP = createHash('md5').update('pipeline-test').digest('hex');
export const TEXT = Buffer.from('a chunk of very compressible text. '.repeat(300));
export const RANDOM = pseudoRandomBytes(8192, 7);

export function chunk(data: Buffer, seq = 0, repair?: boolean): ChunkEvent {
  return {
    meta: {
      snapshotId: SNAP,
      source: 'src',
      seq,
      hash: sha256(data),
      size: data.length,
      ...(repair ? { repair } : {}),
    },
    data,
  };
}

export function setup(): { store: MemoryObjectStore; encoder: BlockEncoder; decoder: BlockDecoder } {
  return { store: new MemoryObjectStore(), encoder: new BlockEncoder(3), decoder: new BlockDecoder(1024 * 1024) };
}

export function flipByte(store: MemoryObjectStore, key: string, at: number): void {
  const block = store.objects.get(key)!;
  block[at] = (block[at] as number) ^ 0x01;
}
