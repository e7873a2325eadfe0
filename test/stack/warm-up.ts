import { randomBytes } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { withTimeout } from '../../libs/errors';

/**
 * Waits until the broker's group coordinator serves a consumer group. A freshly formatted
 * broker answers metadata requests (what readiness checks) well before its offsets topic is
 * loaded; the first groups then retry through "coordinator is loading" errors, which made the
 * first test file of a run on a fresh stack slow enough to time out.
 */
export async function warmUpConsumerGroups(brokers: string[], timeoutMs = 120_000): Promise<number> {
  const started = Date.now();
  const kafka = new Kafka({
    clientId: 'backstream-test-warm-up',
    brokers,
    logLevel: logLevel.NOTHING,
    retry: { retries: 30 },
  });
  const topic = `backstream-test-warm-up-${randomBytes(4).toString('hex')}`;
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 1 }] });
  const consumer = kafka.consumer({ groupId: topic });
  try {
    await consumer.connect();
    await consumer.subscribe({ topics: [topic] });
    const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
    await consumer.run({ eachMessage: () => Promise.resolve() });
    await withTimeout(joined, timeoutMs, () => new Error(`no consumer group could join within ${timeoutMs} ms`));
    await consumer.commitOffsets([{ topic, partition: 0, offset: '0' }]);
  } finally {
    await consumer.disconnect();
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect();
  }
  return Date.now() - started;
}
