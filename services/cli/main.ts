import { Command, CommanderError } from 'commander';
import { BackstreamError, ConfigError, describeError } from '../../libs/errors';
import { terminalSafe } from '../../libs/text';
import { configCommand } from './commands/config';
import { doctorCommand } from './commands/doctor';
import { backupCommand } from './commands/backup';
import { keyCommand, ledgerCommand } from './commands/ledger';
import { initCommand, topicsCommand } from './commands/init';
import { runCommand } from './commands/run';
import { historyCommand } from './commands/history';
import { lsCommand, restoreCommand, snapshotsCommand } from './commands/restore';

/** Exit codes of every command; scripts may rely on them. */
export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

export function buildProgram(): Command {
  const program = new Command('backstream')
    .description(
      'Back up files and change streams through Apache Kafka into S3-compatible storage, with a replayable ledger.',
    )
    .option('-c, --config <file>', 'JSON config file (default: $BACKSTREAM_CONFIG); BACKSTREAM_* variables override it')
    .showHelpAfterError()
    .exitOverride();
  program.addCommand(configCommand());
  program.addCommand(doctorCommand());
  program.addCommand(initCommand());
  program.addCommand(topicsCommand());
  program.addCommand(backupCommand());
  program.addCommand(snapshotsCommand());
  program.addCommand(lsCommand());
  program.addCommand(restoreCommand());
  program.addCommand(historyCommand());
  program.addCommand(ledgerCommand());
  program.addCommand(keyCommand());
  program.addCommand(runCommand());
  const override = (cmd: Command): void => {
    cmd.exitOverride();
    cmd.commands.forEach(override);
  };
  override(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  // `backstream ls … | head`: the reader has gone, which is not an error of ours.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(EXIT.ok);
    throw err;
  });
  try {
    await buildProgram().parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end here with code 0; usage errors were already printed.
      process.exitCode = err.exitCode === 0 ? EXIT.ok : EXIT.usage;
      return;
    }
    // Messages quote names from snapshots and the ledger: no control character reaches the terminal.
    process.stderr.write(`backstream: error: ${terminalSafe(describeError(err))}\n`);
    process.exitCode = err instanceof ConfigError ? EXIT.usage : EXIT.failure;
    if (!(err instanceof BackstreamError) && process.env.BACKSTREAM_DEBUG) {
      process.stderr.write(`${(err as Error).stack ?? ''}\n`);
    }
  }
}
