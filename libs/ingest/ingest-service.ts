import type { Admin, Consumer, Kafka, Producer } from 'kafkajs';
import { EventPublisher, readTopic, type TopicReader } from '../bus';
import type { GearTable } from '../chunking';
import { requireSettings, type BackstreamConfig } from '../config';
import { ConfigError, describeError } from '../errors';
import { HEADERS, consumerGroupId, decodeJson, headerString, topicName } from '../events';
import type { TrustedLedger } from '../ledger';
import type { ConsumerWatcher } from '../health/readiness';
import type { Logger } from '../log';
import { Slots } from '../pipeline';
import type { ObjectStore } from '../store';
import { changeBatchId } from './batch-id';
import { LedgerWatch } from './ledger-watch';
import { PartitionIngest, RepairList, emptyIngestStats, type PartitionIngestStats } from './partition-ingest';
import type { StagedObjects } from './payload';

const DAY_MS = 24 * 60 * 60 * 1000;
const MiB = 1024 * 1024;
/** How often the progress topic's partition count is read again (batch ids depend on it). */
const PARTITIONS_REFRESH_MS = 30_000;
/** How long stop() without a deadline gives open change batches. */
const DEFAULT_STOP_MS = 10_000;

export interface IngestServiceOptions {
  kafka: Kafka;
  /** Connected idempotent producer. */
  producer: Producer;
  config: BackstreamConfig;
  store: ObjectStore;
  /** The repository's chunker gear table. */
  gear: GearTable;
  /** Where claim-check payloads are read (S3StagedObjects over the bucket). */
  staged: StagedObjects;
  /** The ledger, as far as the ledger key signed it: what says which offsets are committed. */
  ledger: TrustedLedger;
  logger: Logger;
  /** Told about the change-topic consumer, for /readyz. */
  health?: ConsumerWatcher;
}

export interface RunningIngest {
  consumer: Consumer;
  /** Totals over every partition this process has ingested. */
  stats(): PartitionIngestStats;
  /** Seals and commits open change batches until `deadline` (epoch ms), then disconnects. */
  stop(deadline?: number): Promise<void>;
}

async function progressPartitionCount(admin: Admin, topic: string): Promise<number> {
  const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
  const count = topics[0]?.partitions.length ?? 0;
  if (count < 1) throw new Error(`topic ${topic} has no partitions`);
  return count;
}

/**
 * Follows the ledger from the start of the topics' retention window, as the archiver does:
 * a batch read again after a crash may have been committed long before this process
 * started, and then the archiver appends nothing for it. Only signed records count: an
 * unsigned `changes-commit` would otherwise commit change-topic offsets past data never stored.
 */
async function followLedger(ledger: TrustedLedger, config: BackstreamConfig, watch: LedgerWatch): Promise<TopicReader> {
  const reader = await ledger.follow({ sinceMs: Date.now() - config.topics.retentionDays * DAY_MS }, (item) => {
    if (item.kind === 'record' && item.chained.type === 'changes-commit') watch.add(item.chained.record);
  });
  await reader.caughtUp;
  return reader;
}

function sumStats(all: PartitionIngestStats[]): PartitionIngestStats {
  const total = emptyIngestStats();
  for (const s of all) for (const k of Object.keys(total) as (keyof PartitionIngestStats)[]) total[k] += s[k];
  return total;
}

/**
 * The producer service: consumes the change topics (changes.topics) in one consumer
 * group — instances share the partitions — and turns each partition's records into change
 * batches committed through the pipeline (PartitionIngest). Kafka offsets are committed
 * by hand, each once the ledger covers the records before it.
 *
 * After any rejoin of the group (rebalance, restart) every partition's state is dropped,
 * batches not yet sealed are failed, and reading resumes from the committed offsets.
 */
export async function runIngest(options: IngestServiceOptions): Promise<RunningIngest> {
  const { kafka, producer, config, store, staged, logger } = options;
  requireSettings(config, ['changes.topics']);
  const changeTopics = config.changes.topics;
  const topics = {
    chunks: topicName(config, 'chunks'),
    stored: topicName(config, 'stored'),
    progress: topicName(config, 'progress'),
    deadLetters: topicName(config, 'dead-letters'),
  };
  const admin = kafka.admin();
  await admin.connect();
  let ledgerReader: TopicReader | undefined;
  let progressReader: TopicReader | undefined;
  let refresh: NodeJS.Timeout | undefined;
  let consumer: Consumer | undefined;
  const owners = new Map<string, PartitionIngest>();
  const parts = new Map<string, PartitionIngest>();
  const retired: PartitionIngestStats[] = [];
  const paused = new Map<string, { topic: string; partition: number }>();
  let stopping = false;
  let progressPartitions: number;
  try {
    const existing = new Set(await admin.listTopics());
    const missing = changeTopics.filter((t) => !existing.has(t));
    if (missing.length > 0) {
      throw new ConfigError(`change topic${missing.length > 1 ? 's' : ''} ${missing.join(', ')} not found`, {
        key: 'changes.topics',
        hint: 'change topics belong to the upstream systems and backstream never creates them: create them, or fix BACKSTREAM_CHANGES_TOPICS',
      });
    }
    progressPartitions = await progressPartitionCount(admin, topics.progress);
    const ledger = new LedgerWatch();
    ledgerReader = await followLedger(options.ledger, config, ledger);
    progressReader = await readTopic(kafka, {
      topic: topics.progress,
      fromEnd: true,
      stopAtEnd: false,
      onMessage: (_p, message) => {
        const type = headerString(message.headers, HEADERS.type);
        if (type !== 'snapshot-failed' && type !== 'chunk-corrupt') return;
        let item;
        try {
          item = decodeJson(message, ['snapshot-failed', 'chunk-corrupt']);
        } catch {
          return;
        }
        const owner = owners.get(item.event.snapshotId);
        if (!owner) return;
        if (item.type === 'snapshot-failed') {
          owner.batchFailed(item.event.snapshotId, item.event.reason);
        } else {
          const { hash, seq, reason } = item.event;
          owner.batchFailed(item.event.snapshotId, `chunk ${hash} (seq ${seq}) is corrupt: ${reason}`, hash);
        }
      },
    });
    refresh = setInterval(() => {
      progressPartitionCount(admin, topics.progress).then(
        (n) => {
          if (n !== progressPartitions) logger.warn({ from: progressPartitions, to: n }, 'the progress topic grew');
          progressPartitions = n;
        },
        (err: unknown) => logger.warn({ err: describeError(err) }, 'cannot read the progress topic partitions'),
      );
    }, PARTITIONS_REFRESH_MS);
    refresh.unref();

    const slots = new Slots(config.store.concurrency);
    const repairs = new RepairList();
    const parse = {
      maxValueBytes: config.changes.maxValueBytes,
      ...(config.changes.source !== '' ? { source: config.changes.source } : {}),
    };
    consumer = kafka.consumer({
      groupId: consumerGroupId(config, 'producer'),
      sessionTimeout: 30000,
      heartbeatInterval: 3000,
      allowAutoTopicCreation: false,
      maxBytesPerPartition: MiB,
      // A resumed partition is fetched again once the long poll of the others returns.
      maxWaitTimeInMs: 500,
    });
    const group = consumer;
    options.health?.watchConsumer('producer', group);
    const slotKey = (topic: string, partition: number): string => `${topic}\u0000${partition}`;
    const ingestOf = (topic: string, partition: number): PartitionIngest => {
      const k = slotKey(topic, partition);
      let part = parts.get(k);
      if (part) return part;
      part = new PartitionIngest({
        topic,
        partition,
        limits: { maxEvents: config.changes.batchMaxEvents, maxMs: config.changes.batchMaxMs },
        maxQueuedBytes: Math.max(MiB, config.changes.maxValueBytes),
        parse,
        chunking: config.chunking,
        gear: options.gear,
        topics,
        store,
        staged,
        slots,
        newPublisher: () =>
          new EventPublisher(producer, {
            batchBytes: Math.min(config.producer.batchBytes, config.changes.maxInFlightBytes),
            maxInFlightBytes: config.changes.maxInFlightBytes,
          }),
        newBatchId: (key) => changeBatchId(key, progressPartitions),
        ledger,
        commit: (offset) => group.commitOffsets([{ topic, partition, offset }]),
        seek: (offset) => group.seek({ topic, partition, offset }),
        pause: () => {
          paused.set(k, { topic, partition });
          group.pause([{ topic, partitions: [partition] }]);
        },
        resume: () => {
          paused.delete(k);
          group.resume([{ topic, partitions: [partition] }]);
        },
        track: (snapshotId, owner) => {
          if (owner) owners.set(snapshotId, owner);
          else owners.delete(snapshotId);
        },
        sendNow: async (topic, message) => {
          await producer.send({ topic, acks: -1, messages: [message] });
        },
        repairs,
        maxAttempts: config.bus.maxAttempts,
        now: () => Date.now(),
        logger,
      });
      parts.set(k, part);
      logger.info({ topic, partition }, 'ingesting a change topic partition');
      return part;
    };

    // After every (re)join the group resumes from committed offsets: drop all state.
    group.on(group.events.GROUP_JOIN, () => {
      const old = [...parts.values()];
      parts.clear();
      for (const part of old) {
        retired.push(part.stats);
        void part.abandon();
      }
      if (paused.size > 0) {
        for (const { topic, partition } of paused.values()) group.resume([{ topic, partitions: [partition] }]);
        paused.clear();
      }
    });
    group.on(group.events.CRASH, (event) => {
      logger.error({ err: describeError(event.payload.error) }, 'the change-topic consumer crashed; it restarts');
    });
    await group.connect();
    await group.subscribe({ topics: changeTopics, fromBeginning: true });
    await group.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: async ({ batch, resolveOffset, isRunning, isStale }) => {
        if (stopping || !isRunning() || isStale() || batch.messages.length === 0) return;
        ingestOf(batch.topic, batch.partition).offer(batch.messages);
        // Taken (queued) is what resolving means here; the commit waits for the ledger.
        resolveOffset(batch.lastOffset());
        await Promise.resolve();
      },
    });

    const readers = [ledgerReader, progressReader];
    return {
      consumer: group,
      stats: () => sumStats([...retired, ...[...parts.values()].map((p) => p.stats)]),
      stop: async (deadline = Date.now() + DEFAULT_STOP_MS) => {
        stopping = true;
        group.pause(changeTopics.map((topic) => ({ topic })));
        const stopped = [...parts.values()];
        // What is left after sealing goes to disconnecting (commit, leave the group).
        const sealMs = Math.max(0, (deadline - Date.now()) * 0.7);
        await Promise.all(stopped.map((p) => p.stop(sealMs)));
        await group.disconnect();
        clearInterval(refresh);
        await Promise.all(readers.map((r) => r.stop()));
        await admin.disconnect();
        logger.info(sumStats([...retired, ...stopped.map((p) => p.stats)]), 'change ingest stopped');
      },
    };
  } catch (err) {
    clearInterval(refresh);
    await consumer?.disconnect().catch(() => undefined);
    await Promise.all([ledgerReader?.stop(), progressReader?.stop()]);
    await admin.disconnect();
    throw err;
  }
}
