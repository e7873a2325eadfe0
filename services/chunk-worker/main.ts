import { BlockEncoder } from '../../libs/blocks';
import { runStage } from '../../libs/bus';
import { consumerGroupId, decodeChunk, encodeJson, topicName } from '../../libs/events';
import { storeChunk } from '../../libs/pipeline';
import type { ServiceContext, Stoppable } from '../../libs/runtime';
import { backstreamMetrics } from '../../libs/telemetry';

/** chunk-worker: chunks topic → content-addressed blocks in the store → stored topic. */
export function startChunkWorker(ctx: ServiceContext): Promise<Stoppable> {
  const { config } = ctx;
  const encoder = new BlockEncoder(config.chunkWorker.compressionLevel);
  const storedTopic = topicName(config, 'stored');
  const metrics = backstreamMetrics();
  return runStage({
    kafka: ctx.kafka,
    producer: ctx.producer,
    service: 'chunk-worker',
    groupId: consumerGroupId(config, 'chunk-worker'),
    topic: topicName(config, 'chunks'),
    deadLetterTopic: topicName(config, 'dead-letters'),
    concurrency: config.store.concurrency,
    maxAttempts: config.bus.maxAttempts,
    maxBytes: config.chunkWorker.fetchMaxBytes,
    maxBytesPerPartition: config.chunking.maxSize + 1024 * 1024,
    logger: ctx.logger,
    health: ctx.health,
    handle: async (message) => {
      const stored = await storeChunk(decodeChunk(message), { store: ctx.store, encoder });
      metrics.bytesProcessed.add(stored.size, { service: 'chunk-worker' });
      return [{ topic: storedTopic, message: encodeJson('chunk-stored', stored, stored.hash) }];
    },
  });
}
