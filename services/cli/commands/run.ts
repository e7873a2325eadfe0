import { Argument, Command } from 'commander';
import { requireSettings } from '../../../libs/config';
import { runService, type ServiceStarter } from '../../../libs/runtime';
import { startArchiver } from '../../archiver/main';
import { startChunkWorker } from '../../chunk-worker/main';
import { startProducer } from '../../producer/main';
import { startVerifier } from '../../verifier/main';
import { loadCommandConfig } from '../context';

const SERVICES: Record<string, ServiceStarter> = {
  'chunk-worker': startChunkWorker,
  verifier: startVerifier,
  archiver: startArchiver,
  producer: startProducer,
};

export function runCommand(): Command {
  return new Command('run')
    .description(
      'run one pipeline service until SIGTERM/SIGINT (scale by running more, up to the topic partitions); producer ingests the change topics (changes.topics). Serves /healthz, /readyz and /metrics on health.port; on SIGTERM stops within shutdown.gracePeriodMs',
    )
    .addArgument(new Argument('<service>', 'the service to run').choices(Object.keys(SERVICES)))
    .action(async function (this: Command, service: string) {
      const { config } = loadCommandConfig(this);
      const start = SERVICES[service] as ServiceStarter;
      // The producer service ingests change topics: without any it has nothing to do.
      if (service === 'producer') requireSettings(config, ['changes.topics']);
      requireSettings(config, ['kafka.brokers', 's3.bucket']);
      const code = await runService(service, config, start);
      // Whatever still holds the event loop (a consumer abandoned mid-batch) must not keep
      // the process past its grace period.
      process.exit(code);
    });
}
