import { Command } from 'commander';
import { canonicalKey } from '../../../libs/changes';
import { describeError } from '../../../libs/errors';
import { metadataDecoder } from '../../../libs/manifest';
import { dataMembers, keyHistory, ledgerChangeCommits, type HistoryEntry } from '../../../libs/pit';
import { openReaderContext } from '../../../libs/runtime';
import { loadCommandConfig } from '../context';
import { terminalSafe } from '../../../libs/text';

const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;

interface HistoryOptions {
  source: string;
  key: string;
  json?: boolean;
  withData?: boolean;
  fromStore?: boolean;
}

/** One version as a JSON line: where it was read, what it is, and with --with-data its payload as native `data`. */
function jsonLine({ version: v, payload }: HistoryEntry): string {
  const meta = JSON.stringify({
    source: v.source,
    key: v.key,
    topic: v.topic,
    partition: v.partition,
    offset: v.offset,
    ts: new Date(v.tsMs).toISOString(),
    tsMs: v.tsMs,
    op: v.op,
    id: v.id,
    format: v.format,
    contentType: v.contentType,
    encoding: v.encoding,
    size: v.size,
    sha256: v.sha256,
    batch: v.batchId,
    ledgerOffset: v.ledgerOffset,
  });
  return payload ? `${meta.slice(0, -1)}${dataMembers(payload)}}` : meta;
}

function textLine({ version: v, payload }: HistoryEntry): string {
  const row = terminalSafe(
    `${new Date(v.tsMs).toISOString().padEnd(25)} ${v.op.padEnd(6)} ${(v.size === undefined ? '-' : String(v.size)).padStart(10)} ` +
      `${(v.contentType ?? '-').padEnd(24)} ${`${v.topic}/${v.partition}@${v.offset}`.padEnd(28)} ${v.id.slice(0, 12)}`,
  );
  // The data members without their leading comma: `"data":…` or `"dataEncoding":"base64","data":"…"`.
  return payload ? `${row}\n    ${dataMembers(payload).slice(1)}` : row;
}

export function historyCommand(): Command {
  return new Command('history')
    .description(
      "list a key's committed versions in time order (equal times in log order), each distinct event once, replayed from the ledger",
    )
    .requiredOption('--source <name>', 'the change source')
    .requiredOption('--key <key>', 'the entity key; a JSON object key in any spelling ({"id": 1} is {"id":1})')
    .option('--from-store', 'read the ledger from its mirror in the store (when the ledger topic is gone)')
    .option('--json', 'one JSON line per version')
    .option('--with-data', "fetch and verify each version's payload, and show it")
    .action(async function (this: Command, opts: HistoryOptions) {
      let key: string;
      try {
        key = canonicalKey(opts.key);
      } catch (err) {
        this.error(`error: --key: ${describeError(err)}`, { exitCode: 2, code: 'backstream.usage' });
      }
      const { config } = loadCommandConfig(this);
      const ctx = await openReaderContext(config, { fromStore: opts.fromStore });
      try {
        const run = keyHistory(
          ledgerChangeCommits(ctx.ledger),
          { source: opts.source, key, withData: opts.withData === true },
          {
            store: ctx.store,
            decoder: metadataDecoder(config.chunking.maxSize),
            concurrency: config.store.concurrency,
          },
        );
        let header = false;
        for await (const entry of run.entries) {
          if (opts.json) {
            process.stdout.write(`${jsonLine(entry)}\n`);
            continue;
          }
          if (!header) {
            process.stdout.write(
              `${'ts'.padEnd(25)} ${'op'.padEnd(6)} ${'size'.padStart(10)} ${'content type'.padEnd(24)} ${'topic/partition@offset'.padEnd(28)} id\n`,
            );
            header = true;
          }
          process.stdout.write(`${textLine(entry)}\n`);
        }
        if (!opts.json) {
          const { versions, duplicates, scan } = run.result;
          if (versions === 0)
            process.stderr.write(`no committed version of key ${terminalSafe(key)} in source ${opts.source}\n`);
          else
            process.stdout.write(
              `${plural(versions, 'version')}${duplicates > 0 ? ` (${plural(duplicates, 'duplicate delivery', 'duplicate deliveries')} not shown)` : ''}, from ${plural(scan.batches, 'change batch', 'change batches')}\n`,
            );
        }
      } finally {
        ctx.close();
      }
    });
}
