import { Command, Option } from 'commander';
import type { Producer } from 'kafkajs';
import { createIdempotentProducer } from '../../../libs/bus';
import { topicDefinitions } from '../../../libs/events';
import { findSnapshot, listSnapshots } from '../../../libs/ledger';
import { fileEntries, metadataDecoder, readManifest } from '../../../libs/manifest';
import {
  FileSink,
  INSTANT_FORMS,
  KafkaSink,
  PIT_FORMATS,
  ledgerChangeCommits,
  parseInstant,
  restoreAt,
  type PitFormat,
  type PitProgress,
  type RecordSink,
} from '../../../libs/pit';
import { OVERWRITE_POLICIES, restoreSnapshot, type OverwritePolicy, type RestoreProgress } from '../../../libs/restore';
import { openReaderContext } from '../../../libs/runtime';
import { terminalSafe } from '../../../libs/text';
import { loadCommandConfig, printJson, terminalProgressBar } from '../context';

const MiB = 1024 * 1024;
/** The usage exit code (services/cli/main.ts EXIT.usage; not imported, main imports this file). */
const EXIT_USAGE = 2;

export function snapshotsCommand(): Command {
  return new Command('snapshots')
    .description('list committed snapshots, replayed from the ledger')
    .option('--source <name>', 'only this source')
    .option('--from-store', 'read the ledger from its mirror in the store (when the ledger topic is gone)')
    .option('--json', 'one JSON line per snapshot (the ledger record)')
    .action(async function (this: Command, opts: { source?: string; json?: boolean; fromStore?: boolean }) {
      const ctx = await openReaderContext(loadCommandConfig(this).config, { fromStore: opts.fromStore });
      try {
        const entries = await listSnapshots(ctx.ledger, opts.source);
        if (opts.json) for (const e of entries) printJson({ ledgerOffset: e.offset, ...e.record });
        else {
          process.stdout.write(
            `${'id'.padEnd(10)} ${'source'.padEnd(16)} ${'committed'.padEnd(24)} ${'files'.padStart(8)} ${'MiB'.padStart(10)} ${'new MiB'.padStart(10)}\n`,
          );
          for (const { record: r } of entries) {
            process.stdout.write(
              `${r.snapshotId.slice(0, 8).padEnd(10)} ${terminalSafe(r.source).padEnd(16)} ${terminalSafe(r.committedAt).padEnd(24)} ${String(r.files).padStart(8)} ${(r.totalBytes / MiB).toFixed(1).padStart(10)} ${(r.sentBytes / MiB).toFixed(1).padStart(10)}\n`,
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
    .option('--from-store', 'read the ledger from its mirror in the store (when the ledger topic is gone)')
    .option('--json', 'one JSON line per entry')
    .action(async function (
      this: Command,
      ref: string,
      path: string | undefined,
      opts: { source?: string; json?: boolean; fromStore?: boolean },
    ) {
      const ctx = await openReaderContext(loadCommandConfig(this).config, { fromStore: opts.fromStore });
      try {
        const { record } = await findSnapshot(ctx.ledger, ref, opts.source);
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
              `${e.kind.padEnd(8)} ${e.mode.toString(8).padStart(4, '0')} ${String(e.size).padStart(12)} ${new Date(e.mtimeMs).toISOString()} ${terminalSafe(e.path)}${e.target !== undefined ? ` -> ${terminalSafe(e.target)}` : ''}\n`,
            );
        }
      } finally {
        ctx.close();
      }
    });
}

export function restoreCommand(): Command {
  return new Command('restore')
    .description(
      'restore a snapshot into a directory (resumable), or with --at the state of a change source at a moment; every chunk and hash is verified',
    )
    .argument('[snapshot]', 'snapshot id (or a unique prefix of 6+ characters) or "latest"; none with --at')
    .requiredOption(
      '--target <target>',
      'a snapshot: the directory to restore into (created if missing); with --at: FILE (JSON lines, written atomically) or kafka:TOPIC',
    )
    .option('--source <name>', 'with "latest": the latest of this source; with --at: the change source (required)')
    .option('--at <time>', `restore the state of --source at this moment: ${INSTANT_FORMS}`)
    .addOption(
      new Option(
        '--format <format>',
        'with --at: native change events or Debezium-shaped records (default jsonl)',
      ).choices(PIT_FORMATS),
    )
    .option(
      '--include <path>',
      'restore only this path and what is below it (repeatable)',
      (v: string, acc: string[]) => [...acc, v],
      [] as string[],
    )
    .addOption(
      new Option(
        '--overwrite <when>',
        'an entry already in the target that differs: if-changed replaces one of the same kind (a file or symlink), always also one of another kind (never a non-empty directory), never keeps all (default if-changed)',
      ).choices(OVERWRITE_POLICIES),
    )
    .option('--from-store', 'read the ledger from its mirror in the store (when the ledger topic is gone)')
    .option('--json', 'JSON lines: progress every second, what was left alone, then a summary')
    .action(async function (this: Command, ref: string | undefined, opts: RestoreOptions) {
      if (opts.at !== undefined) {
        await restoreAtMoment(this, ref, opts);
        return;
      }
      if (ref === undefined)
        usageError(
          this,
          "missing required argument 'snapshot' (or --at TIME --source NAME to restore a change source)",
        );
      if (opts.format !== undefined) usageError(this, '--format applies to a point-in-time restore (--at) only');
      if (opts.overwrite !== undefined && opts.at !== undefined)
        usageError(this, '--overwrite applies to a snapshot restore only');
      await restoreSnapshotCommand(this, ref, opts);
    });
}

interface RestoreOptions {
  target: string;
  source?: string;
  include: string[];
  json?: boolean;
  at?: string;
  format?: PitFormat;
  overwrite?: OverwritePolicy;
  fromStore?: boolean;
}

/** A usage error: printed as commander prints its own, exit code 2. */
function usageError(command: Command, message: string): never {
  command.error(`error: ${message}`, { exitCode: EXIT_USAGE, code: 'backstream.usage' });
}

async function restoreSnapshotCommand(command: Command, ref: string, opts: RestoreOptions): Promise<void> {
  const ctx = await openReaderContext(loadCommandConfig(command).config, { fromStore: opts.fromStore });
  try {
    const { record } = await findSnapshot(ctx.ledger, ref, opts.source);
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
    const onLeftAlone = ({ path, reason }: { path: string; reason: string }): void => {
      if (opts.json) printJson({ type: 'left-alone', path, reason });
      else process.stdout.write(`left alone: ${terminalSafe(path)}: ${reason}\n`);
    };
    const result = await restoreSnapshot(
      { record, target: opts.target, includes: opts.include, overwrite: opts.overwrite },
      {
        store: ctx.store,
        decoder: metadataDecoder(ctx.config.chunking.maxSize),
        concurrency: ctx.config.store.concurrency,
        onProgress,
        onLeftAlone,
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
        `restored snapshot ${record.snapshotId} to ${terminalSafe(opts.target)}: ${result.files} files (${result.filesSkipped} already correct), ${result.dirs} dirs, ${result.symlinks} symlinks, ${(result.bytes / MiB).toFixed(1)} MiB, ${result.chunksVerified} chunks verified, ${mbps.toFixed(1)} MB/s${notes(result)}\n`,
      );
  } finally {
    ctx.close();
  }
}

/** The summary's remarks on what was not restored as the snapshot has it. */
function notes(r: RestoreProgress): string {
  const out: string[] = [];
  if (r.leftAlone > 0)
    out.push(
      `${r.leftAlone} existing entries left alone${r.notRestoredBelowLeftAlone > 0 ? ` (${r.notRestoredBelowLeftAlone} snapshot entries below them not restored)` : ''}`,
    );
  if (r.modeBitsDropped > 0)
    out.push(`${r.modeBitsDropped} entries' setuid/setgid/sticky bits not restored (owners are not recorded)`);
  return out.length > 0 ? `; ${out.join('; ')}` : '';
}

const KAFKA_TARGET = 'kafka:';
/** Kafka's rule for topic names. */
const TOPIC_NAME = /^[A-Za-z0-9._-]{1,249}$/;

/**
 * `restore --at T --source NAME --target FILE|kafka:TOPIC [--format jsonl|debezium]`: the
 * state of every key of a change source at T (libs/pit restoreAt), replayed from the
 * ledger and the store alone.
 */
async function restoreAtMoment(command: Command, ref: string | undefined, opts: RestoreOptions): Promise<void> {
  if (ref !== undefined)
    usageError(
      command,
      `restore --at restores a change source, not a snapshot: drop the argument ${JSON.stringify(ref)}`,
    );
  if (opts.source === undefined) usageError(command, 'restore --at needs --source NAME: the change source to restore');
  if (opts.include.length > 0) usageError(command, '--include applies to a snapshot restore only, not with --at');
  const at = parseInstant(opts.at as string);
  if ('error' in at) usageError(command, `--at: ${at.error}`);
  const format: PitFormat = opts.format ?? 'jsonl';
  const topic = opts.target.startsWith(KAFKA_TARGET) ? opts.target.slice(KAFKA_TARGET.length) : undefined;
  if (topic !== undefined && (!TOPIC_NAME.test(topic) || topic === '.' || topic === '..'))
    usageError(command, `--target kafka:${topic}: not a valid topic name (1-249 of A-Z a-z 0-9 . _ -)`);
  const source = opts.source;
  const { config } = loadCommandConfig(command);
  if (topic !== undefined && topicDefinitions(config).some((t) => t.name === topic))
    usageError(command, `--target kafka:${topic} is one of backstream's own topics; restore into a topic of yours`);

  const ctx = await openReaderContext(config, { fromStore: opts.fromStore });
  let producer: Producer | undefined;
  try {
    let sink: RecordSink;
    if (topic !== undefined) {
      const admin = ctx.kafka.admin();
      await admin.connect();
      const topics = await admin.listTopics().finally(() => admin.disconnect());
      if (!topics.includes(topic))
        usageError(command, `--target kafka:${topic}: the topic does not exist (backstream does not create it)`);
      producer = createIdempotentProducer(ctx.kafka);
      await producer.connect();
      sink = new KafkaSink(producer, topic);
    } else {
      sink = await FileSink.open(opts.target, format);
    }
    const bar = terminalProgressBar('{phase} | {versions} versions read | {value}/{total} keys | {mib} MiB', opts.json);
    bar?.start(0, 0, { phase: 'replaying the ledger', versions: 0, mib: '0.0' });
    const onProgress = (p: PitProgress): void => {
      if (opts.json) printJson({ type: 'progress', ...p });
      else {
        if (p.phase === 'write') bar?.setTotal(p.keys);
        bar?.update(p.keysWritten, {
          phase: p.phase === 'scan' ? 'replaying the ledger' : 'writing keys',
          versions: p.versions,
          mib: (p.bytes / MiB).toFixed(1),
        });
      }
    };
    const result = await restoreAt(ledgerChangeCommits(ctx.ledger), { source, atMs: at.ms, format }, sink, {
      store: ctx.store,
      decoder: metadataDecoder(config.chunking.maxSize),
      concurrency: config.store.concurrency,
      onProgress,
    }).finally(() => bar?.stop());
    const atText = new Date(at.ms).toISOString();
    const mbps = result.elapsedMs > 0 ? result.bytes / 1e6 / (result.elapsedMs / 1000) : 0;
    if (opts.json) {
      printJson({
        type: 'summary',
        source,
        at: atText,
        format,
        target: opts.target,
        ...result,
        mbPerSecond: Number(mbps.toFixed(1)),
      });
    } else {
      if (result.batches === 0) process.stderr.write(`note: no committed change batch holds source ${source}\n`);
      process.stdout.write(
        `restored source ${source} as of ${atText} to ${opts.target} (${format}): ${result.keys} keys, ${(result.bytes / MiB).toFixed(1)} MiB of payloads verified, ${(result.outputBytes / MiB).toFixed(1)} MiB written; ${result.versions} versions read from ${result.batches} change batches; ${(result.elapsedMs / 1000).toFixed(1)} s\n`,
      );
    }
  } finally {
    await producer?.disconnect().catch(() => undefined);
    ctx.close();
  }
}
