/**
 * What encryption at rest costs, on the local stack: the same dataset backed up, restored and
 * verified in a plain and in an encrypted repository, side by side in one run.
 *
 *   node dist/test/bench/encryption.js [--mib 256] [--rounds 3] [--work .bench]
 *        [--doc docs/benchmarks.md] [--write-doc auto|yes|no] [--keep] [--timeout 1800]
 *   node dist/test/bench/encryption.js --from .bench/encryption.jsonl [--write-doc yes]
 *
 * Needs the BACKSTREAM_* settings of the stack (`eval "$(infra/local/stack.sh env)"`, which
 * also names the ledger signing key) and /usr/bin/time (Debian package time). Each round: a
 * fresh copy of the cached dataset (test/bench/dataset.ts, the one versus-restic.ts uses), and
 * two repositories, each with its own bucket, topic prefix (`backstream init`) and its own
 * chunk-worker, verifier and archiver: `plain`, and `encrypted`, whose services and commands
 * get BACKSTREAM_ENCRYPTION_MASTER_KEY (a fresh key per run, as `backstream key generate`
 * makes; `init` writes the key-check object). Then four phases, in each of which both
 * repositories take their turn on the same tree and page-cache state (plain first in odd
 * rounds, encrypted first in even ones), with a `sync` before every timed command:
 *
 * 1. first backup (`backstream backup DIR --json`, timed until it exits, i.e. committed);
 *    the services are stopped after this phase: the others only read;
 * 2. full restore of the snapshot into an empty directory, checked afterwards, untimed, with
 *    `diff -r --no-dereference` against the tree;
 * 3. `backstream ledger verify --json`; 4. `backstream ledger verify --deep --json`.
 *
 * Per command: wall time, peak RSS and CPU time (/usr/bin/time), the CPU time the services,
 * Kafka and the S3 server used meanwhile (/proc), the command's summary line; after the backup,
 * the objects and bytes in the bucket. Results go to <work>/encryption.jsonl, the markdown
 * report to stdout and <work>/encryption.md, and with --write-doc into the marked section of
 * the docs file (`auto`: only for a full run, 256 MiB and 3 rounds or more).
 *
 * Everything a round creates (processes, copies, restores, buckets, topics, consumer groups)
 * is removed when it ends, also on failure or Ctrl-C; --keep leaves buckets and topics.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { readFile, rm, rmdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { type S3Client } from '@aws-sdk/client-s3';
import { loadConfig, type BackstreamConfig } from '../../libs/config';
import { generateMasterKey } from '../../libs/crypto';
import { S3ObjectStore, createS3Client } from '../../libs/store';
import {
  alive,
  cleanupStep,
  cli,
  cpuMeter,
  deleteBucket,
  deleteTopicsAndGroups,
  ensureDataset,
  int,
  lastJson,
  localStack,
  log,
  machine,
  ranged,
  repo,
  requireTimeCommand,
  run,
  runMain,
  startService,
  stat,
  stopServicesAndRemove,
  stopServicesCleanly,
  timed,
  treeStats,
  versions,
  type Machine,
  type Service,
  type Stack,
  publishReport,
  requireSectionMarkers,
  type ReportTarget,
} from './harness';
import { generatedSection, jsonLines, machineLines, parseWriteDoc } from './report-doc';
import { median } from './stats';
import { markdownTable, mbPerSecond, num } from './versus-report';

const SOURCE = 'bench';
const SERVICES = ['chunk-worker', 'verifier', 'archiver'] as const;

export const REPOS = ['plain', 'encrypted'] as const;
export type Repo = (typeof REPOS)[number];

export const OPS = ['backup', 'restore', 'verify', 'verify-deep'] as const;
export type Op = (typeof OPS)[number];

const OP_LABELS: Record<Op, string> = {
  backup: 'first backup',
  restore: 'full restore',
  verify: '`ledger verify`',
  'verify-deep': '`ledger verify --deep`',
};

// ---- records -------------------------------------------------------------------------------

/** The summary line of `backstream ledger verify --json`, the fields reported. */
export interface VerifySummary {
  records: number;
  recordsPerSecond: number;
  blocksRead: number;
  bytesRead: number;
  mbPerSecond: number;
  seconds: number;
}

/** One timed command: one repository, one operation, one round. */
export interface Measurement {
  type: 'measurement';
  round: number;
  op: Op;
  repo: Repo;
  /** 1 when this repository went first in this phase of this round, 2 when second. */
  position: number;
  /** Bytes and count of the regular files in the tree backed up (or restored). */
  datasetBytes: number;
  datasetFiles: number;
  /** From spawn to exit of the command. */
  wallMs: number;
  /** Peak RSS of the command (backstream backup / restore / ledger verify), KiB. */
  rssKiB: number;
  /** CPU time (user + system) during the command: `cli`, the repository's services, `kafka`, `s3`. */
  cpuMs: Record<string, number>;
  /** Objects and bytes in the repository's bucket (as stored) after the backup. */
  store?: { objects: number; bytes: number };
  verify?: VerifySummary;
}

export interface Meta {
  type: 'meta';
  startedAt: string;
  mib: number;
  rounds: number;
  command: string;
  machine: Machine;
  versions: Record<string, string>;
  settings: string;
  dataset: { bytes: number; files: number };
}

type BenchRecord = Meta | Measurement;

// ---- report ------------------------------------------------------------------------------

const SECTION = generatedSection('bench-encryption', 'test/bench/encryption.ts');

function pick(ms: Measurement[], op: Op, repo: Repo): Measurement[] {
  return ms.filter((m) => m.op === op && m.repo === repo);
}

/** Median over the rounds that measured both repositories of encrypted / plain of `f`. */
function pairedRatio(ms: Measurement[], op: Op, f: (m: Measurement) => number): number {
  const ratios: number[] = [];
  for (const round of new Set(ms.map((m) => m.round))) {
    const p = ms.find((m) => m.round === round && m.op === op && m.repo === 'plain');
    const e = ms.find((m) => m.round === round && m.op === op && m.repo === 'encrypted');
    if (p && e && f(p) > 0) ratios.push(f(e) / f(p));
  }
  return median(ratios);
}

const treeMbps = (m: Measurement): number => mbPerSecond(m.datasetBytes, m.wallMs);
const wallS = (m: Measurement): number => m.wallMs / 1000;
const mib = (kib: number): string => (Number.isFinite(kib) ? (kib / 1024).toFixed(0) : '—');

export function renderReport(meta: Meta, ms: Measurement[]): string {
  const rounds = new Set(ms.map((m) => m.round)).size;
  const out: string[] = [];
  out.push(
    `Run of ${meta.startedAt.slice(0, 10)}: ${meta.mib} MiB dataset (${int(meta.dataset.bytes)} bytes in ` +
      `${int(meta.dataset.files)} files), ${rounds} round${rounds === 1 ? '' : 's'}, medians over rounds (range in ` +
      'brackets). Backup and restore MB/s are bytes of the tree (10^6) per second of wall time from process start to ' +
      'exit (the backup exits once its snapshot is committed); `ledger verify` figures are its own summary ' +
      '(records and bytes read over its own seconds, from the ledger read on), beside the wall time of the whole ' +
      'command. encrypted / plain is the median of the per-round ratios: below 1, encryption costs that share.',
    '',
    '**Throughput**',
    '',
  );
  const rows: string[][] = [];
  const throughput = (op: Op, label: string, f: (m: Measurement) => number): void => {
    const p = pick(ms, op, 'plain');
    const e = pick(ms, op, 'encrypted');
    if (p.length === 0 && e.length === 0) return;
    rows.push([
      label,
      ranged(stat(p, f)),
      ranged(stat(e, f)),
      num(pairedRatio(ms, op, f)),
      num(stat(p, wallS).mid),
      num(stat(e, wallS).mid),
    ]);
  };
  throughput('backup', 'first backup, MB/s until committed', treeMbps);
  throughput('restore', 'full restore, MB/s', treeMbps);
  throughput('verify', '`ledger verify`, records/s', (m) => m.verify?.recordsPerSecond ?? NaN);
  throughput('verify-deep', '`ledger verify --deep`, records/s', (m) => m.verify?.recordsPerSecond ?? NaN);
  throughput('verify-deep', '`ledger verify --deep`, MB/s read', (m) => m.verify?.mbPerSecond ?? NaN);
  out.push(
    markdownTable(['operation', 'plain', 'encrypted', 'encrypted / plain', 'plain wall s', 'encrypted wall s'], rows, [
      'l',
      'r',
      'r',
      'r',
      'r',
      'r',
    ]),
    '',
  );

  out.push('**Ledger verify** (its summary line, medians)', '');
  const verifyRows: string[][] = [];
  for (const op of ['verify', 'verify-deep'] as const)
    for (const r of REPOS) {
      const xs = pick(ms, op, r);
      if (xs.length === 0) continue;
      const v = (f: (s: VerifySummary) => number): number => stat(xs, (m) => (m.verify ? f(m.verify) : NaN)).mid;
      verifyRows.push([
        OP_LABELS[op],
        r,
        int(v((s) => s.records)),
        int(v((s) => s.blocksRead)),
        num(v((s) => s.bytesRead) / 1e6),
        num(v((s) => s.recordsPerSecond)),
        op === 'verify-deep' ? num(v((s) => s.mbPerSecond)) : '—',
        num(v((s) => s.seconds)),
        num(stat(xs, wallS).mid),
      ]);
    }
  out.push(
    markdownTable(
      ['command', 'repository', 'records', 'blocks', 'MB read', 'records/s', 'MB/s', 'its seconds', 'wall s'],
      verifyRows,
      ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    ),
    '',
    'The ledger of each repository holds the one snapshot commit of its first backup, so records/s is mostly ' +
      'the fixed cost of reading and checking the ledger; without --deep, blocks are checked to exist, not read.',
    '',
  );

  out.push(
    '**Peak RSS and CPU** (peak RSS of the command, largest over rounds; CPU seconds, user + system, median)',
    '',
  );
  const cpuRows: string[][] = [];
  for (const op of OPS)
    for (const r of REPOS) {
      const xs = pick(ms, op, r);
      if (xs.length === 0) continue;
      const cpu = (k: string): number => stat(xs, (m) => m.cpuMs[k] ?? NaN).mid / 1000;
      const services = op === 'backup' ? SERVICES.reduce((a, s) => a + cpu(s), 0) : NaN;
      const total = stat(xs, (m) => Object.values(m.cpuMs).reduce((a, b) => a + b, 0)).mid / 1000;
      cpuRows.push([
        `${OP_LABELS[op]}, ${r}`,
        mib(Math.max(...xs.map((m) => m.rssKiB))),
        num(cpu('cli')),
        num(services),
        num(cpu('kafka')),
        num(cpu('s3')),
        num(total),
      ]);
    }
  out.push(
    markdownTable(['command', 'peak RSS MiB', 'CPU: command', 'services', 'Kafka', 'S3 server', 'total'], cpuRows, [
      'l',
      'r',
      'r',
      'r',
      'r',
      'r',
      'r',
    ]),
    '',
    '"services" is the repository\'s chunk-worker, verifier and archiver during its backup; they are stopped ' +
      'before the restores and verifications, which only read.',
    '',
  );

  const stored = REPOS.map((r) => [r, pick(ms, 'backup', r)] as const).filter(([, xs]) => xs.some((m) => m.store));
  if (stored.length > 0) {
    out.push('**Stored** (in the bucket after the first backup, median)', '');
    out.push(
      markdownTable(
        ['repository', 'objects', 'MB'],
        stored.map(([r, xs]) => [
          r,
          int(stat(xs, (m) => m.store?.objects ?? NaN).mid),
          num(stat(xs, (m) => m.store?.bytes ?? NaN).mid / 1e6),
        ]),
        ['l', 'r', 'r'],
      ),
      '',
    );
  }

  const m = meta.machine;
  out.push(
    ...machineLines(m, meta.versions),
    "- Kafka, the S3 server, both repositories' services and the commands all on this one machine, over 127.0.0.1",
    `- ${meta.settings}`,
    '',
    `Reproduce: \`${meta.command}\` (results in \`.bench/encryption.jsonl\` and \`.bench/encryption.md\`).`,
  );
  return out.join('\n') + '\n';
}

// ---- arguments -----------------------------------------------------------------------

interface Args {
  mib: number;
  rounds: number;
  work: string;
  doc: string;
  writeDoc: 'auto' | 'yes' | 'no';
  keep: boolean;
  timeoutS: number;
  from?: string;
}

function parseArguments(argv: string[]): Args {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      mib: { type: 'string', default: '256' },
      rounds: { type: 'string', default: '3' },
      work: { type: 'string' },
      doc: { type: 'string' },
      'write-doc': { type: 'string', default: 'auto' },
      timeout: { type: 'string', default: '1800' },
      from: { type: 'string' },
      keep: { type: 'boolean', default: false },
    },
  });
  const args: Args = {
    mib: Number(values.mib),
    rounds: Number(values.rounds),
    work: resolve(values.work ?? process.env.BENCH_DIR ?? join(repo, '.bench')),
    doc: resolve(values.doc ?? join(repo, 'docs', 'benchmarks.md')),
    writeDoc: parseWriteDoc(values['write-doc']),
    keep: values.keep,
    timeoutS: Number(values.timeout),
  };
  if (values.from !== undefined) args.from = resolve(values.from);
  if (!(args.mib >= 1) || !Number.isInteger(args.rounds) || args.rounds < 1 || !(args.timeoutS > 0))
    throw new Error('--mib, --rounds and --timeout must be positive numbers');
  return args;
}

// ---- processes -----------------------------------------------------------------------------

// ---- dataset -----------------------------------------------------------------------------

async function bucketUsage(s3: S3Client, bucket: string): Promise<{ objects: number; bytes: number }> {
  let objects = 0;
  let bytes = 0;
  // The raw bucket: encrypted objects under their stored names and sizes.
  for await (const o of new S3ObjectStore(s3, bucket).list('')) {
    objects += 1;
    bytes += o.size;
  }
  return { objects, bytes };
}

// ---- one round ---------------------------------------------------------------------------

interface Repository {
  repo: Repo;
  bucket: string;
  prefix: string;
  env: NodeJS.ProcessEnv;
  services: Service[];
}

interface RoundContext {
  args: Args;
  config: BackstreamConfig;
  s3: S3Client;
  stack: Stack;
  round: number;
  roundDir: string;
  data: string;
  repos: Record<Repo, Repository>;
}

function repository(id: string, r: Repo, masterKey: string): Repository {
  const bucket = `${id}-${r === 'plain' ? 'plain' : 'enc'}`;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    BACKSTREAM_LOG_LEVEL: 'warn',
    BACKSTREAM_S3_BUCKET: bucket,
    BACKSTREAM_KAFKA_TOPIC_PREFIX: `${bucket}.`,
  };
  delete env.BACKSTREAM_ENCRYPTION_MASTER_KEY;
  delete env.BACKSTREAM_ENCRYPTION_MASTER_KEY_FILE;
  if (r === 'encrypted') env.BACKSTREAM_ENCRYPTION_MASTER_KEY = masterKey;
  return { repo: r, bucket, prefix: `${bucket}.`, env, services: [] };
}

async function checkRestored(expected: string, restored: string, r: Repo): Promise<void> {
  const d = await run('diff', ['-r', '--no-dereference', expected, restored], { allowFailure: true });
  if (d.code !== 0)
    throw new Error(
      `the ${r} restore differs from the dataset (diff -r ${expected} ${restored}, exit ${d.code}):\n` +
        `${(d.stdout + d.stderr).slice(0, 4000)}`,
    );
}

const COMMANDS: Record<Op, (data: string, restoreDir: string) => string[]> = {
  backup: (data) => ['backup', data, '--source', SOURCE, '--json'],
  restore: (_, target) => ['restore', 'latest', '--source', SOURCE, '--target', target, '--json'],
  verify: () => ['ledger', 'verify', '--json'],
  'verify-deep': () => ['ledger', 'verify', '--deep', '--json'],
};

async function measure(
  ctx: RoundContext,
  op: Op,
  r: Repo,
  position: number,
  tree: { bytes: number; files: number },
): Promise<Measurement> {
  const rep = ctx.repos[r];
  const restoreDir = join(ctx.roundDir, `restore-${r}`);
  // Dirty pages of the step before (copy, restore) are written back first.
  await run('sync', []);
  const cpuUsed = cpuMeter({
    ...Object.fromEntries(rep.services.filter((s) => alive(s.proc)).map((s) => [s.name, s.proc.pid])),
    kafka: ctx.stack.kafkaPid,
    s3: ctx.stack.s3Pid,
  });
  const t = await timed(process.execPath, [cli, ...COMMANDS[op](ctx.data, restoreDir)], join(ctx.roundDir, 'time'), {
    env: rep.env,
    timeoutMs: ctx.args.timeoutS * 1000,
    watch: op === 'backup' ? rep.services : [],
    // ledger verify exits 1 on a finding: reported below with its findings.
    allowFailure: op === 'verify' || op === 'verify-deep',
  });
  const cpuMs: Record<string, number> = { cli: Math.round(t.cpuMs), ...cpuUsed() };
  const summary = lastJson(t.stdout, (o) => o.type === 'summary');
  const m: Measurement = {
    type: 'measurement',
    round: ctx.round,
    op,
    repo: r,
    position,
    datasetBytes: tree.bytes,
    datasetFiles: tree.files,
    wallMs: Math.round(t.wallMs),
    rssKiB: t.maxRssKiB,
    cpuMs,
  };
  if (op === 'backup') m.store = await bucketUsage(ctx.s3, rep.bucket);
  if (op === 'restore') {
    await checkRestored(ctx.data, restoreDir, r);
    await rm(restoreDir, { recursive: true, force: true });
  }
  if (op === 'verify' || op === 'verify-deep') {
    if (t.code !== 0 || summary.ok !== true)
      throw new Error(
        `backstream ${COMMANDS[op]('', '').join(' ')} on the ${r} repository found problems (exit ${t.code}):\n` +
          `${t.stdout.slice(-4000)}${t.stderr.slice(-2000)}`,
      );
    const n = (k: keyof VerifySummary): number => Number(summary[k]);
    m.verify = {
      records: n('records'),
      recordsPerSecond: n('recordsPerSecond'),
      blocksRead: n('blocksRead'),
      bytesRead: n('bytesRead'),
      mbPerSecond: n('mbPerSecond'),
      seconds: n('seconds'),
    };
  }
  return m;
}

function describe(m: Measurement): string {
  const base = `${num(m.wallMs / 1000)} s, peak RSS ${Math.round(m.rssKiB / 1024)} MiB`;
  if (m.verify)
    return `${base}, ${m.verify.records} records, ${num(m.verify.recordsPerSecond)} records/s, ${num(m.verify.mbPerSecond)} MB/s`;
  return `${base}, ${num(mbPerSecond(m.datasetBytes, m.wallMs))} MB/s${m.store ? `, ${m.store.objects} objects` : ''}`;
}

async function runRound(ctx: RoundContext, dataset: string, record: (m: Measurement) => void): Promise<void> {
  const { round, args } = ctx;
  await rm(ctx.roundDir, { recursive: true, force: true });
  mkdirSync(ctx.roundDir, { recursive: true });
  await run('cp', ['-a', dataset, ctx.data]);
  for (const r of REPOS) {
    const rep = ctx.repos[r];
    const init = lastJson((await run(process.execPath, [cli, 'init', '--json'], { env: rep.env })).stdout, () => true);
    const expected = r === 'encrypted' ? 'created' : 'none';
    if (init.encryption !== expected)
      throw new Error(`backstream init of the ${r} repository: encryption ${String(init.encryption)}, not ${expected}`);
    await Promise.all(
      SERVICES.map(async (name) => {
        rep.services.push(await startService(name, rep.env, join(ctx.roundDir, `${r}-${name}.log`)));
      }),
    );
  }
  const tree = await treeStats(ctx.data);
  const order: Repo[] = round % 2 === 1 ? ['plain', 'encrypted'] : ['encrypted', 'plain'];
  for (const op of OPS) {
    if (op === 'restore') await stopServices(ctx);
    for (const [i, r] of order.entries()) {
      const m = await measure(ctx, op, r, i + 1, tree);
      record(m);
      log(`round ${round}/${args.rounds} ${OP_LABELS[op].replace(/`/g, '')}, ${r}: ${describe(m)}`);
    }
  }
}

/** Stops every service of the round; a service that did not exit cleanly is an error. */
async function stopServices(ctx: RoundContext): Promise<void> {
  await stopServicesCleanly(REPOS.flatMap((r) => ctx.repos[r].services));
}

async function cleanupRound(ctx: RoundContext): Promise<void> {
  await stopServicesAndRemove(
    REPOS.flatMap((r) => ctx.repos[r].services),
    ctx.roundDir,
  );
  if (ctx.args.keep) return;
  for (const r of REPOS) {
    const rep = ctx.repos[r];
    await cleanupStep(`deleting bucket ${rep.bucket}`, () => deleteBucket(ctx.s3, rep.bucket));
    await cleanupStep(`deleting topics ${rep.prefix}*`, () => deleteTopicsAndGroups(ctx.config, rep.prefix));
  }
}

// ---- main --------------------------------------------------------------------------------

function reportTarget(args: Args): ReportTarget {
  return { work: args.work, name: 'encryption', doc: args.doc, section: SECTION, writeDoc: args.writeDoc };
}

async function report(args: Args, meta: Meta, measurements: Measurement[]): Promise<void> {
  await publishReport(reportTarget(args), renderReport(meta, measurements), meta.mib >= 256 && meta.rounds >= 3);
}

async function main(): Promise<void> {
  const args = parseArguments(process.argv.slice(2));
  if (args.from) {
    const records = jsonLines<BenchRecord>(await readFile(args.from, 'utf8'));
    const meta = records.find((r): r is Meta => r.type === 'meta');
    if (!meta) throw new Error(`${args.from} has no meta line`);
    return report(
      args,
      meta,
      records.filter((r): r is Measurement => r.type === 'measurement'),
    );
  }
  requireTimeCommand();
  requireSectionMarkers(reportTarget(args));

  const { config } = loadConfig();
  const s3 = createS3Client(config.s3);
  const stack = localStack();
  mkdirSync(args.work, { recursive: true });
  const dataset = await ensureDataset(args.work, args.mib);
  const tree = await treeStats(dataset);
  const runId = `enc${Date.now().toString(36)}`;
  // One master key for the run, as `backstream key generate` makes it; each repository
  // derives its own keys from it and its repository id. Never printed.
  const masterKey = generateMasterKey();
  const jsonl = join(args.work, 'encryption.jsonl');
  const full = args.mib === 256 && args.rounds === 3;
  const meta: Meta = {
    type: 'meta',
    startedAt: new Date().toISOString(),
    mib: args.mib,
    rounds: args.rounds,
    command: full ? 'make bench-encryption' : `MIB=${args.mib} ROUNDS=${args.rounds} make bench-encryption`,
    machine: machine(args.work),
    versions: versions(),
    settings:
      `backstream: chunks ${config.chunking.minSize / 1024}/${config.chunking.avgSize / 1024}/${config.chunking.maxSize / 1024} KiB ` +
      `(min/avg/max), zstd level ${config.chunkWorker.compressionLevel}, store.concurrency ${config.store.concurrency}, ` +
      `${config.topics.partitions} partitions per topic; per round and repository a fresh bucket and topic prefix and ` +
      'one chunk-worker, verifier and archiver; encrypted: BACKSTREAM_ENCRYPTION_MASTER_KEY (one random key per run) ' +
      'for its services and commands, so blocks, file lists and manifests are sealed with AES-256-GCM (a key and ' +
      'nonce per object), content addresses stored under HMAC names, and chunks cut with a keyed gear table',
    dataset: tree,
  };
  const measurements: Measurement[] = [];
  const save = (): void =>
    writeFileSync(jsonl, [meta, ...measurements].map((r) => JSON.stringify(r)).join('\n') + '\n');
  save();
  log(`run ${runId}: ${args.rounds} rounds of the ${args.mib} MiB dataset (${tree.files} files); results in ${jsonl}`);

  try {
    for (let round = 1; round <= args.rounds; round++) {
      const id = `${runId}-r${round}`;
      const roundDir = join(args.work, 'encryption', `round-${round}`);
      const ctx: RoundContext = {
        args,
        config,
        s3,
        stack,
        round,
        roundDir,
        data: join(roundDir, 'data'),
        repos: { plain: repository(id, 'plain', masterKey), encrypted: repository(id, 'encrypted', masterKey) },
      };
      try {
        await runRound(ctx, dataset, (m) => {
          measurements.push(m);
          save();
        });
      } finally {
        await cleanupRound(ctx);
      }
    }
  } finally {
    s3.destroy();
    save();
    await rmdir(join(args.work, 'encryption')).catch(() => undefined);
  }
  await report(args, meta, measurements);
}

runMain(main);
