import type { S3Client } from '@aws-sdk/client-s3';
import type { Kafka, Producer } from 'kafkajs';
import { createIdempotentProducer, createKafka } from '../bus';
import { requireSettings, type BackstreamConfig } from '../config';
import { ensureTopics, topicName } from '../events';
import {
  StoreLedgerSource,
  TopicLedgerSource,
  TrustedLedger,
  loadLedgerTrust,
  type LedgerSource,
  type LedgerTrust,
} from '../ledger';
import type { ConsumerWatcher } from '../health/readiness';
import { createLogger, type Logger } from '../log';
import { GearTable, defaultGearTable } from '../chunking';
import { EncryptedObjectStore, loadMasterKey, openRepository } from '../crypto';
import { S3ObjectStore, createS3Client, objectLockPolicyOf, requireBucket, type ObjectStore } from '../store';

/** What every service is built from. */
export interface ServiceContext {
  name: string;
  config: BackstreamConfig;
  logger: Logger;
  kafka: Kafka;
  /** Connected idempotent producer. */
  producer: Producer;
  s3: S3Client;
  /** The repository's store: encrypting when the repository is encrypted. */
  store: ObjectStore;
  /** The repository's chunker gear table (keyed when the repository is encrypted). */
  gear: GearTable;
  /** Where the service's consumers report themselves for /readyz. */
  health: ConsumerWatcher;
}

export interface RepositoryStore {
  store: ObjectStore;
  gear: GearTable;
  encrypted: boolean;
}

/**
 * Opens the repository in the bucket: checks the master key against its key-check object
 * (a wrong or missing key fails here, before anything is read or written) and wraps the
 * store so that blocks, file lists and manifests are encrypted with keys derived from it.
 */
export async function openRepositoryStore(config: BackstreamConfig, s3: S3Client): Promise<RepositoryStore> {
  const objectLock = objectLockPolicyOf(config.objectLock);
  const raw = new S3ObjectStore(s3, config.s3.bucket, config.s3.prefix, { objectLock });
  const repo = await openRepository(raw, loadMasterKey(config.encryption));
  return repo.encrypted
    ? { store: new EncryptedObjectStore(raw, repo.keys), gear: GearTable.fromKey(repo.keys.gearKey), encrypted: true }
    : { store: raw, gear: defaultGearTable(), encrypted: false };
}

export interface Stoppable {
  /**
   * Stops fetching, finishes (or gives up) the work in flight, commits what is durable and
   * disconnects. `deadline` (epoch ms) is when the process will exit regardless: work that
   * cannot finish by then is left uncommitted and is redelivered.
   */
  stop(deadline?: number): Promise<void>;
}

/** Reports nothing: for contexts nobody probes (a CLI backup). */
const UNWATCHED: ConsumerWatcher = { watchConsumer: () => undefined };

/** Connects a service's dependencies, checks the bucket and makes sure the topics exist. */
export async function openServiceContext(
  name: string,
  config: BackstreamConfig,
  logger?: Logger,
  health: ConsumerWatcher = UNWATCHED,
): Promise<ServiceContext> {
  requireSettings(config, ['kafka.brokers', 's3.bucket']);
  const log = logger ?? createLogger(config.log.level, name);
  const kafka = createKafka(config.kafka, { clientSuffix: name, logger: log });
  const objectLock = objectLockPolicyOf(config.objectLock);
  const s3 = createS3Client(config.s3);
  try {
    await requireBucket(s3, config.s3.bucket, { objectLock });
    const admin = kafka.admin();
    await admin.connect();
    try {
      await ensureTopics(admin, config);
    } finally {
      await admin.disconnect();
    }
    const repository = await openRepositoryStore(config, s3);
    const producer = createIdempotentProducer(kafka);
    await producer.connect();
    return { name, config, logger: log, kafka, producer, s3, store: repository.store, gear: repository.gear, health };
  } catch (err) {
    // A service that retries its start must not pile up sockets.
    s3.destroy();
    throw err;
  }
}

/** What read-only commands (snapshots, ls, restore) need: the ledger and the store. */
export interface ReaderContext {
  config: BackstreamConfig;
  kafka: Kafka;
  s3: S3Client;
  store: ObjectStore;
  /** The ledger topic, or with `fromStore` its mirror in the store. */
  ledger: LedgerSource;
  close(): void;
}

export interface ReaderOptions {
  /** Read the ledger from its store mirror: no Kafka needed. */
  fromStore?: boolean;
  /** Every item, signed or not (`ledger verify` judges them itself). */
  unfiltered?: boolean;
}

/**
 * The ledger of a repository as every process that acts on it reads it (TrustedLedger):
 * only what the configured ledger key signed. Without a key this throws a ConfigError
 * (exit 2) unless ledger.allowUnsigned is set, which `logger` then warns about.
 */
export function openTrustedLedger(
  config: BackstreamConfig,
  kafka: Kafka,
  logger: Logger,
  trust: LedgerTrust = loadLedgerTrust(config.ledger, (w) => logger.warn(w)),
): TrustedLedger {
  return new TrustedLedger({
    kafka,
    topic: topicName(config, 'ledger'),
    trust,
    onRejected: (at, reason) => logger.warn({ at, reason }, 'ledger: ignoring an item the ledger key did not sign'),
  });
}

/**
 * The ledger as readers see it: the topic or its mirror, through the TrustedLedger — a
 * forged record can then not point a restore at other data. `unfiltered` (only `ledger
 * verify`, `prove` and `rebuild`, which judge every item themselves) reads it raw.
 */
function readerLedger(
  config: BackstreamConfig,
  kafka: Kafka,
  store: ObjectStore,
  options: ReaderOptions,
  trust: LedgerTrust | undefined,
  logger: Logger,
): LedgerSource {
  if (!trust)
    return options.fromStore ? new StoreLedgerSource(store) : new TopicLedgerSource(kafka, topicName(config, 'ledger'));
  const ledger = openTrustedLedger(config, kafka, logger, trust);
  return options.fromStore ? ledger.mirror(store) : ledger.topic();
}

export async function openReaderContext(config: BackstreamConfig, options: ReaderOptions = {}): Promise<ReaderContext> {
  requireSettings(config, options.fromStore ? ['s3.bucket'] : ['kafka.brokers', 's3.bucket']);
  const logger = createLogger(config.log.level, 'reader');
  // Before anything is opened: a reader without a ledger key stops here (exit 2).
  const trust = options.unfiltered ? undefined : loadLedgerTrust(config.ledger, (w) => logger.warn(w));
  const kafka = createKafka(config.kafka, { clientSuffix: 'reader', logger });
  const s3 = createS3Client(config.s3);
  let store: ObjectStore;
  try {
    ({ store } = await openRepositoryStore(config, s3));
  } catch (err) {
    s3.destroy();
    throw err;
  }
  return {
    config,
    kafka,
    s3,
    store,
    ledger: readerLedger(config, kafka, store, options, trust, logger),
    close: () => s3.destroy(),
  };
}

export async function closeServiceContext(ctx: ServiceContext): Promise<void> {
  await ctx.producer.disconnect().catch(() => undefined);
  ctx.s3.destroy();
}
