import { Argument, Command } from 'commander';
import { openServiceContext, runUntilSignalled, type ServiceContext, type Stoppable } from '../../../libs/runtime';
import { startArchiver } from '../../archiver/main';
import { startChunkWorker } from '../../chunk-worker/main';
import { startVerifier } from '../../verifier/main';
import { loadCommandConfig } from '../context';

const SERVICES: Record<string, (ctx: ServiceContext) => Promise<Stoppable>> = {
  'chunk-worker': startChunkWorker,
  verifier: startVerifier,
  archiver: startArchiver,
};

export function runCommand(): Command {
  return new Command('run')
    .description('run one pipeline service until SIGTERM/SIGINT (scale by running more, up to the topic partitions)')
    .addArgument(new Argument('<service>', 'the service to run').choices(Object.keys(SERVICES)))
    .action(async function (this: Command, service: string) {
      const { config } = loadCommandConfig(this);
      const start = SERVICES[service] as (ctx: ServiceContext) => Promise<Stoppable>;
      const ctx = await openServiceContext(service, config);
      await runUntilSignalled(ctx, start);
    });
}
