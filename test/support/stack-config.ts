import { randomBytes } from 'node:crypto';
import { loadConfig, type BackstreamConfig } from '../../libs/config';
import { LedgerSigningKey } from '../../libs/ledger';
import { endpointsFromEnv } from '../stack/endpoints';

/** A name no other test or run uses: tests isolate themselves by topic prefix and bucket. */
export function uniqueName(label: string): string {
  return `${label}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`.toLowerCase();
}

/**
 * A configuration pointing at the stack the global setup started, with its own topic
 * prefix and bucket, loaded through the config lib like any process would load it.
 */
export function testConfig(label: string, extraEnv: Record<string, string> = {}): BackstreamConfig {
  return loadConfig({ env: testEnv(label, extraEnv) }).config;
}

/** One ledger signing key per test process: the archiver refuses to start without one. */
export const TEST_SIGNING_KEY = LedgerSigningKey.generate();

/** The BACKSTREAM_* environment of testConfig, for processes a test starts. */
export function testEnv(label: string, extraEnv: Record<string, string> = {}): Record<string, string> {
  const endpoints = endpointsFromEnv(process.env);
  if (!endpoints) throw new Error('integration test without a stack: run it through `make test-integration`');
  const name = uniqueName(label);
  return {
    BACKSTREAM_KAFKA_BROKERS: endpoints.kafkaBrokers.join(','),
    BACKSTREAM_KAFKA_TOPIC_PREFIX: `${name}.`,
    BACKSTREAM_KAFKA_CLIENT_ID: name,
    BACKSTREAM_S3_ENDPOINT: endpoints.s3Endpoint,
    BACKSTREAM_S3_REGION: endpoints.s3Region,
    BACKSTREAM_S3_ACCESS_KEY_ID: endpoints.s3AccessKeyId,
    BACKSTREAM_S3_SECRET_ACCESS_KEY: endpoints.s3SecretAccessKey,
    BACKSTREAM_S3_FORCE_PATH_STYLE: 'true',
    BACKSTREAM_S3_BUCKET: name.slice(0, 63),
    BACKSTREAM_LOG_LEVEL: 'warn',
    BACKSTREAM_LEDGER_SIGNING_KEY: TEST_SIGNING_KEY.exportSeed(),
    // Many services share this host: each takes a free port for /healthz, /readyz, /metrics.
    BACKSTREAM_HEALTH_PORT: '0',
    ...extraEnv,
  };
}
