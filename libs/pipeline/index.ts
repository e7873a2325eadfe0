export { storeChunk } from './store-chunk';
export type { StoreChunkDeps } from './store-chunk';
export { verifyStoredChunk } from './verify-chunk';
export type { VerifyChunkDeps, VerifyOutcome } from './verify-chunk';
