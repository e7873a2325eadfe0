/**
 * Where the integration tests find Kafka and S3. The global setup resolves them once
 * per run and hands them to the test workers through these environment variables.
 */
export interface StackEndpoints {
  kafkaBrokers: string[];
  s3Endpoint: string;
  s3Region: string;
  s3AccessKeyId: string;
  s3SecretAccessKey: string;
}

export const ENDPOINT_ENV = {
  kafkaBrokers: 'BACKSTREAM_TEST_KAFKA_BROKERS',
  s3Endpoint: 'BACKSTREAM_TEST_S3_ENDPOINT',
  s3Region: 'BACKSTREAM_TEST_S3_REGION',
  s3AccessKeyId: 'BACKSTREAM_TEST_S3_ACCESS_KEY_ID',
  s3SecretAccessKey: 'BACKSTREAM_TEST_S3_SECRET_ACCESS_KEY',
} as const;

export function endpointsToEnv(e: StackEndpoints): Record<string, string> {
  return {
    [ENDPOINT_ENV.kafkaBrokers]: e.kafkaBrokers.join(','),
    [ENDPOINT_ENV.s3Endpoint]: e.s3Endpoint,
    [ENDPOINT_ENV.s3Region]: e.s3Region,
    [ENDPOINT_ENV.s3AccessKeyId]: e.s3AccessKeyId,
    [ENDPOINT_ENV.s3SecretAccessKey]: e.s3SecretAccessKey,
  };
}

/** Reads endpoints from the environment; undefined when the two required ones are absent. */
export function endpointsFromEnv(env: NodeJS.ProcessEnv): StackEndpoints | undefined {
  const brokers = env[ENDPOINT_ENV.kafkaBrokers];
  const s3 = env[ENDPOINT_ENV.s3Endpoint];
  if (!brokers || !s3) return undefined;
  return {
    kafkaBrokers: brokers
      .split(',')
      .map((b) => b.trim())
      .filter(Boolean),
    s3Endpoint: s3,
    s3Region: env[ENDPOINT_ENV.s3Region] || 'us-east-1',
    s3AccessKeyId: env[ENDPOINT_ENV.s3AccessKeyId] ?? '',
    s3SecretAccessKey: env[ENDPOINT_ENV.s3SecretAccessKey] ?? '',
  };
}
