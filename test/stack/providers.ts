import { execFile } from 'node:child_process';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { endpointsFromEnv, type StackEndpoints } from './endpoints';
import type { StackProviderName } from './select-provider';

const run = promisify(execFile);
const repo = resolve(__dirname, '..', '..');
const stackScript = resolve(repo, 'infra', 'local', 'stack.sh');

export interface RunningStack {
  endpoints: StackEndpoints;
  /** Stops what this run started; leaves alone what was already running. */
  stop(): Promise<void>;
}

/** The infra/local stack (no Docker). Reused when already up; stopped only if started here. */
async function startLocal(env: NodeJS.ProcessEnv): Promise<RunningStack> {
  const wasRunning = await run(stackScript, ['status'], { env }).then(
    () => true,
    () => false,
  );
  const up = await run(stackScript, ['up'], { env, maxBuffer: 16 * 1024 * 1024 }).catch(
    (err: Error & { stderr?: string }) => {
      throw new Error(`infra/local/stack.sh up failed:\n${err.stderr ?? err.message}`);
    },
  );
  process.stderr.write(
    up.stderr
      .split('\n')
      .filter((l) => l.includes('ready in'))
      .join('\n') + '\n',
  );
  const { stdout } = await run(stackScript, ['env'], { env });
  const parsed: NodeJS.ProcessEnv = {};
  for (const m of stdout.matchAll(/^export (\w+)=(.*)$/gm)) parsed[m[1] as string] = m[2];
  const endpoints: StackEndpoints = {
    kafkaBrokers: (parsed.BACKSTREAM_KAFKA_BROKERS ?? '').split(','),
    s3Endpoint: parsed.BACKSTREAM_S3_ENDPOINT ?? '',
    s3Region: parsed.BACKSTREAM_S3_REGION ?? 'us-east-1',
    s3AccessKeyId: parsed.BACKSTREAM_S3_ACCESS_KEY_ID ?? '',
    s3SecretAccessKey: parsed.BACKSTREAM_S3_SECRET_ACCESS_KEY ?? '',
  };
  return {
    endpoints,
    stop: async () => {
      if (wasRunning || env.BACKSTREAM_TEST_KEEP_STACK) return;
      await run(stackScript, ['down'], { env });
    },
  };
}

function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      srv.close(() =>
        typeof address === 'object' && address ? resolvePort(address.port) : reject(new Error('no port')),
      );
    });
  });
}

/**
 * Kafka and versitygw from their official images (the same ones as
 * infra/compose/docker-compose.yml). Kafka's advertised listener must be the address
 * the host reaches, so the container listens on a free host port mapped 1:1.
 */
async function startTestcontainers(): Promise<RunningStack> {
  // Loaded only here: machines without Docker never touch the module.
  const { GenericContainer, Wait } = await import('testcontainers');
  const kafkaPort = await freePort();
  const accessKey = 'backstream';
  const secretKey = 'backstream-dev-secret';
  const kafka = await new GenericContainer('apache/kafka:4.1.2')
    .withExposedPorts({ container: kafkaPort, host: kafkaPort })
    .withEnvironment({
      KAFKA_NODE_ID: '1',
      KAFKA_PROCESS_ROLES: 'broker,controller',
      KAFKA_LISTENERS: `PLAINTEXT://0.0.0.0:${kafkaPort},CONTROLLER://0.0.0.0:9093`,
      KAFKA_ADVERTISED_LISTENERS: `PLAINTEXT://127.0.0.1:${kafkaPort}`,
      KAFKA_CONTROLLER_LISTENER_NAMES: 'CONTROLLER',
      KAFKA_LISTENER_SECURITY_PROTOCOL_MAP: 'PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
      KAFKA_CONTROLLER_QUORUM_VOTERS: '1@localhost:9093',
      KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR: '1',
      KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR: '1',
      KAFKA_TRANSACTION_STATE_LOG_MIN_ISR: '1',
      KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS: '0',
      KAFKA_AUTO_CREATE_TOPICS_ENABLE: 'false',
      KAFKA_MESSAGE_MAX_BYTES: '16777216',
    })
    .withWaitStrategy(Wait.forLogMessage(/Kafka Server started/))
    .start();
  const s3 = await new GenericContainer('versity/versitygw:v1.7.0')
    .withExposedPorts(7070)
    .withEnvironment({ ROOT_ACCESS_KEY: accessKey, ROOT_SECRET_KEY: secretKey })
    .withTmpFs({ '/data': 'rw' })
    .withCommand(['--port', ':7070', '--keep-alive', 'posix', '--sidecar', '/tmp/vgw', '/data'])
    .withWaitStrategy(Wait.forListeningPorts())
    .start();
  return {
    endpoints: {
      kafkaBrokers: [`127.0.0.1:${kafkaPort}`],
      s3Endpoint: `http://${s3.getHost()}:${s3.getMappedPort(7070)}`,
      s3Region: 'us-east-1',
      s3AccessKeyId: accessKey,
      s3SecretAccessKey: secretKey,
    },
    stop: async () => {
      await Promise.all([kafka.stop(), s3.stop()]);
    },
  };
}

export async function startStack(name: StackProviderName, env: NodeJS.ProcessEnv): Promise<RunningStack> {
  switch (name) {
    case 'external': {
      const endpoints = endpointsFromEnv(env);
      if (!endpoints) throw new Error('external stack selected without endpoints');
      return { endpoints, stop: () => Promise.resolve() };
    }
    case 'testcontainers':
      return startTestcontainers();
    case 'local':
      return startLocal(env);
  }
}
