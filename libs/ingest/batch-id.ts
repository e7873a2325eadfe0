import { randomBytes } from 'node:crypto';
import { Partitioners, type PartitionMetadata } from 'kafkajs';

const partitioner = Partitioners.DefaultPartitioner();
const metadata = new Map<number, PartitionMetadata[]>();

/** The partition of `partitions` that a keyed message lands in: the producers' partitioner (Java's murmur2). */
export function partitionOfKey(key: string, partitions: number): number {
  if (!Number.isSafeInteger(partitions) || partitions < 1) throw new RangeError(`partitions must be positive`);
  let partitionMetadata = metadata.get(partitions);
  if (!partitionMetadata) {
    partitionMetadata = Array.from({ length: partitions }, (_, partitionId): PartitionMetadata => ({
      partitionErrorCode: 0,
      partitionId,
      leader: 0,
      replicas: [0],
      isr: [0],
    }));
    metadata.set(partitions, partitionMetadata);
  }
  return partitioner({ topic: 'progress', partitionMetadata, message: { key, value: null } });
}

/** Attempts before giving up: with p partitions each draw hits with probability 1/p. */
const MAX_DRAWS = 1_000_000;

/**
 * A fresh change-batch id (32 hex, random: a batch published again after a crash is a
 * new batch) whose progress partition is the one of the batch key.
 *
 * Why: the batch's own events are keyed by the batch key (`changes:<topic>:<partition>`),
 * but the verifier publishes each chunk's `chunk-verified` / `chunk-corrupt` keyed by the
 * snapshot id, and the archiver must see both on one partition. Drawing ids until one
 * lands with the batch key takes `partitions` draws on average.
 */
export function changeBatchId(key: string, partitions: number, random: (n: number) => Buffer = randomBytes): string {
  const target = partitionOfKey(key, partitions);
  for (let draw = 0; draw < MAX_DRAWS; draw++) {
    const id = random(16).toString('hex');
    if (partitions === 1 || partitionOfKey(id, partitions) === target) return id;
  }
  throw new Error(`no batch id for partition ${target} of ${partitions} in ${MAX_DRAWS} draws`);
}
