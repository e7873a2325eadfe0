import { Command } from 'commander';
import { createKafka } from '../../../libs/bus';
import { probeKafka, probeStore } from '../../../libs/health';
import { createS3Client } from '../../../libs/store';
import { requireSettings } from '../../../libs/config';
import { loadCommandConfig, printJson } from '../context';

export function doctorCommand(): Command {
  return new Command('doctor')
    .description('check that Kafka and the object store answer with the configured settings')
    .option('--timeout <seconds>', 'seconds each check may take', '10')
    .option('--json', 'print the results as one JSON line')
    .action(async function (this: Command, opts: { timeout: string; json?: boolean }) {
      const { config } = loadCommandConfig(this);
      requireSettings(config, ['kafka.brokers']);
      const timeoutMs = Math.max(1, Number(opts.timeout)) * 1000;
      const kafka = createKafka(config.kafka, { clientSuffix: 'doctor', retries: 0 });
      const s3 = createS3Client(config.s3);
      try {
        const results = await Promise.all([probeKafka(kafka, timeoutMs), probeStore(s3, config.s3.bucket, timeoutMs)]);
        if (opts.json) printJson({ ok: results.every((r) => r.ok), checks: results });
        else
          for (const r of results)
            process.stdout.write(
              `${r.ok ? 'ok  ' : 'FAIL'} ${r.dependency.padEnd(5)} ${String(r.ms).padStart(5)} ms  ${r.detail}\n`,
            );
        if (!results.every((r) => r.ok)) process.exitCode = 1;
      } finally {
        s3.destroy();
      }
    });
}
