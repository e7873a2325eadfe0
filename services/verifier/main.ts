import { BlockDecoder } from '../../libs/blocks';
import { runStage } from '../../libs/bus';
import { consumerGroupId, decodeJson, encodeJson, topicName } from '../../libs/events';
import { verifyStoredChunk } from '../../libs/pipeline';
import type { ServiceContext, Stoppable } from '../../libs/runtime';

/** verifier: stored topic → read each block back and check its hash → progress topic. */
export function startVerifier(ctx: ServiceContext): Promise<Stoppable> {
  const { config } = ctx;
  const decoder = new BlockDecoder(config.chunking.maxSize);
  const progressTopic = topicName(config, 'progress');
  return runStage({
    kafka: ctx.kafka,
    producer: ctx.producer,
    service: 'verifier',
    groupId: consumerGroupId(config, 'verifier'),
    topic: topicName(config, 'stored'),
    deadLetterTopic: topicName(config, 'dead-letters'),
    concurrency: config.store.concurrency,
    maxBytes: 16 * 1024 * 1024,
    maxBytesPerPartition: 1024 * 1024,
    logger: ctx.logger,
    handle: async (message) => {
      const { event } = decodeJson(message, ['chunk-stored']);
      const outcome = await verifyStoredChunk(event, { store: ctx.store, decoder });
      const out =
        'verified' in outcome
          ? encodeJson('chunk-verified', outcome.verified, event.snapshotId)
          : encodeJson('chunk-corrupt', outcome.corrupt, event.snapshotId);
      return [{ topic: progressTopic, message: out }];
    },
  });
}
