/**
 * Two questions about the backup pipeline on the local stack, answered side by side in one run:
 *
 * 1. **Scaling**: backup MB/s against the number of chunk-worker and verifier processes
 *    (always one archiver), for the configurations of --configs (chunk-workers x verifiers,
 *    default 1x1,2x1,1x2,2x2,3x3), with the default telemetry (Prometheus metrics, no export).
 * 2. **Telemetry**: 1x1 in three modes: `off` (BACKSTREAM_TELEMETRY_PROMETHEUS=false and no
 *    OTLP endpoint: the OpenTelemetry SDK is not started), `metrics` (the default: metrics
 *    recorded and served on /metrics, nothing exported) and `export` (as `metrics`, plus
 *    BACKSTREAM_TELEMETRY_OTLP_ENDPOINT pointing at an OTLP/HTTP sink in this process, for
 *    every service and the backup command, with BACKSTREAM_TELEMETRY_TRACE_SAMPLE_RATIO=1).
 *
 *   node dist/test/bench/scaling.js [--mib 128] [--rounds 3] [--configs 1x1,2x1,1x2,2x2,3x3]
 *        [--only scaling|telemetry] [--work .bench] [--doc docs/benchmarks.md]
 *        [--write-doc auto|yes|no] [--keep] [--timeout 1800]
 *   node dist/test/bench/scaling.js --from .bench/scaling.jsonl [--write-doc yes]
 *
 * Needs the BACKSTREAM_* settings of the stack (`eval "$(infra/local/stack.sh env)"`) and
 * /usr/bin/time (Debian package time). Every measurement is the *first* backup
 * (`backstream backup DIR --json`, timed from start until it exits, i.e. until its snapshot
 * is committed) of the cached dataset (test/bench/dataset.ts, read once per round beforehand
 * so that it is in the page cache for every measurement) into a fresh repository: its own
 * bucket and topic prefix (`backstream init`, topics with `topics.partitions` partitions),
 * its own services, started and waited for until every one is ready and its consumer group
 * settled (no partition held twice), and a `sync` before the backup. So every chunk goes
 * through the chunk-workers and verifiers. Within a round the configurations take turns, the
 * order rotated by one from round to round (and the two questions' blocks swapped).
 *
 * Per measurement: wall time, peak RSS and CPU time of the backup command (/usr/bin/time),
 * the CPU time of each service process, Kafka and the S3 server meanwhile (/proc) and of this
 * process (the OTLP sink's work in `export`), the 1-minute load average before it, and in
 * `export` what the sink received (requests, bytes, spans by service) from the start of the
 * services until they stopped. Once per run the chunk-worker's /metrics is scraped in
 * `metrics` mode. Results go to <work>/scaling.jsonl, the markdown report to stdout and
 * <work>/scaling.md, and with --write-doc into the marked section of the docs file (`auto`:
 * only for a full run: 128 MiB or more, 3 rounds or more, both questions).
 *
 * Everything a measurement creates (processes, buckets, topics, consumer groups) is removed
 * when it ends, also on failure or Ctrl-C; --keep leaves buckets and topics.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { readFile, rmdir } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { type S3Client } from '@aws-sdk/client-s3';
import { loadConfig, type BackstreamConfig } from '../../libs/config';
import { createS3Client } from '../../libs/store';
import {
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
  machineCpuMs,
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
const ROLES = ['chunk-worker', 'verifier', 'archiver'] as const;
type Role = (typeof ROLES)[number];

export const PARTS = ['scaling', 'telemetry'] as const;
export type Part = (typeof PARTS)[number];

export const MODES = ['off', 'metrics', 'export'] as const;
export type Mode = (typeof MODES)[number];

const DEFAULT_CONFIGS = '1x1,2x1,1x2,2x2,3x3';
const DEFAULT_MIB = 128;
const DEFAULT_ROUNDS = 3;

const MODE_LABELS: Record<Mode, string> = {
  off: '`off`: SDK not started',
  metrics: '`metrics`: Prometheus (default)',
  export: '`export`: + OTLP traces and metrics',
};

// ---- records -------------------------------------------------------------------------------

/** One set-up measured: chunk-workers x verifiers (one archiver) and a telemetry mode. */
export interface Setup {
  part: Part;
  /** `2x1` (scaling) or the mode (telemetry). */
  label: string;
  chunkWorkers: number;
  verifiers: number;
  mode: Mode;
}

/** What the OTLP sink received while one measurement's processes ran. */
export interface OtlpCounts {
  traceRequests: number;
  metricRequests: number;
  /** Request bodies as sent (compressed if they were). */
  bytes: number;
  spans: number;
  spansByService: Record<string, number>;
  /** Requests whose spans could not be counted (not JSON, bad JSON). */
  unreadable: number;
}

/** One backup: one set-up, one round. */
export interface Measurement extends Setup {
  type: 'measurement';
  round: number;
  /** 1 when this set-up went first in its question's block of this round, and so on. */
  position: number;
  datasetBytes: number;
  datasetFiles: number;
  /** From the backup's summary line. */
  chunksSent: number;
  chunksFound: number;
  /** From the services' start until all were ready with settled consumer groups. */
  readyMs: number;
  /** 1-minute load average just before the backup started. */
  load1: number;
  /** From spawn to exit of the backup command. */
  wallMs: number;
  rssKiB: number;
  /**
   * CPU ms (user + system) during the backup: `cli` (the backup command), each service
   * process (`chunk-worker-1`, …), `kafka`, `s3`, and `bench` (this process: the OTLP sink).
   */
  cpuMs: Record<string, number>;
  /**
   * CPU ms of the whole machine during the backup (/proc/stat): busy, all processes (the
   * ones in cpuMs and any others), and steal (taken by the hypervisor).
   */
  machineBusyMs: number;
  stealMs: number;
  otlp?: OtlpCounts;
}

/** The chunk-worker's /metrics, scraped once in `metrics` mode after its backup. */
export interface Scrape {
  type: 'scrape';
  round: number;
  service: string;
  status: number;
  bytes: number;
  /** Sample lines and `# TYPE` lines. */
  samples: number;
  families: number;
  /** Sums over label sets of the backstream_* samples (histogram buckets left out). */
  values: Record<string, number>;
}

export interface Meta {
  type: 'meta';
  startedAt: string;
  finishedAt?: string;
  mib: number;
  rounds: number;
  configs: string[];
  parts: Part[];
  command: string;
  machine: Machine;
  versions: Record<string, string>;
  settings: string;
  dataset: { bytes: number; files: number };
  /** os.loadavg() at the start and at the end of the run. */
  loadStart: number[];
  loadEnd?: number[];
}

type BenchRecord = Meta | Measurement | Scrape;

// ---- report ------------------------------------------------------------------------------

const SECTION = generatedSection('bench-scaling', 'test/bench/scaling.ts');

const mbps = (m: Measurement): number => mbPerSecond(m.datasetBytes, m.wallMs);
const wallS = (m: Measurement): number => m.wallMs / 1000;

/** CPU ms of one role's processes (all instances), or of one key like `cli`. */
function cpuOf(m: Measurement, key: Role | 'cli' | 'kafka' | 's3' | 'bench'): number {
  if (!(ROLES as readonly string[]).includes(key)) return m.cpuMs[key] ?? NaN;
  const xs = Object.entries(m.cpuMs).filter(([k]) => k.startsWith(`${key}-`));
  return xs.length > 0 ? xs.reduce((a, [, v]) => a + v, 0) : NaN;
}

const servicesCpu = (m: Measurement): number => ROLES.reduce((a, r) => a + cpuOf(m, r), 0);
/** Services, backup command, Kafka and S3 server: the pipeline's CPU (not the bench's own). */
const totalCpu = (m: Measurement): number => servicesCpu(m) + cpuOf(m, 'cli') + cpuOf(m, 'kafka') + cpuOf(m, 's3');

/** Median over rounds of this set-up's `f` divided by the baseline's in the same round. */
function pairedRatio(
  ms: Measurement[],
  part: Part,
  label: string,
  base: string,
  f: (m: Measurement) => number,
): number {
  const ratios: number[] = [];
  for (const round of new Set(ms.map((m) => m.round))) {
    const x = ms.find((m) => m.round === round && m.part === part && m.label === label);
    const b = ms.find((m) => m.round === round && m.part === part && m.label === base);
    if (x && b && f(b) > 0) ratios.push(f(x) / f(b));
  }
  return median(ratios);
}

function labelsOf(ms: Measurement[], part: Part, order: readonly string[]): string[] {
  const seen = new Set(ms.filter((m) => m.part === part).map((m) => m.label));
  return [...order.filter((l) => seen.has(l)), ...[...seen].filter((l) => !order.includes(l))];
}

const cpuS = (xs: Measurement[], f: (m: Measurement) => number): string => num(stat(xs, f).mid / 1000);
/** CPU ms the rest of the machine used during the backup: busy minus every process measured. */
const otherCpu = (m: Measurement): number => m.machineBusyMs - Object.values(m.cpuMs).reduce((a, b) => a + b, 0);

/** The noise the backups of one question ran in: load, other processes' CPU, steal. */
function noise(xs: Measurement[]): string {
  const load = stat(xs, (m) => m.load1);
  const other = stat(xs, (m) => otherCpu(m) / 1000);
  const steal = stat(xs, (m) => m.stealMs / 1000);
  return (
    '"other processes" is the CPU time of everything else on the machine during the backup (its busy ' +
    `time in /proc/stat minus the processes measured): ${num(other.mid)} s per backup (median; ` +
    `${num(other.lo)}–${num(other.hi)}); Kafka's and the S3 server's CPU time includes any other users of ` +
    `the stack. The hypervisor took ${num(steal.mid)} s (${num(steal.lo)}–${num(steal.hi)}) as steal; the ` +
    `1-minute load average before the backups was ${num(load.lo)}–${num(load.hi)} (median ${num(load.mid)}).`
  );
}

function renderScaling(meta: Meta, ms: Measurement[], out: string[]): void {
  const part = ms.filter((m) => m.part === 'scaling');
  if (part.length === 0) return;
  const labels = labelsOf(part, 'scaling', meta.configs);
  const base = labels.includes('1x1') ? '1x1' : labels[0];
  out.push('**Backup throughput against chunk-worker and verifier processes** (one archiver; default telemetry)', '');
  const rows = labels.map((label) => {
    const xs = part.filter((m) => m.label === label);
    const [cw, v] = label.split('x');
    // Per chunk-worker instance, median over rounds: how evenly they share the work.
    const each = Array.from({ length: xs[0]?.chunkWorkers ?? 0 }, (_, i) =>
      num(stat(xs, (m) => m.cpuMs[`chunk-worker-${i + 1}`] ?? NaN).mid / 1000),
    );
    return [
      `${cw} × ${v}`,
      ranged(stat(xs, mbps)),
      base === undefined ? '—' : num(pairedRatio(part, 'scaling', label, base, mbps)),
      num(stat(xs, wallS).mid),
      `${cpuS(xs, (m) => cpuOf(m, 'chunk-worker'))}${each.length > 1 ? ` (${each.join(' + ')})` : ''}`,
      cpuS(xs, (m) => cpuOf(m, 'verifier')),
      cpuS(xs, (m) => cpuOf(m, 'archiver')),
      cpuS(xs, (m) => cpuOf(m, 'cli')),
      cpuS(xs, (m) => cpuOf(m, 'kafka')),
      cpuS(xs, (m) => cpuOf(m, 's3')),
      cpuS(xs, totalCpu),
      num(stat(xs, (m) => totalCpu(m) / m.wallMs).mid),
      cpuS(xs, otherCpu),
    ];
  });
  out.push(
    markdownTable(
      [
        'chunk-workers × verifiers',
        'MB/s',
        `speed-up vs ${base?.replace('x', ' × ') ?? '—'}`,
        'wall s',
        'CPU s: chunk-workers',
        'verifiers',
        'archiver',
        'backup command',
        'Kafka',
        'S3 server',
        'total',
        'cores busy',
        'other processes',
      ],
      rows,
      ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    ),
    '',
    `Speed-up is the median of the per-round ratios to ${base?.replace('x', ' × ') ?? '—'} in the same round. ` +
      'CPU seconds are user + system during the backup, medians over rounds; chunk-workers in brackets: each ' +
      'process. "cores busy" is total CPU seconds per second of wall time (the machine has ' +
      `${meta.machine.cpus}). ${noise(part)}`,
    '',
  );
}

function renderTelemetry(ms: Measurement[], scrape: Scrape | undefined, out: string[]): void {
  const part = ms.filter((m) => m.part === 'telemetry');
  if (part.length === 0) return;
  const labels = labelsOf(part, 'telemetry', MODES);
  out.push('**Telemetry overhead** (1 chunk-worker, 1 verifier, 1 archiver)', '');
  const rows = labels.map((label) => {
    const xs = part.filter((m) => m.label === label);
    return [
      MODE_LABELS[label as Mode] ?? label,
      ranged(stat(xs, mbps)),
      labels.includes('off') ? num(pairedRatio(part, 'telemetry', label, 'off', mbps)) : '—',
      num(stat(xs, wallS).mid),
      cpuS(xs, servicesCpu),
      cpuS(xs, (m) => cpuOf(m, 'cli')),
      cpuS(xs, (m) => servicesCpu(m) + cpuOf(m, 'cli')),
      labels.includes('off')
        ? num(pairedRatio(part, 'telemetry', label, 'off', (m) => servicesCpu(m) + cpuOf(m, 'cli')))
        : '—',
      cpuS(xs, (m) => cpuOf(m, 'kafka') + cpuOf(m, 's3')),
      cpuS(xs, (m) => cpuOf(m, 'bench')),
      cpuS(xs, otherCpu),
    ];
  });
  out.push(
    markdownTable(
      [
        'telemetry',
        'MB/s',
        '/ off',
        'wall s',
        'CPU s: services',
        'backup command',
        'services + backup',
        '/ off',
        'Kafka + S3',
        'OTLP sink',
        'other processes',
      ],
      rows,
      ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    ),
    '',
    '"/ off" is the median of the per-round ratios to `off` in the same round: MB/s below 1 and CPU above 1 are ' +
      'what telemetry costs. "OTLP sink" is this benchmark process, which receives the export (a collector ' +
      `would do that elsewhere). ${noise(part)}`,
    '',
  );
  const exported = part.filter((m) => m.otlp);
  if (exported.length > 0) {
    const o = (f: (c: OtlpCounts) => number): number => stat(exported, (m) => (m.otlp ? f(m.otlp) : NaN)).mid;
    const services = [...new Set(exported.flatMap((m) => Object.keys(m.otlp?.spansByService ?? {})))].sort();
    const byService = services.map((s) => `${s} ${int(o((c) => c.spansByService[s] ?? 0))}`).join(', ');
    const unreadable = o((c) => c.unreadable);
    out.push(
      `In \`export\` the sink received per backup (median, from the services' start until they stopped): ` +
        `${int(o((c) => c.spans))} spans (${byService}) in ${int(o((c) => c.traceRequests))} trace requests, ` +
        `${int(o((c) => c.metricRequests))} metric requests, ${num(o((c) => c.bytes) / 1e6)} MB of request bodies` +
        `${unreadable > 0 ? `; ${int(unreadable)} requests it could not read` : ''}; ` +
        `${int(stat(exported, (m) => m.chunksSent).mid)} chunks sent.`,
      '',
    );
  }
  if (scrape) {
    const values = Object.entries(scrape.values)
      .filter(([k]) => /_(total|count)$/.test(k))
      .map(([k, v]) => `\`${k}\` ${int(v)}`)
      .join(', ');
    out.push(
      `\`/metrics\` of ${scrape.service} in \`metrics\` mode after its backup (round ${scrape.round}): HTTP ` +
        `${scrape.status}, ${int(scrape.bytes)} bytes, ${int(scrape.families)} metric families, ` +
        `${int(scrape.samples)} samples${values ? `; ${values}` : ''}.`,
      '',
    );
  }
}

export function renderReport(meta: Meta, ms: Measurement[], scrape?: Scrape): string {
  const rounds = new Set(ms.map((m) => m.round)).size;
  const out: string[] = [];
  const duration =
    meta.finishedAt !== undefined
      ? `, ${Math.round((Date.parse(meta.finishedAt) - Date.parse(meta.startedAt)) / 60000)} minutes`
      : '';
  out.push(
    `Run of ${meta.startedAt.slice(0, 10)}${duration}: ${meta.mib} MiB dataset (${int(meta.dataset.bytes)} bytes in ` +
      `${int(meta.dataset.files)} files), ${rounds} round${rounds === 1 ? '' : 's'}, ${ms.length} backups, medians over ` +
      'rounds (range in brackets). MB/s is bytes of the tree (10^6) per second of wall time of ' +
      '`backstream backup --json` from process start to exit (it exits once its snapshot is committed), each the ' +
      'first backup into a fresh repository, so every chunk is compressed, stored and verified.',
    '',
  );
  renderScaling(meta, ms, out);
  renderTelemetry(ms, scrape, out);

  const m = meta.machine;
  const load = (l: number[] | undefined): string => (l ? l.map((x) => x.toFixed(2)).join(' / ') : '?');
  out.push(
    ...machineLines(m, meta.versions),
    '- Kafka, the S3 server, the services, the backup command and the OTLP sink all on this one machine, over ' +
      `127.0.0.1; load average (1/5/15 min) ${load(meta.loadStart)} at the start, ${load(meta.loadEnd)} at the end ` +
      '(other work on the machine included)',
    `- ${meta.settings}`,
    '',
    `Reproduce: \`${meta.command}\` (results in \`.bench/scaling.jsonl\` and \`.bench/scaling.md\`).`,
  );
  return out.join('\n') + '\n';
}

// ---- arguments -----------------------------------------------------------------------

interface Args {
  mib: number;
  rounds: number;
  setups: Setup[];
  configs: string[];
  parts: Part[];
  work: string;
  doc: string;
  writeDoc: 'auto' | 'yes' | 'no';
  keep: boolean;
  timeoutS: number;
  from?: string;
}

export function parseConfigs(list: string): Array<{ chunkWorkers: number; verifiers: number; label: string }> {
  const configs = list.split(',').map((c) => {
    const m = /^\s*(\d+)\s*[x×]\s*(\d+)\s*$/.exec(c);
    const cw = Number(m?.[1]);
    const v = Number(m?.[2]);
    if (!m || !(cw >= 1) || !(v >= 1))
      throw new Error(`--configs: "${c}" is not CHUNKWORKERSxVERIFIERS with both at least 1 (e.g. 2x1)`);
    return { chunkWorkers: cw, verifiers: v, label: `${cw}x${v}` };
  });
  if (new Set(configs.map((c) => c.label)).size !== configs.length) throw new Error(`--configs repeats one: ${list}`);
  return configs;
}

function parseArguments(argv: string[]): Args {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      mib: { type: 'string', default: String(DEFAULT_MIB) },
      rounds: { type: 'string', default: String(DEFAULT_ROUNDS) },
      configs: { type: 'string', default: DEFAULT_CONFIGS },
      only: { type: 'string' },
      work: { type: 'string' },
      doc: { type: 'string' },
      'write-doc': { type: 'string', default: 'auto' },
      timeout: { type: 'string', default: '1800' },
      from: { type: 'string' },
      keep: { type: 'boolean', default: false },
    },
  });
  const only = values.only;
  if (only !== undefined && !(PARTS as readonly string[]).includes(only))
    throw new Error(`--only must be one of ${PARTS.join(', ')}, not ${only}`);
  const parts: Part[] = only !== undefined ? [only as Part] : [...PARTS];
  const configs = parseConfigs(values.configs);
  const setups: Setup[] = [];
  if (parts.includes('scaling')) for (const c of configs) setups.push({ part: 'scaling', mode: 'metrics', ...c });
  if (parts.includes('telemetry'))
    for (const mode of MODES) setups.push({ part: 'telemetry', label: mode, chunkWorkers: 1, verifiers: 1, mode });
  const args: Args = {
    mib: Number(values.mib),
    rounds: Number(values.rounds),
    setups,
    configs: configs.map((c) => c.label),
    parts,
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

function reproduceCommand(args: Args): string {
  const vars: string[] = [];
  if (args.mib !== DEFAULT_MIB) vars.push(`MIB=${args.mib}`);
  if (args.rounds !== DEFAULT_ROUNDS) vars.push(`ROUNDS=${args.rounds}`);
  if (args.configs.join(',') !== DEFAULT_CONFIGS) vars.push(`CONFIGS=${args.configs.join(',')}`);
  if (args.parts.length === 1) vars.push(`ARGS="--only ${args.parts[0] as string}"`);
  return [...vars, 'make bench-scaling'].join(' ');
}

// ---- the OTLP sink -----------------------------------------------------------------------

interface OtlpSink {
  /** http://127.0.0.1:<port>, for BACKSTREAM_TELEMETRY_OTLP_ENDPOINT. */
  endpoint: string;
  /** What was received since the last take(), and starts counting afresh. */
  take(): OtlpCounts;
  close(): Promise<void>;
}

function emptyCounts(): OtlpCounts {
  return { traceRequests: 0, metricRequests: 0, bytes: 0, spans: 0, spansByService: {}, unreadable: 0 };
}

interface OtlpResourceSpans {
  resource?: { attributes?: Array<{ key: string; value?: { stringValue?: string } }> };
  scopeSpans?: Array<{ spans?: unknown[] }>;
}

function countSpans(body: Buffer, counts: OtlpCounts): void {
  const parsed = JSON.parse(body.toString('utf8')) as { resourceSpans?: OtlpResourceSpans[] };
  for (const rs of parsed.resourceSpans ?? []) {
    const service = rs.resource?.attributes?.find((a) => a.key === 'service.name')?.value?.stringValue ?? '?';
    const n = (rs.scopeSpans ?? []).reduce((a, ss) => a + (ss.spans?.length ?? 0), 0);
    counts.spans += n;
    counts.spansByService[service] = (counts.spansByService[service] ?? 0) + n;
  }
}

/**
 * An OTLP/HTTP receiver that only counts: POST /v1/traces and /v1/metrics are answered 200
 * (`{}` to JSON, an empty body to protobuf), after counting requests and bytes, and the spans
 * of JSON trace requests (gzip bodies are inflated first).
 */
async function startOtlpSink(): Promise<OtlpSink> {
  let counts = emptyCounts();
  const handle = (req: IncomingMessage, body: Buffer): number => {
    const path = (req.url ?? '').split('?')[0];
    if (req.method !== 'POST' || (path !== '/v1/traces' && path !== '/v1/metrics')) return 404;
    counts.bytes += body.length;
    if (path === '/v1/metrics') {
      counts.metricRequests += 1;
      return 200;
    }
    counts.traceRequests += 1;
    try {
      const raw = /gzip/i.test(req.headers['content-encoding'] ?? '') ? gunzipSync(body) : body;
      if (!/json/i.test(req.headers['content-type'] ?? '')) counts.unreadable += 1;
      else countSpans(raw, counts);
    } catch {
      counts.unreadable += 1;
    }
    return 200;
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => {
      const status = handle(req, Buffer.concat(chunks));
      const json = /json/i.test(req.headers['content-type'] ?? '');
      res.writeHead(status, { 'content-type': json ? 'application/json' : 'application/x-protobuf' });
      res.end(status === 200 && json ? '{}' : undefined);
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', ok);
  });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    take: () => {
      const taken = counts;
      counts = emptyCounts();
      return taken;
    },
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}

// ---- services ------------------------------------------------------------------------------

async function getText(url: string): Promise<{ status: number; text: string }> {
  const r = await fetch(url, { signal: AbortSignal.timeout(5000) });
  return { status: r.status, text: await r.text() };
}

interface ReadyReport {
  ready: boolean;
  checks: Record<string, { ok: boolean; detail: string }>;
}

/** Why the services are not ready with settled consumer groups yet, or undefined when they are. */
async function notSettled(all: Service[]): Promise<string | undefined> {
  const held = new Map<string, string>();
  for (const s of all) {
    if (s.health === undefined) return `${s.name}: no "health server listening" line in its log`;
    let report: ReadyReport;
    try {
      report = JSON.parse((await getText(`http://127.0.0.1:${s.health.port}/readyz`)).text) as ReadyReport;
    } catch (err) {
      return `${s.name}: /readyz: ${(err as Error).message}`;
    }
    if (!report.ready)
      return `${s.name}: ${Object.entries(report.checks)
        .filter(([, c]) => !c.ok)
        .map(([k, c]) => `${k} ${c.detail}`)
        .join('; ')}`;
    // "member of GROUP, N partition(s) assigned: topic[0,1] topic2[2]"
    for (const c of Object.values(report.checks)) {
      const m = /^member of (\S+), \d+ partition\(s\) assigned(?:: (.*))?$/.exec(c.detail);
      if (!m) continue;
      for (const [, topic, list] of (m[2] ?? '').matchAll(/(\S+)\[([\d,]*)\]/g))
        for (const p of (list ?? '').split(',').filter(Boolean)) {
          const key = `${m[1]} ${topic} ${p}`;
          const other = held.get(key);
          if (other !== undefined) return `${topic}[${p}] held by both ${other} and ${s.name} (group ${m[1]})`;
          held.set(key, s.name);
        }
    }
  }
  return undefined;
}

/** Waits until every service is ready and no partition is held twice in a group, twice in a row. */
async function waitSettled(all: Service[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let settledOnce = false;
  for (;;) {
    const why = await notSettled(all);
    if (why === undefined && settledOnce) return;
    settledOnce = why === undefined;
    if (Date.now() > deadline) throw new Error(`services not settled within ${timeoutMs / 1000} s: ${why ?? '?'}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function scrapeMetrics(s: Service, round: number): Promise<Scrape> {
  if (s.health === undefined) throw new Error(`${s.name}: health port unknown`);
  const r = await getText(`http://127.0.0.1:${s.health.port}/metrics`);
  const lines = r.text.split('\n');
  const values: Record<string, number> = {};
  for (const line of lines) {
    const m = /^(backstream_[a-zA-Z0-9_]+?)(?:\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m || (m[1] as string).endsWith('_bucket')) continue;
    values[m[1] as string] = (values[m[1] as string] ?? 0) + Number(m[2]);
  }
  return {
    type: 'scrape',
    round,
    service: s.name,
    status: r.status,
    bytes: Buffer.byteLength(r.text),
    samples: lines.filter((l) => l.trim() !== '' && !l.startsWith('#')).length,
    families: lines.filter((l) => l.startsWith('# TYPE ')).length,
    values,
  };
}

// ---- one measurement ---------------------------------------------------------------------

interface RunContext {
  args: Args;
  config: BackstreamConfig;
  s3: S3Client;
  stack: Stack;
  runId: string;
  dataset: string;
  tree: { bytes: number; files: number };
  sink: OtlpSink | undefined;
  /** Set once the chunk-worker's /metrics has been scraped. */
  scrape?: Scrape;
}

/** The environment of a fresh repository's services and commands in one telemetry mode. */
function environment(bucket: string, mode: Mode, sink: OtlpSink | undefined): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    BACKSTREAM_LOG_LEVEL: 'warn',
    BACKSTREAM_S3_BUCKET: bucket,
    BACKSTREAM_KAFKA_TOPIC_PREFIX: `${bucket}.`,
    // Several services on one host: each takes a free port and logs it.
    BACKSTREAM_HEALTH_PORT: '0',
  };
  for (const k of Object.keys(env))
    if (k.startsWith('BACKSTREAM_TELEMETRY_') || k.startsWith('BACKSTREAM_ENCRYPTION_MASTER_KEY')) delete env[k];
  env.BACKSTREAM_TELEMETRY_PROMETHEUS = mode === 'off' ? 'false' : 'true';
  if (mode === 'export') {
    if (!sink) throw new Error('export mode without the OTLP sink');
    env.BACKSTREAM_TELEMETRY_OTLP_ENDPOINT = sink.endpoint;
    env.BACKSTREAM_TELEMETRY_TRACE_SAMPLE_RATIO = '1';
  }
  return env;
}

/** Starts every service of the set-up; on any failure those started are left for the caller to stop. */
async function startServices(setup: Setup, env: NodeJS.ProcessEnv, dir: string, into: Service[]): Promise<void> {
  const counts: Record<Role, number> = {
    'chunk-worker': setup.chunkWorkers,
    verifier: setup.verifiers,
    archiver: 1,
  };
  const results = await Promise.allSettled(
    ROLES.flatMap((role) =>
      Array.from({ length: counts[role] }, async (_, i) => {
        const s = await startService(role, env, join(dir, `${role}-${i + 1}.log`));
        s.name = `${role}-${i + 1}`;
        into.push(s);
      }),
    ),
  );
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}

function checkTelemetryMode(all: Service[], mode: Mode): void {
  for (const s of all) {
    const h = s.health;
    const ok = h !== undefined && h.metrics === (mode !== 'off') && h.tracing === (mode === 'export');
    if (!ok)
      throw new Error(
        `${s.name} runs telemetry ${JSON.stringify(h)}, not what mode ${mode} should give (log ${s.logPath})`,
      );
  }
}

async function measure(ctx: RunContext, setup: Setup, round: number, position: number): Promise<Measurement> {
  const { args } = ctx;
  const name = setup.part === 'scaling' ? `c${setup.chunkWorkers}v${setup.verifiers}` : `t-${setup.mode}`;
  const bucket = `${ctx.runId}-r${round}-${name}`;
  const env = environment(bucket, setup.mode, ctx.sink);
  const dir = join(args.work, 'scaling', `round-${round}-${name}`);
  mkdirSync(dir, { recursive: true });
  const services: Service[] = [];
  try {
    const init = lastJson((await run(process.execPath, [cli, 'init', '--json'], { env })).stdout, () => true);
    if (init.encryption !== 'none')
      throw new Error(`backstream init of ${bucket}: encryption ${String(init.encryption)}`);
    ctx.sink?.take();
    const t0 = Date.now();
    await startServices(setup, env, dir, services);
    await waitSettled(services, 120_000);
    const readyMs = Date.now() - t0;
    checkTelemetryMode(services, setup.mode);

    await run('sync', []);
    const load1 = loadavg()[0] ?? NaN;
    const machineBefore = machineCpuMs();
    const benchBefore = process.cpuUsage();
    const cpuUsed = cpuMeter({
      ...Object.fromEntries(services.map((s) => [s.name, s.proc.pid])),
      kafka: ctx.stack.kafkaPid,
      s3: ctx.stack.s3Pid,
    });
    const t = await timed(
      process.execPath,
      [cli, 'backup', ctx.dataset, '--source', SOURCE, '--json'],
      join(dir, 'time'),
      { env, timeoutMs: args.timeoutS * 1000, watch: services },
    );
    const bench = process.cpuUsage(benchBefore);
    const machineAfter = machineCpuMs();
    const cpuMs: Record<string, number> = {
      cli: Math.round(t.cpuMs),
      ...cpuUsed(),
      bench: Math.round((bench.user + bench.system) / 1000),
    };
    const summary = lastJson(t.stdout, (o) => o.type === 'summary');
    const m: Measurement = {
      type: 'measurement',
      ...setup,
      round,
      position,
      datasetBytes: ctx.tree.bytes,
      datasetFiles: ctx.tree.files,
      chunksSent: Number(summary.chunksSent),
      chunksFound: Number(summary.chunksFound),
      readyMs,
      load1,
      wallMs: Math.round(t.wallMs),
      rssKiB: t.maxRssKiB,
      cpuMs,
      machineBusyMs: Math.round(machineAfter.busy - machineBefore.busy),
      stealMs: Math.round(machineAfter.steal - machineBefore.steal),
    };
    if (setup.mode === 'metrics' && ctx.scrape === undefined) {
      const cw = services.find((s) => s.name === 'chunk-worker-1');
      if (cw) ctx.scrape = await scrapeMetrics(cw, round);
    }
    // Stopped cleanly here, so that the sink has their last spans and metrics.
    await stopServicesCleanly(services);
    if (setup.mode === 'export') {
      m.otlp = ctx.sink?.take() ?? emptyCounts();
      if (m.otlp.spans === 0) throw new Error(`export mode: the OTLP sink received no spans (logs in ${dir})`);
    }
    return m;
  } finally {
    await stopServicesAndRemove(services, dir);
    if (!args.keep) {
      await cleanupStep(`deleting bucket ${bucket}`, () => deleteBucket(ctx.s3, bucket));
      await cleanupStep(`deleting topics ${bucket}.*`, () => deleteTopicsAndGroups(ctx.config, `${bucket}.`));
    }
  }
}

function describe(m: Measurement): string {
  const services = ROLES.map((r) => num(cpuOf(m, r) / 1000)).join('/');
  const otlp = m.otlp ? `, ${m.otlp.spans} spans, ${num(m.otlp.bytes / 1e6)} MB to the sink` : '';
  return (
    `${num(mbps(m))} MB/s, ${num(m.wallMs / 1000)} s, CPU s services ${services}, backup ${num(cpuOf(m, 'cli') / 1000)}, ` +
    `other processes ${num(otherCpu(m) / 1000)} CPU s, load ${m.load1.toFixed(2)}${otlp}`
  );
}

function rotate<T>(xs: T[], k: number): T[] {
  const n = xs.length === 0 ? 0 : k % xs.length;
  return [...xs.slice(n), ...xs.slice(0, n)];
}

/** This round's order: each question's set-ups rotated by round - 1, the blocks swapped in even rounds. */
export function roundOrder(setups: Setup[], round: number): Setup[] {
  const blocks = PARTS.map((p) =>
    rotate(
      setups.filter((s) => s.part === p),
      round - 1,
    ),
  );
  return (round % 2 === 1 ? blocks : blocks.reverse()).flat();
}

// ---- main --------------------------------------------------------------------------------

function reportTarget(args: Args): ReportTarget {
  return { work: args.work, name: 'scaling', doc: args.doc, section: SECTION, writeDoc: args.writeDoc };
}

async function report(args: Args, meta: Meta, measurements: Measurement[], scrape?: Scrape): Promise<void> {
  await publishReport(
    reportTarget(args),
    renderReport(meta, measurements, scrape),
    meta.mib >= DEFAULT_MIB && meta.rounds >= DEFAULT_ROUNDS && meta.parts.length === PARTS.length,
  );
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
      records.find((r): r is Scrape => r.type === 'scrape'),
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
  const jsonl = join(args.work, 'scaling.jsonl');
  const meta: Meta = {
    type: 'meta',
    startedAt: new Date().toISOString(),
    mib: args.mib,
    rounds: args.rounds,
    configs: args.configs,
    parts: args.parts,
    command: reproduceCommand(args),
    machine: machine(args.work),
    versions: versions(),
    settings:
      `backstream: chunks ${config.chunking.minSize / 1024}/${config.chunking.avgSize / 1024}/${config.chunking.maxSize / 1024} KiB ` +
      `(min/avg/max), zstd level ${config.chunkWorker.compressionLevel}, store.concurrency ${config.store.concurrency}, ` +
      `${config.topics.partitions} partitions per topic; per backup a fresh bucket and topic prefix and its own ` +
      `services; telemetry: metric export every ${config.telemetry.metricsExportIntervalMs / 1000} s in \`export\`, ` +
      'trace sample ratio 1, the scaling configurations with the default (`metrics`)',
    dataset: tree,
    loadStart: loadavg(),
  };
  const measurements: Measurement[] = [];
  const ctx: RunContext = {
    args,
    config,
    s3,
    stack,
    runId: `scl${Date.now().toString(36)}`,
    dataset,
    tree,
    sink: args.parts.includes('telemetry') ? await startOtlpSink() : undefined,
  };
  const save = (): void =>
    writeFileSync(
      jsonl,
      [meta, ...measurements, ...(ctx.scrape ? [ctx.scrape] : [])].map((r) => JSON.stringify(r)).join('\n') + '\n',
    );
  save();
  log(
    `run ${ctx.runId}: ${args.rounds} rounds of ${args.setups.length} backups of the ${args.mib} MiB dataset ` +
      `(${tree.files} files): ${args.setups.map((s) => `${s.part} ${s.label}`).join(', ')}; results in ${jsonl}`,
  );

  try {
    for (let round = 1; round <= args.rounds; round++) {
      // The dataset into the page cache, so that every backup reads it from memory.
      await run('sh', ['-c', 'find "$1" -type f -exec cat {} + >/dev/null', 'sh', dataset]);
      const order = roundOrder(args.setups, round);
      for (const [i, setup] of order.entries()) {
        const position = order.filter((s, j) => j < i && s.part === setup.part).length + 1;
        const m = await measure(ctx, setup, round, position);
        measurements.push(m);
        save();
        log(`round ${round}/${args.rounds} ${setup.part} ${setup.label}: ${describe(m)}`);
      }
    }
  } finally {
    await ctx.sink?.close();
    s3.destroy();
    meta.finishedAt = new Date().toISOString();
    meta.loadEnd = loadavg();
    save();
    await rmdir(join(args.work, 'scaling')).catch(() => undefined);
  }
  await report(args, meta, measurements, ctx.scrape);
}

runMain(main);
