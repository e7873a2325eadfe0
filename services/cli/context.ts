import type { Command } from 'commander';
import { loadConfig, type LoadedConfig } from '../../libs/config';

/** Options every command accepts, declared once on the root program. */
export interface GlobalOptions {
  config?: string;
}

/** Loads the configuration named by the root program's --config (or $BACKSTREAM_CONFIG). */
export function loadCommandConfig(command: Command): LoadedConfig {
  const globals = command.optsWithGlobals<GlobalOptions>();
  return loadConfig(globals.config ? { file: globals.config } : {});
}

/** Writes one line of JSON to stdout: the format of every --json output. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}
