import { Readable } from 'node:stream';
import {
  CreateBucketCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { Consumer, Kafka } from 'kafkajs';
import { createKafka } from '../../libs/bus';
import { createS3Client } from '../../libs/store';
import { testConfig } from '../support/stack-config';

/**
 * Proves the stack the tests run against is a real Kafka and a real S3 server: topic
 * configs round-trip through the broker, a consumer group commits offsets by hand and a
 * second member resumes after them, and S3 honours conditional creates.
 */
describe('the integration stack', () => {
  describe('Kafka', () => {
    const config = testConfig('stack-kafka');
    const topic = `${config.kafka.topicPrefix}probe`;
    const groupId = `${config.kafka.topicPrefix}group`;
    let kafka: Kafka;
    const consumers: Consumer[] = [];

    beforeAll(() => {
      kafka = createKafka(config.kafka, { clientSuffix: 'stack-test' });
    });
    afterAll(async () => {
      await Promise.all(consumers.map((c) => c.disconnect()));
    });

    it('creates a topic with explicit configs that the broker reports back', async () => {
      const admin = kafka.admin();
      await admin.connect();
      try {
        const created = await admin.createTopics({
          waitForLeaders: true,
          topics: [
            {
              topic,
              numPartitions: 3,
              replicationFactor: 1,
              configEntries: [
                { name: 'max.message.bytes', value: String(9 * 1024 * 1024) },
                { name: 'retention.ms', value: '-1' },
                { name: 'cleanup.policy', value: 'delete' },
              ],
            },
          ],
        });
        expect(created).toBe(true);
        const described = await admin.describeConfigs({
          includeSynonyms: false,
          resources: [{ type: 2 /* TOPIC */, name: topic, configNames: ['max.message.bytes', 'retention.ms'] }],
        });
        const entries = Object.fromEntries(
          (described.resources[0]?.configEntries ?? []).map((e) => [e.configName, e.configValue]),
        );
        expect(entries).toEqual({ 'max.message.bytes': String(9 * 1024 * 1024), 'retention.ms': '-1' });
        const meta = await admin.fetchTopicMetadata({ topics: [topic] });
        expect(meta.topics[0]?.partitions).toHaveLength(3);
      } finally {
        await admin.disconnect();
      }
    });

    /** Consumes until `count` messages arrived, committing each offset by hand after handling it. */
    async function consumeAndCommit(count: number): Promise<string[]> {
      const consumer = kafka.consumer({ groupId, sessionTimeout: 10000, heartbeatInterval: 1000 });
      consumers.push(consumer);
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      const seen: string[] = [];
      await new Promise<void>((resolve, reject) => {
        consumer
          .run({
            autoCommit: false,
            eachMessage: async ({ topic: t, partition, message }) => {
              seen.push(message.value?.toString() ?? '');
              await consumer.commitOffsets([{ topic: t, partition, offset: (BigInt(message.offset) + 1n).toString() }]);
              if (seen.length === count) resolve();
            },
          })
          .catch(reject);
      });
      await consumer.disconnect();
      return seen;
    }

    it('produces and consumes in a consumer group with manual offset commits', async () => {
      const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
      await producer.connect();
      const first = Array.from({ length: 30 }, (_, i) => `first-${i}`);
      await producer.send({ topic, acks: -1, messages: first.map((v, i) => ({ key: `k${i % 7}`, value: v })) });

      const got = await consumeAndCommit(first.length);
      expect(got.sort()).toEqual([...first].sort());

      const admin = kafka.admin();
      await admin.connect();
      const committed = await admin.fetchOffsets({ groupId, topics: [topic] });
      await admin.disconnect();
      const total = committed[0]?.partitions.reduce((sum, p) => sum + Number(p.offset), 0);
      expect(total).toBe(first.length);

      // A new member of the same group starts after the committed offsets: only new messages arrive.
      const second = Array.from({ length: 5 }, (_, i) => `second-${i}`);
      await producer.send({ topic, acks: -1, messages: second.map((v) => ({ key: v, value: v })) });
      await producer.disconnect();
      expect((await consumeAndCommit(second.length)).sort()).toEqual([...second].sort());
    });
  });

  describe('S3', () => {
    const config = testConfig('stack-s3');
    const Bucket = config.s3.bucket;
    let s3: S3Client;
    const payload = Buffer.alloc(3 * 1024 * 1024 + 17);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 31) & 0xff;
    const streamed = (): Readable => Readable.from([payload.subarray(0, 1000), payload.subarray(1000)]);

    beforeAll(async () => {
      s3 = createS3Client(config.s3);
      await s3.send(new CreateBucketCommand({ Bucket }));
    });
    afterAll(() => s3.destroy());

    it('puts, gets, heads and lists objects, streamed bodies included', async () => {
      expect(config.s3.checksums).toBe('when_required');
      await s3.send(new PutObjectCommand({ Bucket, Key: 'dir/buffer', Body: payload }));
      await s3.send(
        new PutObjectCommand({ Bucket, Key: 'dir/stream', Body: streamed(), ContentLength: payload.length }),
      );
      for (const Key of ['dir/buffer', 'dir/stream']) {
        const got = await s3.send(new GetObjectCommand({ Bucket, Key }));
        expect(Buffer.from(await got.Body!.transformToByteArray()).equals(payload)).toBe(true);
        const head = await s3.send(new HeadObjectCommand({ Bucket, Key }));
        expect(head.ContentLength).toBe(payload.length);
      }
      const listed = await s3.send(new ListObjectsV2Command({ Bucket, Prefix: 'dir/' }));
      expect((listed.Contents ?? []).map((o) => o.Key).sort()).toEqual(['dir/buffer', 'dir/stream']);
    });

    it('creates an object only once with If-None-Match: *', async () => {
      await s3.send(new PutObjectCommand({ Bucket, Key: 'once', Body: 'first', IfNoneMatch: '*' }));
      const second = await s3
        .send(new PutObjectCommand({ Bucket, Key: 'once', Body: 'second', IfNoneMatch: '*' }))
        .catch((e: unknown) => e);
      expect(second).toMatchObject({ name: 'PreconditionFailed', $metadata: { httpStatusCode: 412 } });
      const got = await s3.send(new GetObjectCommand({ Bucket, Key: 'once' }));
      expect(await got.Body!.transformToString()).toBe('first');
    });

    // Why s3.checksums defaults to when_required: with the SDK's own default, streamed
    // uploads carry a trailing CRC in aws-chunked encoding, which versitygw v1.7.0 drops
    // the connection on. If this starts passing, the default can be reconsidered.
    const onVersitygw = process.env.BACKSTREAM_TEST_PROVIDER !== 'external';
    (onVersitygw ? it : it.skip)(
      'with SDK-default checksums, buffers upload but streamed bodies are refused',
      async () => {
        const sdkDefault = createS3Client({ ...config.s3, checksums: 'when_supported', maxAttempts: 1 });
        // The SDK reports the dropped stream on console.warn; keep it out of the test output.
        const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
        try {
          await sdkDefault.send(new PutObjectCommand({ Bucket, Key: 'crc/buffer', Body: payload }));
          const streamedPut = sdkDefault.send(
            new PutObjectCommand({ Bucket, Key: 'crc/stream', Body: streamed(), ContentLength: payload.length }),
          );
          await expect(streamedPut).rejects.toThrow();
        } finally {
          warn.mockRestore();
          sdkDefault.destroy();
        }
      },
    );
  });
});
