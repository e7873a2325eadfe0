import type { Kafka, Producer } from 'kafkajs';
import { readTopic, type TopicReader } from '../bus';
import type { BlockEncoder } from '../blocks';
import type { BackstreamConfig } from '../config';
import { InvalidEventError, describeError } from '../errors';
import {
  consumerGroupId,
  deadLetter,
  decodeJson,
  decodeLedgerRecord,
  encodeJson,
  topicName,
  type ProgressEvent,
} from '../events';
import { LedgerWriter, runLedgerSequencer, type LedgerSigningKey } from '../ledger';
import type { ConsumerWatcher } from '../health/readiness';
import type { Logger } from '../log';
import { handledMessagesCounter, processMessage, recordConsumerLag } from '../telemetry';
import type { ObjectStore } from '../store';
import { ArchiverPartition } from './archiver-partition';
import { LedgerIndex, indexedLedger } from './ledger-index';

const PROGRESS_TYPES = [
  'file',
  'snapshot-sealed',
  'chunk-verified',
  'chunk-corrupt',
  'snapshot-failed',
  'change',
  'changes-sealed',
] as const;
const DAY_MS = 24 * 60 * 60 * 1000;

export interface ArchiverServiceOptions {
  kafka: Kafka;
  producer: Producer;
  config: BackstreamConfig;
  store: ObjectStore;
  encoder: BlockEncoder;
  /** Signs the ledger: the archiver runs the ledger sequencer. */
  signer: LedgerSigningKey;
  logger: Logger;
  /** Told about the archiver's consumers, for /readyz. */
  health?: ConsumerWatcher;
}

export interface RunningArchiver {
  committed: string[];
  stop(): Promise<void>;
}

/**
 * Follows the ledger from the start of the progress topic's retention: every snapshot the
 * archiver could meet again on a replay was committed inside that window, so this set is
 * all it needs to never append a second record for one snapshot.
 */
async function followLedger(
  kafka: Kafka,
  config: BackstreamConfig,
  logger: Logger,
): Promise<{ index: LedgerIndex; reader: TopicReader }> {
  const topic = topicName(config, 'ledger');
  const admin = kafka.admin();
  await admin.connect();
  let starts: Array<{ partition: number; offset: string }>;
  try {
    starts = await admin.fetchTopicOffsetsByTimestamp(topic, Date.now() - config.topics.retentionDays * DAY_MS);
  } finally {
    await admin.disconnect();
  }
  const index = new LedgerIndex();
  const reader = await readTopic(kafka, {
    topic,
    stopAtEnd: false,
    // -1: no record at or after the timestamp; start at the end.
    startOffsets: new Map(starts.map((s) => [s.partition, s.offset === '-1' ? '9223372036854775807' : s.offset])),
    onMessage: (_p, message) => {
      try {
        const item = decodeLedgerRecord(message);
        if (item) index.add(item);
      } catch (err) {
        logger.warn({ offset: message.offset, err: describeError(err) }, 'ignoring an invalid ledger record');
      }
    },
  });
  await reader.caughtUp;
  return { index, reader };
}

export async function runArchiver(options: ArchiverServiceOptions): Promise<RunningArchiver> {
  const { kafka, producer, config, logger } = options;
  const progressTopic = topicName(config, 'progress');
  const deadLetterTopic = topicName(config, 'dead-letters');
  const { index, reader } = await followLedger(kafka, config, logger);
  const sequencer = await runLedgerSequencer({
    kafka,
    config,
    store: options.store,
    signer: options.signer,
    logger,
    health: options.health,
  });
  const writer = new LedgerWriter(producer, topicName(config, 'ledger-intents'));
  const ledger = indexedLedger(index, writer);
  const committed: string[] = [];
  const partitions = new Map<number, ArchiverPartition>();
  const lastCommitted = new Map<number, string>();
  const stateOf = (partition: number): ArchiverPartition => {
    let state = partitions.get(partition);
    if (!state) {
      state = new ArchiverPartition(partition, {
        store: options.store,
        encoder: options.encoder,
        ledger,
        now: () => new Date(),
        segmentBytes: config.archiver.segmentBytes,
        abandonAfterMs: config.archiver.abandonAfterMs,
        maxPendingSnapshots: config.archiver.maxPendingSnapshots,
        logger,
        publishFailed: async (event) => {
          await producer.send({
            topic: progressTopic,
            acks: -1,
            messages: [encodeJson('snapshot-failed', event, event.snapshotId)],
          });
        },
      });
      partitions.set(partition, state);
    }
    return state;
  };

  const groupId = consumerGroupId(config, 'archiver');
  const consumer = kafka.consumer({
    groupId,
    sessionTimeout: 30000,
    heartbeatInterval: 3000,
    // Stopping waits for the fetch in flight: a short long-poll keeps SIGTERM-to-exit short.
    maxWaitTimeInMs: 1000,
  });
  const countHandled = handledMessagesCounter('archiver');
  // After every (re)join the group resumes from committed offsets: rebuild state from there.
  consumer.on(consumer.events.GROUP_JOIN, () => {
    partitions.clear();
    lastCommitted.clear();
  });
  options.health?.watchConsumer('archiver', consumer);
  await consumer.connect();
  await consumer.subscribe({ topics: [progressTopic], fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
      const state = stateOf(batch.partition);
      for (const message of batch.messages) {
        if (!isRunning() || isStale()) return;
        let item: ProgressEvent;
        try {
          item = decodeJson(message, PROGRESS_TYPES);
        } catch (err) {
          if (!(err instanceof InvalidEventError)) throw err;
          logger.warn(
            { partition: batch.partition, offset: message.offset, reason: err.message },
            'dead-lettering an invalid event',
          );
          const origin = {
            topic: batch.topic,
            partition: batch.partition,
            offset: message.offset,
            service: 'archiver',
          };
          await producer.send({
            topic: deadLetterTopic,
            acks: -1,
            messages: [deadLetter(message, origin, err.message)],
          });
          countHandled(0, 1);
          resolveOffset(message.offset);
          continue;
        }
        const before = state.committed.length;
        // The last hop of a chunk's trace; a commit intent sent here carries it on.
        await processMessage({ topic: batch.topic, partition: batch.partition, groupId, message }, () =>
          state.apply(message.offset, Number(message.timestamp), item),
        );
        committed.push(...state.committed.slice(before));
        countHandled(1, 0);
        resolveOffset(message.offset);
        await heartbeat();
      }
      recordConsumerLag(groupId, batch.topic, batch.partition, Number(batch.offsetLag()));
      const offset = state.commitOffset();
      if (offset !== undefined && lastCommitted.get(batch.partition) !== offset) {
        await consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset }]);
        lastCommitted.set(batch.partition, offset);
      }
    },
  });
  return {
    committed,
    stop: async () => {
      await consumer.disconnect();
      await sequencer.stop();
      await reader.stop();
    },
  };
}
