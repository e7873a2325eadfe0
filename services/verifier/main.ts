import { BlockDecoder } from '../../libs/blocks';
import { runStage } from '../../libs/bus';
import { consumerGroupId, decodeJson, encodeJson, topicName } from '../../libs/events';
import { verifyStoredChunk } from '../../libs/pipeline';
import type { ServiceContext, Stoppable } from '../../libs/runtime';
import { backstreamMetrics, recordDedup } from '../../libs/telemetry';

/** verifier: stored topic → read each block back and check its hash → progress topic. */
export function startVerifier(ctx: ServiceContext): Promise<Stoppable> {
  const { config } = ctx;
  const decoder = new BlockDecoder(config.chunking.maxSize);
  const progressTopic = topicName(config, 'progress');
  const metrics = backstreamMetrics();
  metrics.verificationFailures.add(0);
  recordDedup('verifier', 'new', 0);
  recordDedup('verifier', 'existing', 0);
  return runStage({
    kafka: ctx.kafka,
    producer: ctx.producer,
    service: 'verifier',
    groupId: consumerGroupId(config, 'verifier'),
    topic: topicName(config, 'stored'),
    deadLetterTopic: topicName(config, 'dead-letters'),
    concurrency: config.store.concurrency,
    maxAttempts: config.bus.maxAttempts,
    maxBytes: 16 * 1024 * 1024,
    maxBytesPerPartition: 1024 * 1024,
    logger: ctx.logger,
    health: ctx.health,
    handle: async (message) => {
      const { event } = decodeJson(message, ['chunk-stored']);
      const outcome = await verifyStoredChunk(event, { store: ctx.store, decoder });
      metrics.bytesProcessed.add(event.size, { service: 'verifier' });
      // Every chunk of every backup passes here, deduplicated or not: the one place to count it.
      recordDedup('verifier', event.origin === 'uploaded' ? 'new' : 'existing', event.size);
      if ('corrupt' in outcome) metrics.verificationFailures.add(1);
      const out =
        'verified' in outcome
          ? encodeJson('chunk-verified', outcome.verified, event.snapshotId)
          : encodeJson('chunk-corrupt', outcome.corrupt, event.snapshotId);
      return [{ topic: progressTopic, message: out }];
    },
  });
}
