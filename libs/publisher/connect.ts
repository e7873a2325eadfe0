import { createIdempotentProducer, createKafka } from '../bus';
import { requireSettings, type BackstreamConfig } from '../config';
import { UnavailableError, describeError } from '../errors';
import type { Logger } from '../log';
import { S3ObjectStore, createS3Client, objectLockPolicyOf } from '../store';
import { ChangePublisher, type ChangePublisherOptions } from './change-publisher';

export interface ConnectOptions extends ChangePublisherOptions {
  /** kafkajs logs through it; without one it is silent. */
  logger?: Logger;
  /** Appended to kafka.clientId. Default "publisher". */
  clientSuffix?: string;
}

export interface ConnectedChangePublisher {
  publisher: ChangePublisher;
  /** Disconnects the producer (after its pending sends) and releases the S3 client. */
  close(): Promise<void>;
}

/**
 * A ChangePublisher on backstream's own settings (kafka.*, s3.*, loaded with loadConfig):
 * the idempotent, acks=all producer every service uses, and the bucket below s3.prefix
 * for staging. The bucket is not probed: a publisher needs only s3:PutObject on staging/*.
 */
export async function connectChangePublisher(
  config: BackstreamConfig,
  options: ConnectOptions,
): Promise<ConnectedChangePublisher> {
  requireSettings(config, ['kafka.brokers', 's3.bucket']);
  const { logger, clientSuffix = 'publisher', ...publisherOptions } = options;
  const objectLock = objectLockPolicyOf(config.objectLock);
  const kafka = createKafka(config.kafka, { clientSuffix, ...(logger ? { logger } : {}) });
  const producer = createIdempotentProducer(kafka);
  const s3 = createS3Client(config.s3);
  try {
    // Checks the options before anything connects.
    const publisher = new ChangePublisher(
      producer,
      new S3ObjectStore(s3, config.s3.bucket, config.s3.prefix, { objectLock }),
      publisherOptions,
    );
    try {
      await producer.connect();
    } catch (err) {
      throw new UnavailableError('KAFKA_UNAVAILABLE', `cannot connect to Kafka: ${describeError(err)}`, { cause: err });
    }
    return {
      publisher,
      close: async () => {
        try {
          await producer.disconnect();
        } finally {
          s3.destroy();
        }
      },
    };
  } catch (err) {
    s3.destroy();
    throw err;
  }
}
