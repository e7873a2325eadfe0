import type { Kafka, KafkaMessage, Producer } from 'kafkajs';
import { FailedAttempts, type TopicReader } from '../bus';
import type { BlockEncoder } from '../blocks';
import type { BackstreamConfig } from '../config';
import {
  consumerGroupId,
  deadLetter,
  decodeJson,
  encodeJson,
  ledgerRecordOf,
  topicName,
  type ProgressEvent,
} from '../events';
import { LedgerWriter, runLedgerSequencer, type LedgerSigningKey, type TrustedLedger } from '../ledger';
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
  /** The ledger as the archiver's index follows it: only what the ledger key signed. */
  ledger: TrustedLedger;
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
 * all it needs to never append a second record for one snapshot. Only signed records
 * count: an unsigned one naming a pending snapshot would otherwise make it look committed.
 */
async function followLedger(
  ledger: TrustedLedger,
  config: BackstreamConfig,
): Promise<{ index: LedgerIndex; reader: TopicReader }> {
  const index = new LedgerIndex();
  const reader = await ledger.follow({ sinceMs: Date.now() - config.topics.retentionDays * DAY_MS }, (item) => {
    if (item.kind === 'record') index.add(ledgerRecordOf(item.chained));
  });
  await reader.caughtUp;
  return { index, reader };
}

export async function runArchiver(options: ArchiverServiceOptions): Promise<RunningArchiver> {
  const { kafka, producer, config, logger } = options;
  const progressTopic = topicName(config, 'progress');
  const deadLetterTopic = topicName(config, 'dead-letters');
  const { index, reader } = await followLedger(options.ledger, config);
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
        maxSnapshotChunks: config.archiver.maxSnapshotChunks,
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
  const attempts = new FailedAttempts(config.bus.maxAttempts);
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
      /** Dead-letters the message when `err` calls for it (FailedAttempts); else rethrows it to retry the batch. */
      const failed = async (message: KafkaMessage, err: unknown): Promise<void> => {
        const reason = attempts.deadLetterReason(batch.partition, message.offset, err);
        if (reason === undefined) throw err;
        logger.warn({ partition: batch.partition, offset: message.offset, reason }, 'dead-lettering an event');
        const origin = { topic: batch.topic, partition: batch.partition, offset: message.offset, service: 'archiver' };
        await producer.send({ topic: deadLetterTopic, acks: -1, messages: [deadLetter(message, origin, reason)] });
        countHandled(0, 1);
        resolveOffset(message.offset);
      };
      for (const message of batch.messages) {
        if (!isRunning() || isStale()) return;
        let item: ProgressEvent;
        try {
          item = decodeJson(message, PROGRESS_TYPES);
        } catch (err) {
          await failed(message, err);
          continue;
        }
        const before = state.committed.length;
        try {
          // The last hop of a chunk's trace; a commit intent sent here carries it on. The
          // clock is the archiver's own: a record's timestamp is whatever its producer set.
          await processMessage({ topic: batch.topic, partition: batch.partition, groupId, message }, () =>
            state.apply(message.offset, Date.now(), item),
          );
        } catch (err) {
          await failed(message, err);
          continue;
        }
        attempts.passed(batch.partition, message.offset);
        for (const id of state.committed.slice(before)) committed.push(id);
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
