import { ENDPOINT_ENV } from './endpoints';

export type StackProviderName = 'external' | 'testcontainers' | 'local';

export interface ProviderChoice {
  name: StackProviderName;
  /** Why this provider, for the first line of the test output. */
  reason: string;
}

/** Selects with BACKSTREAM_TEST_STACK; anything else is an error naming the allowed values. */
export const PROVIDER_ENV = 'BACKSTREAM_TEST_STACK';
const NAMES: readonly string[] = ['auto', 'external', 'testcontainers', 'local'];

/**
 * Chooses where integration tests get Kafka and S3 from:
 * - an explicit BACKSTREAM_TEST_STACK wins (and fails when its provider cannot work);
 * - otherwise `external` when both endpoint variables are set,
 * - `testcontainers` when a Docker engine answers,
 * - `local` (infra/local, no Docker) in every other case.
 */
export async function selectProvider(
  env: NodeJS.ProcessEnv,
  dockerReachable: () => Promise<boolean>,
): Promise<ProviderChoice> {
  const requested = (env[PROVIDER_ENV] ?? 'auto').trim().toLowerCase() || 'auto';
  if (!NAMES.includes(requested)) {
    throw new Error(`${PROVIDER_ENV}=${env[PROVIDER_ENV]} is not one of ${NAMES.join(', ')}`);
  }
  const hasExternal = Boolean(env[ENDPOINT_ENV.kafkaBrokers] && env[ENDPOINT_ENV.s3Endpoint]);
  switch (requested) {
    case 'external':
      if (!hasExternal) {
        throw new Error(`${PROVIDER_ENV}=external needs ${ENDPOINT_ENV.kafkaBrokers} and ${ENDPOINT_ENV.s3Endpoint}`);
      }
      return { name: 'external', reason: `${PROVIDER_ENV}=external` };
    case 'testcontainers':
      if (!(await dockerReachable())) {
        throw new Error(
          `${PROVIDER_ENV}=testcontainers but no Docker engine answers (DOCKER_HOST or /var/run/docker.sock)`,
        );
      }
      return { name: 'testcontainers', reason: `${PROVIDER_ENV}=testcontainers` };
    case 'local':
      return { name: 'local', reason: `${PROVIDER_ENV}=local` };
    default:
      if (hasExternal)
        return { name: 'external', reason: `${ENDPOINT_ENV.kafkaBrokers} and ${ENDPOINT_ENV.s3Endpoint} are set` };
      if (await dockerReachable()) return { name: 'testcontainers', reason: 'a Docker engine answers' };
      return { name: 'local', reason: 'no external endpoints and no Docker engine: using infra/local' };
  }
}
