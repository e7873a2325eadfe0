/**
 * backstream versus restic on the local stack, same dataset, same S3 server, same run.
 *
 *   node dist/test/bench/versus-restic.js [--mib 1024] [--rounds 3] [--work .bench]
 *        [--doc docs/benchmarks.md] [--write-doc auto|yes|no] [--keep] [--timeout 3600]
 *   node dist/test/bench/versus-restic.js --from .bench/versus-restic.jsonl [--write-doc yes]
 *
 * Needs the BACKSTREAM_* settings of the stack (`eval "$(infra/local/stack.sh env)"`),
 * restic and /usr/bin/time (Debian packages restic and time). Each round: a fresh copy of the
 * cached dataset (test/bench/dataset.ts), a fresh bucket and topic prefix with its own three
 * services for backstream, a fresh bucket and cache for restic; then, the two tools taking
 * turns in each phase (which one goes first alternates by round): first backup, no-change
 * re-backup, re-backup after `dataset --change-percent 1`, full restore of the latest snapshot
 * into an empty directory, checked against the tree with `diff -r`. Wall time per operation,
 * peak RSS per process, CPU time, and objects and bytes in each bucket after each phase go to
 * <work>/versus-restic.jsonl; the markdown report (test/bench/versus-report.ts) to stdout and
 * <work>/versus-restic.md, and with --write-doc into the marked section of the docs file
 * (`auto`: only for a full run, 1 GiB and 3 rounds or more).
 *
 * Everything a round creates (processes, copies, restores, buckets, topics, consumer groups)
 * is removed when it ends, also on failure or Ctrl-C; --keep leaves buckets and topics.
 */
import { parseWriteDoc } from './report-doc';
import { readFileSync, readdirSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { readdir, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { type S3Client } from '@aws-sdk/client-s3';
import { loadConfig, type BackstreamConfig } from '../../libs/config';
import { S3ObjectStore, createS3Client } from '../../libs/store';
import {
  cli,
  cpuMsOf,
  datasetJs,
  deleteBucket,
  deleteTopicsAndGroups,
  ensureDataset,
  lastJson,
  localStack,
  log,
  machine,
  repo,
  requireTimeCommand,
  run,
  runMain,
  sh,
  signalGroup,
  start,
  startService,
  stopService,
  timed,
  treeStats,
  versions,
  writeFormatted,
  type Service,
  type Stack,
  type TimedResult,
} from './harness';
import {
  DOC_BEGIN_PREFIX,
  PHASES,
  PHASE_LABELS,
  SERVICES,
  mbPerSecond,
  num,
  parseRecords,
  renderReport,
  replaceGenerated,
  type Measurement,
  type Phase,
  type RunMeta,
  type Tool,
} from './versus-report';

const RESTIC_PASSWORD = 'backstream-bench';

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
      mib: { type: 'string', default: '1024' },
      rounds: { type: 'string', default: '3' },
      work: { type: 'string' },
      doc: { type: 'string' },
      'write-doc': { type: 'string', default: 'auto' },
      timeout: { type: 'string', default: '3600' },
      from: { type: 'string' },
      keep: { type: 'boolean', default: false },
    },
  });
  const writeDoc = parseWriteDoc(values['write-doc']);
  const args: Args = {
    mib: Number(values.mib),
    rounds: Number(values.rounds),
    work: resolve(values.work ?? process.env.BENCH_DIR ?? join(repo, '.bench')),
    doc: resolve(values.doc ?? join(repo, 'docs', 'benchmarks.md')),
    writeDoc,
    keep: values.keep,
    timeoutS: Number(values.timeout),
  };
  if (values.from !== undefined) args.from = resolve(values.from);
  if (!(args.mib >= 1) || !Number.isInteger(args.rounds) || args.rounds < 1 || !(args.timeoutS > 0))
    throw new Error('--mib, --rounds and --timeout must be positive numbers');
  return args;
}

// ---- /proc -------------------------------------------------------------------------------

function procStatus(pid: number, field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(m[1]);
}

/** Resets the process's VmHWM to its current RSS (Linux ≥ 4.0, same user). */
function resetPeakRss(pid: number): void {
  writeFileSync(`/proc/${pid}/clear_refs`, '5');
}

/** Whether resetting the peak works here: a child that touches 64 MiB, then frees it. */
async function peakResetWorks(): Promise<boolean> {
  const probe = start(
    process.execPath,
    [
      '--expose-gc',
      '-e',
      `let b = Buffer.alloc(64 << 20, 1); b = null; gc(); process.stderr.write('ready\\n'); setTimeout(() => {}, 60000);`,
    ],
    process.env,
  );
  try {
    await new Promise<void>((r, reject) => {
      probe.proc.stderr?.on('data', () => r());
      probe.exit.then(
        () => reject(new Error('probe exited')),
        (err: unknown) => reject(err as Error),
      );
    });
    const pid = probe.proc.pid as number;
    const before = procStatus(pid, 'VmHWM');
    resetPeakRss(pid);
    const after = procStatus(pid, 'VmHWM');
    return after < before - 32 * 1024;
  } catch {
    return false;
  } finally {
    signalGroup(probe.proc, 'SIGKILL');
    await probe.exit.catch(() => undefined);
  }
}

/** Bytes of the log segments of the topics starting with `prefix` (deleted ones excluded). */
function kafkaLogBytes(stack: Stack, prefix: string): number | null {
  if (!stack.kafkaLogDir) return null;
  let bytes = 0;
  for (const dir of readdirSync(stack.kafkaLogDir)) {
    if (!dir.startsWith(prefix) || dir.endsWith('-delete')) continue;
    for (const f of readdirSync(join(stack.kafkaLogDir, dir)))
      if (f.endsWith('.log')) bytes += statSync(join(stack.kafkaLogDir, dir, f)).size;
  }
  return bytes;
}

async function bucketUsage(s3: S3Client, bucket: string): Promise<{ objects: number; bytes: number }> {
  let objects = 0;
  let bytes = 0;
  for await (const o of new S3ObjectStore(s3, bucket).list('')) {
    objects += 1;
    bytes += o.size;
  }
  return { objects, bytes };
}

// ---- dataset -----------------------------------------------------------------------------

// ---- one round ---------------------------------------------------------------------------

interface RoundContext {
  args: Args;
  config: BackstreamConfig;
  s3: S3Client;
  stack: Stack;
  peakReset: boolean;
  round: number;
  roundDir: string;
  data: string;
  bucket: string;
  prefix: string;
  resticBucket: string;
  bsEnv: NodeJS.ProcessEnv;
  resticEnv: NodeJS.ProcessEnv;
  services: Service[];
}

async function checkRestored(expected: string, restored: string, tool: Tool): Promise<void> {
  const r = await run('diff', ['-r', '--no-dereference', expected, restored], { allowFailure: true });
  if (r.code !== 0)
    throw new Error(
      `${tool} restore differs from the dataset (diff -r ${expected} ${restored}, exit ${r.code}):\n` +
        `${(r.stdout + r.stderr).slice(0, 4000)}`,
    );
}

async function measure(
  ctx: RoundContext,
  phase: Phase,
  tool: Tool,
  position: number,
  tree: { bytes: number; files: number },
): Promise<Measurement> {
  const timeFile = join(ctx.roundDir, 'time.txt');
  const timeoutMs = ctx.args.timeoutS * 1000;
  const restoreDir = join(ctx.roundDir, `restore-${tool}`);
  // Dirty pages of the previous step (copy, change, restore) are written back first, so
  // that neither tool pays for the other's writes.
  await run('sync', []);
  const servicePids = Object.fromEntries(ctx.services.map((s) => [s.name, s.proc.pid as number]));
  const cpuPids: Record<string, number | undefined> = {
    ...servicePids,
    kafka: ctx.stack.kafkaPid,
    s3: ctx.stack.s3Pid,
  };
  if (ctx.peakReset && tool === 'backstream') for (const pid of Object.values(servicePids)) resetPeakRss(pid);
  const cpuBefore = Object.fromEntries(Object.entries(cpuPids).map(([k, pid]) => [k, cpuMsOf(pid)]));

  let r: TimedResult;
  let summary: Record<string, unknown> | undefined;
  if (tool === 'backstream') {
    const args =
      phase === 'restore'
        ? [cli, 'restore', 'latest', '--source', 'bench', '--target', restoreDir, '--json']
        : [cli, 'backup', ctx.data, '--source', 'bench', '--json'];
    r = await timed(process.execPath, args, timeFile, { env: ctx.bsEnv, timeoutMs, watch: ctx.services });
    summary = lastJson(r.stdout, (o) => o.type === 'summary');
  } else {
    const args = phase === 'restore' ? ['restore', 'latest', '--target', restoreDir] : ['backup', ctx.data, '--json'];
    r = await timed('restic', args, timeFile, { env: ctx.resticEnv, timeoutMs });
    if (phase !== 'restore') summary = lastJson(r.stdout, (o) => o.message_type === 'summary');
  }

  const cpuMs: Record<string, number> = { [tool === 'backstream' ? 'cli' : 'restic']: r.cpuMs };
  for (const [k, pid] of Object.entries(cpuPids)) {
    const before = cpuBefore[k];
    const after = cpuMsOf(pid);
    if (before !== undefined && after !== undefined) cpuMs[k] = after - before;
  }
  const rssKiB: Record<string, number> = { [tool === 'backstream' ? 'cli' : 'restic']: r.maxRssKiB };
  if (tool === 'backstream' && phase !== 'restore')
    for (const [name, pid] of Object.entries(servicePids)) rssKiB[name] = procStatus(pid, 'VmHWM');

  if (phase === 'restore') {
    // restic restores under the absolute path of what it backed up.
    await checkRestored(ctx.data, tool === 'restic' ? join(restoreDir, ctx.data) : restoreDir, tool);
    await rm(restoreDir, { recursive: true, force: true });
  }
  const m: Measurement = {
    type: 'measurement',
    round: ctx.round,
    phase,
    tool,
    position,
    datasetBytes: tree.bytes,
    datasetFiles: tree.files,
    wallMs: Math.round(r.wallMs),
    rssKiB,
    cpuMs: Object.fromEntries(Object.entries(cpuMs).map(([k, v]) => [k, Math.round(v)])),
    store: await bucketUsage(ctx.s3, tool === 'backstream' ? ctx.bucket : ctx.resticBucket),
  };
  if (tool === 'backstream' && phase !== 'restore' && summary) {
    const produced = Object.values((summary.producedBytes ?? {}) as Record<string, number>).reduce((a, b) => a + b, 0);
    m.kafka = {
      producedBytes: produced,
      sentBytes: Number(summary.sentBytes ?? 0),
      logBytes: kafkaLogBytes(ctx.stack, ctx.prefix),
    };
  }
  if (summary) m.summary = summary;
  return m;
}

async function runRound(
  ctx: RoundContext,
  dataset: string,
  record: (m: Measurement) => void,
  onResticConfig: (config: Record<string, unknown>) => void,
): Promise<void> {
  const { round, args } = ctx;
  await rm(ctx.roundDir, { recursive: true, force: true });
  mkdirSync(ctx.roundDir, { recursive: true });
  await run('cp', ['-a', dataset, ctx.data]);
  await run(process.execPath, [cli, 'init', '--json'], { env: ctx.bsEnv });
  ctx.services.push(
    ...(await Promise.all(SERVICES.map((name) => startService(name, ctx.bsEnv, join(ctx.roundDir, `${name}.log`))))),
  );
  await run('restic', ['init'], { env: ctx.resticEnv });
  onResticConfig(
    JSON.parse((await run('restic', ['cat', 'config'], { env: ctx.resticEnv })).stdout) as Record<string, unknown>,
  );

  const order: Tool[] = round % 2 === 1 ? ['backstream', 'restic'] : ['restic', 'backstream'];
  for (const phase of PHASES) {
    if (phase === 'change1')
      await run(process.execPath, [datasetJs, '--out', ctx.data, '--mib', String(args.mib), '--change-percent', '1']);
    const tree = await treeStats(ctx.data);
    for (const [i, tool] of order.entries()) {
      const m = await measure(ctx, phase, tool, i + 1, tree);
      record(m);
      log(
        `round ${round}/${args.rounds} ${PHASE_LABELS[phase]}, ${tool}: ${num(m.wallMs / 1000)} s, ` +
          `${num(mbPerSecond(m.datasetBytes, m.wallMs))} MB/s, peak RSS ${Math.round((m.rssKiB.cli ?? m.rssKiB.restic ?? 0) / 1024)} MiB, ` +
          `${m.store.objects} objects`,
      );
    }
  }
}

async function cleanupRound(ctx: RoundContext): Promise<void> {
  const step = async (what: string, f: () => Promise<unknown>): Promise<void> => {
    try {
      await f();
    } catch (err) {
      log(`cleanup: ${what} failed: ${(err as Error).message}`);
    }
  };
  await Promise.all(ctx.services.map((s) => stopService(s)));
  for (const s of ctx.services)
    if (s.proc.exitCode !== 0 && s.proc.exitCode !== null)
      log(`${s.name} exited with ${s.proc.exitCode}, log kept: ${s.logPath}`);
  const keepLogs = ctx.services.some((s) => s.proc.exitCode !== 0);
  await step('removing the round folder', async () => {
    if (!keepLogs) return rm(ctx.roundDir, { recursive: true, force: true });
    for (const e of await readdir(ctx.roundDir))
      if (!e.endsWith('.log')) await rm(join(ctx.roundDir, e), { recursive: true, force: true });
  });
  if (ctx.args.keep) return;
  await step(`deleting bucket ${ctx.bucket}`, () => deleteBucket(ctx.s3, ctx.bucket));
  await step(`deleting bucket ${ctx.resticBucket}`, () => deleteBucket(ctx.s3, ctx.resticBucket));
  await step(`deleting topics ${ctx.prefix}*`, () => deleteTopicsAndGroups(ctx.config, ctx.prefix));
}

// ---- report ------------------------------------------------------------------------------

async function writeDoc(docPath: string, generated: string): Promise<void> {
  await writeFormatted(docPath, replaceGenerated(await readFile(docPath, 'utf8'), generated));
}

function wantDoc(args: Args, meta: RunMeta): boolean {
  if (args.writeDoc !== 'auto') return args.writeDoc === 'yes';
  const full = meta.mib >= 1024 && meta.rounds >= 3;
  if (!full) log(`${args.doc} left as is: not a full run (DOC=1 / --write-doc yes writes it anyway)`);
  return full;
}

async function report(args: Args, meta: RunMeta, measurements: Measurement[]): Promise<void> {
  const md = renderReport(meta, measurements);
  mkdirSync(args.work, { recursive: true });
  await writeFile(join(args.work, 'versus-restic.md'), md);
  process.stdout.write(md);
  if (wantDoc(args, meta)) await writeDoc(args.doc, md);
}

// ---- main --------------------------------------------------------------------------------

async function main(): Promise<void> {
  const args = parseArguments(process.argv.slice(2));
  if (args.from) {
    const { meta, measurements } = parseRecords(await readFile(args.from, 'utf8'));
    if (!meta) throw new Error(`${args.from} has no meta line`);
    return report(args, meta, measurements);
  }
  requireTimeCommand();
  if (!sh('restic', ['version'])) throw new Error('restic is missing: install the Debian package restic');
  if (args.writeDoc !== 'no' && !readFileSync(args.doc, 'utf8').includes(DOC_BEGIN_PREFIX))
    throw new Error(`${args.doc} lacks the generated-section markers`);

  const { config } = loadConfig();
  const s3 = createS3Client(config.s3);
  const stack = localStack();
  const peakReset = await peakResetWorks();
  if (!peakReset) log('cannot reset VmHWM through /proc/<pid>/clear_refs: service peaks are per round');
  mkdirSync(args.work, { recursive: true });
  const dataset = await ensureDataset(args.work, args.mib);
  const tree = await treeStats(dataset);
  const runId = `vr${Date.now().toString(36)}`;
  const jsonl = join(args.work, 'versus-restic.jsonl');
  const full = args.mib === 1024 && args.rounds === 3;
  const meta: RunMeta = {
    type: 'meta',
    startedAt: new Date().toISOString(),
    mib: args.mib,
    rounds: args.rounds,
    command: full ? 'make bench-pipeline' : `MIB=${args.mib} ROUNDS=${args.rounds} make bench-pipeline`,
    machine: machine(args.work),
    versions: versions({ restic: /restic (\S+)/.exec(sh('restic', ['version']))?.[1] ?? '?' }),
    settings: {
      backstream:
        `chunks ${config.chunking.minSize / 1024}/${config.chunking.avgSize / 1024}/${config.chunking.maxSize / 1024} KiB ` +
        `(min/avg/max), zstd level ${config.chunkWorker.compressionLevel}, store.concurrency ${config.store.concurrency}, ` +
        `${config.topics.partitions} partitions per topic; one chunk-worker, one verifier, one archiver; ` +
        'a fresh bucket and topic prefix per round' +
        (peakReset ? '' : '; service RSS peaks are per round (VmHWM could not be reset)'),
      restic: 'repository version ? (`restic cat config`)',
    },
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
      const roundDir = join(args.work, 'versus', `round-${round}`);
      const ctx: RoundContext = {
        args,
        config,
        s3,
        stack,
        peakReset,
        round,
        roundDir,
        data: join(roundDir, 'data'),
        bucket: id,
        prefix: `${id}.`,
        resticBucket: `${id}-restic`,
        bsEnv: {
          ...process.env,
          AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
          BACKSTREAM_LOG_LEVEL: 'warn',
          BACKSTREAM_S3_BUCKET: id,
          BACKSTREAM_KAFKA_TOPIC_PREFIX: `${id}.`,
        },
        resticEnv: {
          ...process.env,
          AWS_ACCESS_KEY_ID: config.s3.accessKeyId,
          AWS_SECRET_ACCESS_KEY: config.s3.secretAccessKey,
          RESTIC_REPOSITORY: `s3:${config.s3.endpoint.replace(/\/+$/, '')}/${id}-restic`,
          RESTIC_PASSWORD,
          RESTIC_CACHE_DIR: join(roundDir, 'restic-cache'),
        },
        services: [],
      };
      try {
        await runRound(
          ctx,
          dataset,
          (m) => {
            measurements.push(m);
            save();
          },
          (c) => {
            meta.settings.restic =
              `repository version ${String(c.version)} (\`restic cat config\`), so compression "auto" (zstd, ` +
              'the 0.14 default), default pack size; local cache in the round folder, new each round; a fresh bucket per round';
          },
        );
      } finally {
        await cleanupRound(ctx);
      }
    }
  } finally {
    s3.destroy();
    save();
    await rmdir(join(args.work, 'versus')).catch(() => undefined);
  }
  await report(args, meta, measurements);
}

runMain(main);
