import { Presets, SingleBar } from 'cli-progress';
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

/**
 * A progress bar on stderr when stderr is a terminal and the output is not --json;
 * undefined otherwise, so scripts and logs never see cursor control characters.
 */
export function terminalProgressBar(format: string, json: boolean | undefined): SingleBar | undefined {
  if (json || !process.stderr.isTTY) return undefined;
  return new SingleBar({ format, stream: process.stderr, hideCursor: true }, Presets.shades_classic);
}
