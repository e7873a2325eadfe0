import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../errors';
import { describeSettings, loadConfig, requireSettings } from './load';

function configFile(content: unknown): string {
  const file = join(mkdtempSync(join(tmpdir(), 'backstream-config-')), 'config.json');
  writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
  return file;
}

function loadError(options: Parameters<typeof loadConfig>[0]): ConfigError {
  try {
    loadConfig(options);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('gives defaults without any environment', () => {
    const { config } = loadConfig({ env: {} });
    expect(config.kafka.topicPrefix).toBe('backstream.');
    expect(config.chunking).toEqual({ minSize: 512 * 1024, avgSize: 1024 * 1024, maxSize: 8 * 1024 * 1024 });
    expect(config.s3.checksums).toBe('when_required');
  });

  it('reads BACKSTREAM_* variables and coerces their values', () => {
    const { config } = loadConfig({
      env: {
        BACKSTREAM_KAFKA_BROKERS: ' a:9092, b:9093 ',
        BACKSTREAM_S3_FORCE_PATH_STYLE: 'true',
        BACKSTREAM_CHUNKING_MAX_SIZE: '16MiB',
        BACKSTREAM_STORE_CONCURRENCY: '3',
      },
    });
    expect(config.kafka.brokers).toEqual(['a:9092', 'b:9093']);
    expect(config.s3.forcePathStyle).toBe(true);
    expect(config.chunking.maxSize).toBe(16 * 1024 * 1024);
    expect(config.store.concurrency).toBe(3);
  });

  it('reads the change-ingest settings: topics as a list, defaults for the rest', () => {
    expect(loadConfig({ env: {} }).config.changes).toEqual({
      topics: [],
      source: '',
      groupId: '',
      batchMaxEvents: 1000,
      batchMaxMs: 1000,
      maxValueBytes: 4 * 1024 * 1024,
      maxInFlightBytes: 16 * 1024 * 1024,
    });
    const { config } = loadConfig({
      env: {
        BACKSTREAM_CHANGES_TOPICS: ' crm.changes, shop_orders-v2 ',
        BACKSTREAM_CHANGES_SOURCE: 'crm.customers',
        BACKSTREAM_CHANGES_BATCH_MAX_EVENTS: '500',
        BACKSTREAM_CHANGES_BATCH_MAX_MS: '300',
        BACKSTREAM_CHANGES_MAX_VALUE_BYTES: '1MiB',
      },
    });
    expect(config.changes).toMatchObject({
      topics: ['crm.changes', 'shop_orders-v2'],
      source: 'crm.customers',
      batchMaxEvents: 500,
      batchMaxMs: 300,
      maxValueBytes: 1024 * 1024,
    });
  });

  it('lets the environment override the config file', () => {
    const file = configFile({ kafka: { brokers: 'file:1', clientId: 'from-file' }, s3: { bucket: 'file-bucket' } });
    const { config } = loadConfig({ file, env: { BACKSTREAM_KAFKA_BROKERS: 'env:2' } });
    expect(config.kafka.brokers).toEqual(['env:2']);
    expect(config.kafka.clientId).toBe('from-file');
    expect(config.s3.bucket).toBe('file-bucket');
  });

  it('takes the file from BACKSTREAM_CONFIG', () => {
    const file = configFile({ s3: { region: 'eu-west-3' } });
    expect(loadConfig({ env: { BACKSTREAM_CONFIG: file } }).config.s3.region).toBe('eu-west-3');
  });

  it('names the key, its variable and the expected form of an invalid value', () => {
    const err = loadError({ env: { BACKSTREAM_KAFKA_CONNECTION_TIMEOUT_MS: 'soon' } });
    expect(err.key).toBe('kafka.connectionTimeoutMs');
    expect(err.message).toContain('BACKSTREAM_KAFKA_CONNECTION_TIMEOUT_MS');
    expect(err.message).toContain('must be a positive integer');
    expect(err.retriable).toBe(false);
  });

  it.each([
    [{ BACKSTREAM_KAFKA_BROKERS: 'no-port' }, 'kafka.brokers', /host:port/],
    [{ BACKSTREAM_S3_ENDPOINT: 'ftp://x' }, 's3.endpoint', /http\(s\) URL/],
    [{ BACKSTREAM_S3_BUCKET: 'Bad_Bucket' }, 's3.bucket', /bucket name/],
    [{ BACKSTREAM_S3_CHECKSUMS: 'always' }, 's3.checksums', /must be one of/],
    [{ BACKSTREAM_CHUNKING_MIN_SIZE: '1MB' }, 'chunking.minSize', /KiB, MiB or GiB/],
    [{ BACKSTREAM_CHUNK_WORKER_COMPRESSION_LEVEL: '22' }, 'chunkWorker.compressionLevel', /1 to 19/],
    [{ BACKSTREAM_CHANGES_TOPICS: 'crm.changes,bad topic' }, 'changes.topics', /Kafka topic names/],
    [{ BACKSTREAM_CHANGES_TOPICS: 'a,b,a' }, 'changes.topics', /distinct/],
    [{ BACKSTREAM_CHANGES_SOURCE: 'crm customers' }, 'changes.source', /source name/],
    [{ BACKSTREAM_CHANGES_BATCH_MAX_EVENTS: '0' }, 'changes.batchMaxEvents', /positive integer/],
    // Every count or size that sizes a batch or a buffer has an upper bound.
    [{ BACKSTREAM_CHANGES_BATCH_MAX_EVENTS: '100000000' }, 'changes.batchMaxEvents', /at most 100000:/],
    [{ BACKSTREAM_PRODUCER_BATCH_BYTES: '4GiB' }, 'producer.batchBytes', /at most 67108864:/],
    [{ BACKSTREAM_CHUNK_WORKER_FETCH_MAX_BYTES: '64GiB' }, 'chunkWorker.fetchMaxBytes', /at most 1073741824:/],
    [{ BACKSTREAM_STORE_CONCURRENCY: '100000' }, 'store.concurrency', /at most 256:/],
    [{ BACKSTREAM_ARCHIVER_MAX_PENDING_SNAPSHOTS: '1000000' }, 'archiver.maxPendingSnapshots', /at most 4096:/],
    [{ BACKSTREAM_ARCHIVER_SEGMENT_BYTES: '1GiB' }, 'archiver.segmentBytes', /at most 268435456:/],
    [{ BACKSTREAM_CHANGES_MAX_VALUE_BYTES: '1GiB' }, 'changes.maxValueBytes', /at most 67108864:/],
    [{ BACKSTREAM_CHANGES_MAX_IN_FLIGHT_BYTES: '8GiB' }, 'changes.maxInFlightBytes', /at most 1073741824:/],
    [{ BACKSTREAM_PRODUCER_MAX_IN_FLIGHT_BYTES: '8GiB' }, 'producer.maxInFlightBytes', /at most 1073741824:/],
    [{ BACKSTREAM_CHUNKING_MAX_SIZE: '1GiB' }, 'chunking.maxSize', /at most 67108864:/],
    [{ BACKSTREAM_BUS_MAX_ATTEMPTS: '0' }, 'bus.maxAttempts', /positive integer/],
    [{ BACKSTREAM_BUS_MAX_ATTEMPTS: '1000' }, 'bus.maxAttempts', /at most 100:/],
  ])('rejects %p naming %s', (env, key, expected) => {
    const err = loadError({ env });
    expect(err.key).toBe(key);
    expect(err.message).toMatch(expected);
  });

  it('rejects chunk sizes out of order and an average that is not a power of two', () => {
    expect(loadError({ env: { BACKSTREAM_CHUNKING_MIN_SIZE: '2MiB' } }).message).toMatch(/minSize < chunking.avgSize/);
    expect(loadError({ env: { BACKSTREAM_CHUNKING_AVG_SIZE: '1000000' } }).message).toMatch(/power of two/);
  });

  it('rejects unknown keys and unreadable files', () => {
    expect(loadError({ env: {}, file: configFile({ kafka: { brokerz: 'x:1' } }) }).message).toMatch(
      /unknown setting "kafka.brokerz"/,
    );
    expect(loadError({ env: {}, file: configFile('{not json') }).message).toMatch(
      /is not valid JSON at line 1, column 2$/,
    );
    expect(loadError({ env: {}, file: configFile([1, 2]) }).message).toMatch(/must hold a JSON object/);
    expect(loadError({ env: {}, file: '/nonexistent/backstream.json' }).message).toMatch(
      /cannot read config file .*: ENOENT$/,
    );
  });

  it('places a syntax error by line and column without quoting the text around it', () => {
    const text = '{\n  "s3": {\n    "secretAccessKey": hunter2-very-secret\n  }\n}\n';
    const message = loadError({ env: {}, file: configFile(text) }).message;
    expect(message).toMatch(/line 3, column 24$/);
    expect(message).not.toMatch(/hunter2/);
  });

  it('never puts a secret into an error or the redacted view', () => {
    const secret = 'hunter2-very-secret';
    const loaded = loadConfig({
      env: { BACKSTREAM_S3_SECRET_ACCESS_KEY: secret, BACKSTREAM_KAFKA_SASL_PASSWORD: secret },
    });
    expect(loaded.config.s3.secretAccessKey).toBe(secret);
    expect(JSON.stringify(loaded.redacted())).not.toContain(secret);
    expect(loaded.redacted()).toMatchObject({ s3: { secretAccessKey: '[Sensitive]' } });
    const err = loadError({ env: { BACKSTREAM_S3_SECRET_ACCESS_KEY: secret, BACKSTREAM_S3_BUCKET: 'UPPER' } });
    expect(err.message).not.toContain(secret);
  });
});

describe('requireSettings', () => {
  it('names the variable of a missing setting', () => {
    const { config } = loadConfig({ env: {} });
    expect(() => requireSettings(config, ['kafka.brokers'])).toThrow(/BACKSTREAM_KAFKA_BROKERS/);
    expect(() => requireSettings(config, ['s3.bucket'])).toThrow(/BACKSTREAM_S3_BUCKET/);
    const set = loadConfig({ env: { BACKSTREAM_KAFKA_BROKERS: 'k:1', BACKSTREAM_S3_BUCKET: 'bkt' } }).config;
    expect(() => requireSettings(set, ['kafka.brokers', 's3.bucket'])).not.toThrow();
    expect(() => requireSettings(set, ['changes.topics'])).toThrow(/BACKSTREAM_CHANGES_TOPICS/);
  });
});

describe('describeSettings', () => {
  it('lists every setting with a BACKSTREAM_ variable and hides sensitive defaults', () => {
    const settings = describeSettings();
    expect(settings.length).toBeGreaterThan(20);
    for (const s of settings) expect(s.env).toMatch(/^BACKSTREAM_[A-Z0-9_]+$/);
    expect(new Set(settings.map((s) => s.env)).size).toBe(settings.length);
    expect(settings.find((s) => s.key === 's3.secretAccessKey')).toMatchObject({ sensitive: true, default: '' });
  });
});
