import { Command } from 'commander';
import { topicName } from '../../../libs/events';
import { findSnapshot, listSnapshots } from '../../../libs/ledger';
import { fileEntries, metadataDecoder, readManifest } from '../../../libs/manifest';
import { restoreSnapshot, type RestoreProgress } from '../../../libs/restore';
import { openReaderContext } from '../../../libs/runtime';
import { loadCommandConfig, printJson, terminalProgressBar } from '../context';

const MiB = 1024 * 1024;

export function snapshotsCommand(): Command {
  return new Command('snapshots')
    .description('list committed snapshots, replayed from the ledger')
    .option('--source <name>', 'only this source')
    .option('--json', 'one JSON line per snapshot (the ledger record)')
    .action(async function (this: Command, opts: { source?: string; json?: boolean }) {
      const ctx = openReaderContext(loadCommandConfig(this).config);
      try {
        const entries = await listSnapshots(ctx.kafka, topicName(ctx.config, 'ledger'), opts.source);
        if (opts.json) for (const e of entries) printJson({ ledgerOffset: e.offset, ...e.record });
        else {
          process.stdout.write(
            `${'id'.padEnd(10)} ${'source'.padEnd(16)} ${'committed'.padEnd(24)} ${'files'.padStart(8)} ${'MiB'.padStart(10)} ${'new MiB'.padStart(10)}\n`,
          );
          for (const { record: r } of entries) {
            process.stdout.write(
              `${r.snapshotId.slice(0, 8).padEnd(10)} ${r.source.padEnd(16)} ${r.committedAt.padEnd(24)} ${String(r.files).padStart(8)} ${(r.totalBytes / MiB).toFixed(1).padStart(10)} ${(r.sentBytes / MiB).toFixed(1).padStart(10)}\n`,
            );
          }
        }
      } finally {
        ctx.close();
      }
    });
}

export function lsCommand(): Command {
  return new Command('ls')
    .description("list a snapshot's entries")
    .argument('<snapshot>', 'snapshot id (or a unique prefix of 6+ characters) or "latest"')
    .argument('[path]', 'only entries at or below this path')
    .option('--source <name>', 'with "latest": the latest of this source')
    .option('--json', 'one JSON line per entry')
    .action(async function (
      this: Command,
      ref: string,
      path: string | undefined,
      opts: { source?: string; json?: boolean },
    ) {
      const ctx = openReaderContext(loadCommandConfig(this).config);
      try {
        const { record } = await findSnapshot(ctx.kafka, topicName(ctx.config, 'ledger'), ref, opts.source);
        const decoder = metadataDecoder(ctx.config.chunking.maxSize);
        const manifest = await readManifest(ctx.store, decoder, record.manifest);
        const prefix = path?.replace(/^\.?\/+|\/+$/g, '') ?? '';
        for await (const e of fileEntries(ctx.store, decoder, manifest)) {
          if (e.part > 0) continue;
          if (prefix && e.path !== prefix && !e.path.startsWith(`${prefix}/`)) continue;
          if (opts.json)
            printJson({ path: e.path, kind: e.kind, mode: e.mode, mtimeMs: e.mtimeMs, size: e.size, target: e.target });
          else
            process.stdout.write(
              `${e.kind.padEnd(8)} ${e.mode.toString(8).padStart(4, '0')} ${String(e.size).padStart(12)} ${new Date(e.mtimeMs).toISOString()} ${e.path}${e.target !== undefined ? ` -> ${e.target}` : ''}\n`,
            );
        }
      } finally {
        ctx.close();
      }
    });
}

export function restoreCommand(): Command {
  return new Command('restore')
    .description('restore a snapshot into a directory, verifying every chunk and file hash (resumable)')
    .argument('<snapshot>', 'snapshot id (or a unique prefix of 6+ characters) or "latest"')
    .requiredOption('--target <dir>', 'directory to restore into (created if missing)')
    .option('--source <name>', 'with "latest": the latest of this source')
    .option(
      '--include <path>',
      'restore only this path and what is below it (repeatable)',
      (v: string, acc: string[]) => [...acc, v],
      [] as string[],
    )
    .option('--json', 'JSON lines: progress every second, then a summary')
    .action(async function (
      this: Command,
      ref: string,
      opts: { target: string; source?: string; include: string[]; json?: boolean },
    ) {
      const ctx = openReaderContext(loadCommandConfig(this).config);
      try {
        const { record } = await findSnapshot(ctx.kafka, topicName(ctx.config, 'ledger'), ref, opts.source);
        const bar = terminalProgressBar(
          '[{bar}] {percentage}% | {files} files | {value}/{total} MiB | {skipped} already correct | {rate} MB/s',
          opts.json,
        );
        // The snapshot's size is the total only when everything is restored.
        bar?.start(opts.include.length === 0 ? Math.round(record.totalBytes / MiB) : 0, 0, {
          files: 0,
          skipped: 0,
          rate: '0.0',
        });
        const onProgress = (p: RestoreProgress): void => {
          if (opts.json) printJson({ type: 'progress', ...p });
          else
            bar?.update(Math.round(p.bytes / MiB), {
              files: p.files,
              skipped: p.filesSkipped,
              rate: p.elapsedMs > 0 ? (p.bytes / 1e3 / p.elapsedMs).toFixed(1) : '0.0',
            });
        };
        const result = await restoreSnapshot(
          { record, target: opts.target, includes: opts.include },
          {
            store: ctx.store,
            decoder: metadataDecoder(ctx.config.chunking.maxSize),
            concurrency: ctx.config.store.concurrency,
            onProgress,
          },
        ).finally(() => bar?.stop());
        const mbps = result.elapsedMs > 0 ? result.bytes / 1e6 / (result.elapsedMs / 1000) : 0;
        if (opts.json)
          printJson({
            type: 'summary',
            snapshotId: record.snapshotId,
            ...result,
            mbPerSecond: Number(mbps.toFixed(1)),
          });
        else
          process.stdout.write(
            `restored snapshot ${record.snapshotId} to ${opts.target}: ${result.files} files (${result.filesSkipped} already correct), ${result.dirs} dirs, ${result.symlinks} symlinks, ${(result.bytes / MiB).toFixed(1)} MiB, ${result.chunksVerified} chunks verified, ${mbps.toFixed(1)} MB/s\n`,
          );
      } finally {
        ctx.close();
      }
    });
}
