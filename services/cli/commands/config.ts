import { Command } from 'commander';
import { describeSettings } from '../../../libs/config';
import { loadCommandConfig, printJson } from '../context';

export function configCommand(): Command {
  return new Command('config')
    .description('validate the configuration and show the effective settings (secrets redacted)')
    .option('--show', 'print the effective configuration as JSON, secrets replaced by [Sensitive] (the default)')
    .option('--describe', 'list every setting with its environment variable, default and meaning')
    .option('--json', 'with --describe: one JSON line per setting')
    .action(function (this: Command, opts: { show?: boolean; describe?: boolean; json?: boolean }) {
      if (opts.describe) {
        for (const s of describeSettings()) {
          if (opts.json) printJson(s);
          else
            process.stdout.write(
              `${s.key}\n  env: ${s.env}\n  default: ${JSON.stringify(s.default)}${s.sensitive ? ' (sensitive)' : ''}\n  ${s.doc}\n`,
            );
        }
        return;
      }
      // Loading validates: an invalid setting exits non-zero before anything is printed.
      const loaded = loadCommandConfig(this);
      process.stdout.write(`${JSON.stringify(loaded.redacted(), null, 2)}\n`);
    });
}
