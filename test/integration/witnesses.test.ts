import { CreateBucketCommand, GetObjectCommand } from '@aws-sdk/client-s3';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createKafka } from '../../libs/bus';
import { createS3Client } from '../../libs/store';
import { testConfig } from '../support/stack-config';
import { hasWitness, witness } from '../support/witness';

/** The stack answers independent clients too: kcat for Kafka, the AWS CLI for S3. */
describe('independent clients see the stack', () => {
  const config = testConfig('witness');

  it('kcat lists the broker and a topic created through kafkajs', async () => {
    if (!(await hasWitness('kcat'))) return;
    const topic = `${config.kafka.topicPrefix}seen-by-kcat`;
    const admin = createKafka(config.kafka, { clientSuffix: 'witness' }).admin();
    await admin.connect();
    await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 2 }] });
    await admin.disconnect();
    const meta = JSON.parse(await witness('kcat', ['-b', config.kafka.brokers.join(','), '-L', '-J', '-t', topic])) as {
      brokers: unknown[];
      topics: Array<{ topic: string; partitions: unknown[] }>;
    };
    expect(meta.brokers).toHaveLength(1);
    expect(meta.topics.map((t) => t.topic)).toEqual([topic]);
    expect(meta.topics[0]?.partitions).toHaveLength(2);
  });

  it('the AWS CLI lists a bucket created through the SDK and writes an object the SDK reads', async () => {
    if (!(await hasWitness('aws'))) return;
    const s3 = createS3Client(config.s3);
    const Bucket = config.s3.bucket;
    await s3.send(new CreateBucketCommand({ Bucket }));
    const env = {
      AWS_ACCESS_KEY_ID: config.s3.accessKeyId,
      AWS_SECRET_ACCESS_KEY: config.s3.secretAccessKey,
      AWS_DEFAULT_REGION: config.s3.region,
      AWS_CONFIG_FILE: '/dev/null',
      AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    };
    const listing = await witness('aws', ['--endpoint-url', config.s3.endpoint, 's3', 'ls'], env);
    expect(listing).toContain(Bucket);

    const file = join(mkdtempSync(join(tmpdir(), 'witness-')), 'note.txt');
    writeFileSync(file, 'written by the aws cli\n');
    await witness(
      'aws',
      ['--endpoint-url', config.s3.endpoint, 's3', 'cp', file, `s3://${Bucket}/from-cli/note.txt`],
      env,
    );
    const got = await s3.send(new GetObjectCommand({ Bucket, Key: 'from-cli/note.txt' }));
    expect(await got.Body!.transformToString()).toBe('written by the aws cli\n');
    s3.destroy();
  });
});
