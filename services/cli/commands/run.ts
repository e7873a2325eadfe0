import { Argument, Command } from 'commander';
import { requireSettings } from '../../../libs/config';
import {
  closeServiceContext,
  openServiceContext,
  runUntilSignalled,
  type ServiceContext,
  type Stoppable,
} from '../../../libs/runtime';
import { startArchiver } from '../../archiver/main';
import { startChunkWorker } from '../../chunk-worker/main';
import { startProducer } from '../../producer/main';
import { startVerifier } from '../../verifier/main';
import { loadCommandConfig } from '../context';

const SERVICES: Record<string, (ctx: ServiceContext) => Promise<Stoppable>> = {
  'chunk-worker': startChunkWorker,
  verifier: startVerifier,
  archiver: startArchiver,
  producer: startProducer,
};

export function runCommand(): Command {
  return new Command('run')
    .description(
      'run one pipeline service until SIGTERM/SIGINT (scale by running more, up to the topic partitions); producer ingests the change topics (changes.topics)',
    )
    .addArgument(new Argument('<service>', 'the service to run').choices(Object.keys(SERVICES)))
    .action(async function (this: Command, service: string) {
      const { config } = loadCommandConfig(this);
      const start = SERVICES[service] as (ctx: ServiceContext) => Promise<Stoppable>;
      // The producer service ingests change topics: without any it has nothing to do.
      if (service === 'producer') requireSettings(config, ['changes.topics']);
      const ctx = await openServiceContext(service, config);
      try {
        await runUntilSignalled(ctx, start);
      } catch (err) {
        // A service that fails to start must not keep the process alive on open connections.
        await closeServiceContext(ctx);
        throw err;
      }
    });
}
