import { Command } from 'commander';
import { runBackup, type BackupProgress } from '../../../libs/backup';
import { loadLedgerTrust } from '../../../libs/ledger';
import { createLogger } from '../../../libs/log';
import { openServiceContext, closeServiceContext, openTrustedLedger } from '../../../libs/runtime';
import { inInternalSpan, startTelemetry } from '../../../libs/telemetry';
import { loadCommandConfig, printJson, terminalProgressBar } from '../context';
import { terminalSafe } from '../../../libs/text';

function mib(bytes: number): string {
  return (bytes / 1024 / 1024).toFixed(1);
}

function rate(bytes: number, ms: number): string {
  return ms > 0 ? (((bytes / 1024 / 1024) * 1000) / ms).toFixed(1) : '0.0';
}

export function backupCommand(): Command {
  return new Command('backup')
    .description('back up a directory tree as a new snapshot and wait until it is committed to the ledger')
    .argument('<path>', 'directory to back up')
    .option(
      '--source <name>',
      "name of what is backed up; incremental backups compare with this source's last snapshot",
      'default',
    )
    .option('--json', 'JSON lines: progress every second, then a summary')
    .action(async function (this: Command, path: string, opts: { source: string; json?: boolean }) {
      const { config } = loadCommandConfig(this);
      // The parent and the commit come from the ledger: without its key, stop here (exit 2).
      const trust = loadLedgerTrust(config.ledger, (w) => createLogger(config.log.level, 'backup').warn(w));
      // A backup starts the trace of every chunk it sends (exported when an OTLP endpoint is set).
      const telemetry = startTelemetry(config.telemetry, { service: 'backup', serveMetrics: false });
      const ctx = await openServiceContext('producer', {
        ...config,
        log: { level: opts.json ? 'warn' : config.log.level },
      }).catch(async (err: unknown) => {
        await telemetry.shutdown();
        throw err;
      });
      const bar = terminalProgressBar(
        '{phase} | {files} files | {value} MiB read | {sent} MiB sent | {rate} MiB/s',
        opts.json,
      );
      bar?.start(0, 0, { phase: 'scanning', files: 0, sent: '0.0', rate: '0.0' });
      const onProgress = (p: BackupProgress): void => {
        if (opts.json) printJson({ type: 'progress', ...p });
        else
          bar?.update(Number(mib(p.readBytes)), {
            phase: p.phase,
            files: p.files,
            sent: mib(p.sentBytes),
            rate: rate(p.readBytes, p.elapsedMs),
          });
      };
      try {
        const result = await inInternalSpan('backup', { 'backstream.source': opts.source }, () =>
          runBackup(
            { root: path, source: opts.source },
            { ...ctx, ledger: openTrustedLedger(ctx.config, ctx.kafka, ctx.logger, trust), onProgress },
          ),
        );
        bar?.stop();
        if (opts.json) {
          const { record, ...summary } = result;
          printJson({ type: 'summary', ...summary, manifest: record.manifest.key, committedAt: record.committedAt });
        } else {
          process.stdout.write(
            `snapshot ${result.snapshotId} committed (source ${opts.source}${result.parent ? `, parent ${result.parent.slice(0, 8)}` : ''})\n` +
              `  ${result.files} files (${result.filesUnchanged} unchanged), ${result.dirs} dirs, ${result.symlinks} symlinks, ${mib(result.totalBytes)} MiB\n` +
              `  read ${mib(result.readBytes)} MiB, sent ${mib(result.sentBytes)} MiB in ${result.chunksSent} chunks, ${result.chunksFound} chunks already stored\n` +
              `  ${(result.elapsedMs / 1000).toFixed(1)} s, ${rate(result.totalBytes, result.elapsedMs)} MiB/s` +
              (result.skipped.length > 0
                ? `\n  skipped ${result.skipped.length}: ${result.skipped
                    .slice(0, 5)
                    .map((s) => terminalSafe(`${s.path} (${s.reason})`))
                    .join('; ')}`
                : '') +
              '\n',
          );
        }
      } finally {
        bar?.stop();
        await closeServiceContext(ctx);
        await telemetry.shutdown();
      }
    });
}
