export { storeChunk } from './store-chunk';
export type { StoreChunkDeps } from './store-chunk';
export { verifyStoredChunk } from './verify-chunk';
export type { VerifyChunkDeps, VerifyOutcome } from './verify-chunk';
export { ChunkSender, Slots } from './chunk-sender';
export type { ChunkPublisher, ChunkSenderOptions, NewChunk } from './chunk-sender';
