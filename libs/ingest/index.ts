/**
 * The ingest of change topics (the producer service): change records become versions in
 * change batches, which go through the chunk pipeline and are committed to the ledger.
 */
export { runIngest } from './ingest-service';
export type { IngestServiceOptions, RunningIngest } from './ingest-service';
export { PartitionIngest, RepairList } from './partition-ingest';
export type { IngestPublisher, PartitionIngestDeps, PartitionIngestStats } from './partition-ingest';
export { ChangeBatch, PartitionOffsets, batchKey, SEEN_CAP } from './batch';
export type { BatchLimits, SealedRange } from './batch';
export { LedgerWatch } from './ledger-watch';
export { changeBatchId, partitionOfKey } from './batch-id';
export { S3StagedObjects, memoryStagedObjects, payloadChunks } from './payload';
export type { StagedObjects, PayloadChunkingDeps } from './payload';
