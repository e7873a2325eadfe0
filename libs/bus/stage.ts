import type { Consumer, Kafka, KafkaMessage, Message, Producer } from 'kafkajs';
import pLimit from 'p-limit';
import { describeError } from '../errors';
import { deadLetter } from '../events';
import type { ConsumerWatcher } from '../health/readiness';
import type { Logger } from '../log';
import { FailedAttempts } from './attempts';
import { handledMessagesCounter, processMessage, recordConsumerLag, withTraceContext } from '../telemetry';

export interface StageOutput {
  topic: string;
  message: Message;
}

export interface StageOptions {
  kafka: Kafka;
  /** Connected idempotent producer for outputs and dead letters. */
  producer: Producer;
  service: string;
  groupId: string;
  topic: string;
  deadLetterTopic: string;
  /** Messages of one batch handled at once. */
  concurrency: number;
  /** Bytes one fetch may return in all (bounds the memory of the stage). */
  maxBytes: number;
  maxBytesPerPartition: number;
  logger: Logger;
  /** Told about the consumer, for /readyz. */
  health?: ConsumerWatcher;
  /** Failures of one message with a non-retriable error before it is dead-lettered (bus.maxAttempts). */
  maxAttempts: number;
  /**
   * Handles one message; throws InvalidEventError to dead-letter it, anything else to retry
   * the batch (a non-retriable BackstreamError at most maxAttempts times: FailedAttempts).
   */
  handle(message: KafkaMessage): Promise<StageOutput[]>;
}

export interface StageStats {
  messages: number;
  deadLettered: number;
  batches: number;
}

export interface RunningStage {
  consumer: Consumer;
  stats: StageStats;
  stop(): Promise<void>;
}

/**
 * A consume → effect → publish → commit loop with at-least-once delivery: a batch's
 * outputs are acknowledged by Kafka before its offsets are resolved and committed, so a
 * crash anywhere replays the batch, and the handlers' effects are idempotent. A message
 * that fails validation, or fails maxAttempts times for a reason that retrying cannot
 * cure, goes to the dead-letter topic with its reason and the partition moves on.
 */
export async function runStage(options: StageOptions): Promise<RunningStage> {
  const { kafka, producer, logger } = options;
  const consumer = kafka.consumer({
    groupId: options.groupId,
    maxBytes: options.maxBytes,
    maxBytesPerPartition: options.maxBytesPerPartition,
    sessionTimeout: 30000,
    heartbeatInterval: 3000,
    // Stopping waits for the fetch in flight: a short long-poll keeps SIGTERM-to-exit short.
    maxWaitTimeInMs: 1000,
  });
  const stats: StageStats = { messages: 0, deadLettered: 0, batches: 0 };
  const limit = pLimit(options.concurrency);
  const attempts = new FailedAttempts(options.maxAttempts);
  const countHandled = handledMessagesCounter(options.service);
  options.health?.watchConsumer(options.service, consumer);
  await consumer.connect();
  await consumer.subscribe({ topics: [options.topic], fromBeginning: true });
  await consumer.run({
    autoCommit: true,
    autoCommitInterval: 1000,
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: 2,
    eachBatch: async ({ batch, resolveOffset, heartbeat, commitOffsetsIfNecessary, isRunning, isStale }) => {
      if (!isRunning() || isStale() || batch.messages.length === 0) return;
      let deadLettered = 0;
      const outputs = await Promise.all(
        batch.messages.map((message) =>
          limit((): Promise<StageOutput[]> =>
            // One span a message, child of the context it carries; outputs carry this span on.
            processMessage(
              { topic: batch.topic, partition: batch.partition, groupId: options.groupId, message },
              async () => {
                try {
                  const out = await options.handle(message);
                  attempts.passed(batch.partition, message.offset);
                  await heartbeat();
                  return out.map((o) => ({ topic: o.topic, message: withTraceContext(o.message) }));
                } catch (err) {
                  const reason = attempts.deadLetterReason(batch.partition, message.offset, err);
                  if (reason === undefined) throw err;
                  deadLettered += 1;
                  logger.warn(
                    { topic: batch.topic, partition: batch.partition, offset: message.offset, reason },
                    'dead-lettering an event',
                  );
                  const origin = {
                    topic: batch.topic,
                    partition: batch.partition,
                    offset: message.offset,
                    service: options.service,
                  };
                  return [{ topic: options.deadLetterTopic, message: deadLetter(message, origin, reason) }];
                }
              },
            ),
          ),
        ),
      ).catch((err: unknown) => {
        logger.error(
          { err: describeError(err), topic: batch.topic, partition: batch.partition },
          'batch failed; it will be retried',
        );
        throw err;
      });
      const flat = outputs.flat();
      if (flat.length > 0) {
        const byTopic = new Map<string, Message[]>();
        for (const o of flat) {
          const messages = byTopic.get(o.topic);
          if (messages) messages.push(o.message);
          else byTopic.set(o.topic, [o.message]);
        }
        await producer.sendBatch({
          acks: -1,
          topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })),
        });
      }
      // Only now are the effects durable: resolve and commit.
      resolveOffset(batch.lastOffset());
      recordConsumerLag(options.groupId, batch.topic, batch.partition, Number(batch.offsetLag()));
      // Counted once the batch is durable, so a retried batch is not counted twice.
      countHandled(batch.messages.length - deadLettered, deadLettered);
      stats.deadLettered += deadLettered;
      stats.messages += batch.messages.length;
      stats.batches += 1;
      await commitOffsetsIfNecessary();
      await heartbeat();
    },
  });
  return {
    consumer,
    stats,
    stop: async () => {
      await consumer.disconnect();
      logger.info({ ...stats }, 'stage stopped');
    },
  };
}
