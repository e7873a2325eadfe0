import { dockerReachable } from './docker-ping';
import { endpointsToEnv } from './endpoints';
import { startStack, type RunningStack } from './providers';
import { selectProvider } from './select-provider';
import { warmUpConsumerGroups } from './warm-up';

declare global {
  // Shared between jest's global setup and teardown, which run in the same process.
  var __backstreamStack: RunningStack | undefined;
}

/** Starts (or finds) Kafka and S3 once per test run and exports their endpoints to the workers. */
export default async function globalSetup(): Promise<void> {
  const choice = await selectProvider(process.env, () => dockerReachable(process.env));
  process.stderr.write(`\n[integration] stack provider: ${choice.name} (${choice.reason})\n`);
  const stack = await startStack(choice.name, process.env);
  globalThis.__backstreamStack = stack;
  Object.assign(process.env, endpointsToEnv(stack.endpoints), { BACKSTREAM_TEST_PROVIDER: choice.name });
  const warmUpMs = await warmUpConsumerGroups(stack.endpoints.kafkaBrokers);
  process.stderr.write(
    `[integration] kafka ${stack.endpoints.kafkaBrokers.join(',')}, s3 ${stack.endpoints.s3Endpoint}; a consumer group joined after ${warmUpMs} ms\n`,
  );
}
