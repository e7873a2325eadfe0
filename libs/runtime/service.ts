import type { S3Client } from '@aws-sdk/client-s3';
import type { Kafka, Producer } from 'kafkajs';
import { createIdempotentProducer, createKafka } from '../bus';
import { requireSettings, type BackstreamConfig } from '../config';
import { describeError } from '../errors';
import { ensureTopics } from '../events';
import { createLogger, type Logger } from '../log';
import { S3ObjectStore, createS3Client, requireBucket, type ObjectStore } from '../store';

/** What every service is built from. */
export interface ServiceContext {
  name: string;
  config: BackstreamConfig;
  logger: Logger;
  kafka: Kafka;
  /** Connected idempotent producer. */
  producer: Producer;
  s3: S3Client;
  store: ObjectStore;
}

export interface Stoppable {
  stop(): Promise<void>;
}

/** Connects a service's dependencies, checks the bucket and makes sure the topics exist. */
export async function openServiceContext(
  name: string,
  config: BackstreamConfig,
  logger?: Logger,
): Promise<ServiceContext> {
  requireSettings(config, ['kafka.brokers', 's3.bucket']);
  const log = logger ?? createLogger(config.log.level, name);
  const kafka = createKafka(config.kafka, { clientSuffix: name, logger: log });
  const s3 = createS3Client(config.s3);
  await requireBucket(s3, config.s3.bucket);
  const admin = kafka.admin();
  await admin.connect();
  try {
    await ensureTopics(admin, config);
  } finally {
    await admin.disconnect();
  }
  const producer = createIdempotentProducer(kafka);
  await producer.connect();
  return {
    name,
    config,
    logger: log,
    kafka,
    producer,
    s3,
    store: new S3ObjectStore(s3, config.s3.bucket, config.s3.prefix),
  };
}

/** What read-only commands (snapshots, ls, restore) need: the ledger and the store. */
export interface ReaderContext {
  config: BackstreamConfig;
  kafka: Kafka;
  s3: S3Client;
  store: ObjectStore;
  close(): void;
}

export function openReaderContext(config: BackstreamConfig): ReaderContext {
  requireSettings(config, ['kafka.brokers', 's3.bucket']);
  const kafka = createKafka(config.kafka, { clientSuffix: 'reader', logger: createLogger(config.log.level, 'reader') });
  const s3 = createS3Client(config.s3);
  return {
    config,
    kafka,
    s3,
    store: new S3ObjectStore(s3, config.s3.bucket, config.s3.prefix),
    close: () => s3.destroy(),
  };
}

export async function closeServiceContext(ctx: ServiceContext): Promise<void> {
  await ctx.producer.disconnect().catch(() => undefined);
  ctx.s3.destroy();
}

/**
 * Runs a long-lived service until SIGTERM or SIGINT, then stops it (the consumer finishes
 * its current batch, commits what is durable, and leaves the group) and exits.
 */
export async function runUntilSignalled(
  ctx: ServiceContext,
  start: (ctx: ServiceContext) => Promise<Stoppable>,
): Promise<void> {
  const running = await start(ctx);
  ctx.logger.info('service started');
  await new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      ctx.logger.info({ signal }, 'stopping');
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      resolve();
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
  try {
    await running.stop();
  } catch (err) {
    ctx.logger.error({ err: describeError(err) }, 'error while stopping');
  }
  await closeServiceContext(ctx);
}
