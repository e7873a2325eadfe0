import { randomBytes } from 'node:crypto';
import type { Kafka, KafkaMessage } from 'kafkajs';

export interface TopicReaderOptions {
  topic: string;
  /** Offset to start at per partition; partitions not named start at their earliest offset. */
  startOffsets?: Map<number, string>;
  /** Start every partition at its end offset (only what is written from now on). */
  fromEnd?: boolean;
  /** Stop once every partition is read to the end offset it had when reading began. */
  stopAtEnd: boolean;
  /** Return true to stop reading. */
  onMessage(partition: number, message: KafkaMessage): Promise<boolean | void> | boolean | void;
}

export interface TopicReader {
  /** Resolves when reading stopped: at the end (stopAtEnd), on request, or by onMessage. */
  done: Promise<void>;
  /** Resolves once every partition has been read up to its end offset at start. */
  caughtUp: Promise<void>;
  stop(): Promise<void>;
}

/**
 * Reads a topic from given offsets without taking part in any service's consumer group
 * and without committing offsets (a throwaway group id): for replaying the ledger and for
 * following a topic's new records.
 */
export async function readTopic(kafka: Kafka, options: TopicReaderOptions): Promise<TopicReader> {
  const admin = kafka.admin();
  await admin.connect();
  let ends: Array<{ partition: number; high: string; low: string }>;
  try {
    ends = await admin.fetchTopicOffsets(options.topic);
  } finally {
    await admin.disconnect();
  }
  const startOf = (p: { partition: number; low: string; high: string }): bigint => {
    if (options.fromEnd) return BigInt(p.high);
    const requested = options.startOffsets?.get(p.partition);
    return requested !== undefined && BigInt(requested) > BigInt(p.low) ? BigInt(requested) : BigInt(p.low);
  };
  const pendingEnd = new Set(ends.filter((p) => startOf(p) < BigInt(p.high)).map((p) => p.partition));
  const endOf = new Map(ends.map((p) => [p.partition, BigInt(p.high)]));

  let resolveDone!: () => void;
  let rejectDone!: (err: unknown) => void;
  const done = new Promise<void>((res, rej) => {
    resolveDone = res;
    rejectDone = rej;
  });
  let resolveCaughtUp!: () => void;
  const caughtUp = new Promise<void>((res) => (resolveCaughtUp = res));
  if (pendingEnd.size === 0) resolveCaughtUp();

  if (options.stopAtEnd && pendingEnd.size === 0) {
    resolveDone();
    return { done, caughtUp, stop: () => Promise.resolve() };
  }

  const consumer = kafka.consumer({
    groupId: `backstream-reader-${randomBytes(8).toString('hex')}`,
    sessionTimeout: 30000,
    heartbeatInterval: 3000,
    // Disconnecting waits for the fetch in flight; with kafkajs's 5 s long poll every replay
    // would end 5 s after its last record. An idle reader polls 5 times a second instead.
    maxWaitTimeInMs: 200,
  });
  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return done;
    stopping = true;
    await consumer.disconnect().catch(() => undefined);
    resolveDone();
  };
  /** True when reading to the end is what stops the reader now. */
  const reached = (partition: number, offset: string): boolean => {
    if (!pendingEnd.has(partition) || BigInt(offset) + 1n < (endOf.get(partition) ?? 0n)) return false;
    pendingEnd.delete(partition);
    if (pendingEnd.size > 0) return false;
    resolveCaughtUp();
    return options.stopAtEnd;
  };
  // A partition written in transactions (the ledger) ends with a commit marker that is never
  // handed to eachMessage; the batch's last offset, which kafkajs reports after the batch's
  // messages were handled, includes it.
  consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
    if (!stopping && reached(payload.partition, payload.lastOffset)) {
      setImmediate(() => void stop().catch(() => undefined));
    }
  });
  await consumer.connect();
  await consumer.subscribe({ topics: [options.topic], fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    eachMessage: async ({ partition, message }) => {
      if (stopping) return;
      let stopNow: boolean;
      try {
        stopNow = (await options.onMessage(partition, message)) === true;
      } catch (err) {
        rejectDone(err);
        stopNow = true;
      }
      if (reached(partition, message.offset)) stopNow = true;
      if (stopNow) setImmediate(() => void stop().catch(() => undefined));
    },
  });
  for (const p of ends) consumer.seek({ topic: options.topic, partition: p.partition, offset: startOf(p).toString() });
  return { done, caughtUp, stop };
}
