/**
 * The report of test/bench/cdc.ts: what one pass of change events measured, medians over
 * runs, the markdown tables, and the generated section of docs/benchmarks.md.
 */
import { generatedSection, jsonLines, machineLines } from './report-doc';
import type { Machine } from './harness';
import { median } from './stats';
import { markdownTable, num } from './versus-report';

export type Mode = 'max' | 'rate';
export const MODES: Mode[] = ['max', 'rate'];

/** Processes whose CPU time a pass reports, in table order. */
export const CPU_PROCESSES = ['producer', 'chunk-worker', 'verifier', 'archiver', 'kafka', 's3', 'bench'] as const;
const CPU_LABELS: Record<(typeof CPU_PROCESSES)[number], string> = {
  producer: 'producer',
  'chunk-worker': 'chunk-worker',
  verifier: 'verifier',
  archiver: 'archiver',
  kafka: 'Kafka',
  s3: 'S3 server',
  bench: 'bench client',
};

export interface Quantiles {
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

/** One pass: `events` change events published in one mode and followed to the ledger. */
export interface PassResult {
  type: 'pass';
  run: number;
  mode: Mode;
  /** Events per second the publisher aimed at; null: as fast as it could. */
  targetRate: number | null;
  events: number;
  /** Mean size of the record values published (the native event's JSON). */
  valueBytes: number;
  /** From the first record's publish time to the last acknowledgement. */
  publishMs: number;
  /** From the first record's publish time to the ledger record committing the last one. */
  spanMs: number;
  /** Publish to the ledger record that commits the record, per record. */
  latencyMs: Quantiles;
  /** Publish to the broker's acknowledgement (acks from all in-sync replicas), per record. */
  ackMs: Quantiles;
  /** changes-commit records of the pass, and the records (offsets) they committed on average. */
  commits: number;
  /** CPU time (user + system) of each process from the first publish until everything was committed. */
  cpuMs: Record<string, number>;
}

export interface CdcMeta {
  type: 'meta';
  startedAt: string;
  command: string;
  events: number;
  keys: number;
  partitions: number;
  payloadBytes: number;
  runs: number;
  machine: Machine;
  versions: Record<string, string>;
  /** Free text: backstream's settings in the run. */
  settings: string;
}

export type CdcRecord = CdcMeta | PassResult;

/** Nearest-rank quantiles of a list of numbers (sorted here). */
export function quantiles(values: ArrayLike<number>): Quantiles {
  const s = Float64Array.from(values).sort();
  const at = (q: number): number => (s.length === 0 ? NaN : (s[Math.max(0, Math.ceil(q * s.length) - 1)] as number));
  return { p50: at(0.5), p95: at(0.95), p99: at(0.99), max: s.length === 0 ? NaN : (s[s.length - 1] as number) };
}

/** Events per second over the span from the first publish to the last commit. */
export function eventsPerSecond(p: PassResult): number {
  return p.spanMs > 0 ? p.events / (p.spanMs / 1000) : NaN;
}

export interface ModeSummary {
  mode: Mode;
  runs: number;
  events: number;
  targetRate: number | null;
  valueBytes: number;
  publishedPerSecond: number;
  eventsPerSecond: number;
  eventsPerSecondMin: number;
  eventsPerSecondMax: number;
  latencyMs: Quantiles;
  p99Min: number;
  p99Max: number;
  ackMs: Quantiles;
  eventsPerCommit: number;
  cpuMs: Record<string, number>;
}

/** Medians over runs of each mode that has passes. */
export function summarize(passes: PassResult[]): ModeSummary[] {
  const out: ModeSummary[] = [];
  for (const mode of MODES) {
    const ps = passes.filter((p) => p.mode === mode);
    if (ps.length === 0) continue;
    const m = (f: (p: PassResult) => number): number => median(ps.map(f));
    const rates = ps.map(eventsPerSecond);
    const p99s = ps.map((p) => p.latencyMs.p99);
    const cpuKeys = [...new Set(ps.flatMap((p) => Object.keys(p.cpuMs)))];
    const targets = ps.map((p) => p.targetRate).filter((r): r is number => r !== null);
    out.push({
      mode,
      runs: ps.length,
      events: m((p) => p.events),
      targetRate: targets.length > 0 ? median(targets) : null,
      valueBytes: m((p) => p.valueBytes),
      publishedPerSecond: m((p) => (p.publishMs > 0 ? p.events / (p.publishMs / 1000) : NaN)),
      eventsPerSecond: median(rates),
      eventsPerSecondMin: Math.min(...rates),
      eventsPerSecondMax: Math.max(...rates),
      latencyMs: {
        p50: m((p) => p.latencyMs.p50),
        p95: m((p) => p.latencyMs.p95),
        p99: median(p99s),
        max: m((p) => p.latencyMs.max),
      },
      p99Min: Math.min(...p99s),
      p99Max: Math.max(...p99s),
      ackMs: { p50: m((p) => p.ackMs.p50), p95: m((p) => p.ackMs.p95), p99: m((p) => p.ackMs.p99), max: NaN },
      eventsPerCommit: m((p) => (p.commits > 0 ? p.events / p.commits : NaN)),
      cpuMs: Object.fromEntries(
        cpuKeys.map((k) => [k, median(ps.map((p) => p.cpuMs[k]).filter((v): v is number => v !== undefined))]),
      ),
    });
  }
  return out;
}

function int(x: number): string {
  return Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '—';
}

function range(mid: number, lo: number, hi: number, runs: number, fmt: (x: number) => string = num): string {
  return runs > 1 ? `${fmt(mid)} (${fmt(lo)}–${fmt(hi)})` : fmt(mid);
}

function modeLabel(s: ModeSummary): string {
  return s.mode === 'max' ? 'as fast as possible' : `at ${int(s.targetRate ?? NaN)} events/s`;
}

const DAY = (iso: string): string => iso.slice(0, 10);

/** The generated results: parameters, tables, machine, and the command to reproduce. */
export function renderReport(meta: CdcMeta, passes: PassResult[]): string {
  const summaries = summarize(passes);
  const runs = Math.max(0, ...summaries.map((s) => s.runs));
  const valueBytes = summaries[0]?.valueBytes ?? NaN;
  const lines: string[] = [];
  lines.push(
    `Run of ${DAY(meta.startedAt)}: upserts over ${int(meta.keys)} keys, each with a ${meta.payloadBytes}-byte JSON payload ` +
      `(record values ~${int(valueBytes)} bytes), into one change topic of ${meta.partitions} partitions; ` +
      `${runs} run${runs === 1 ? '' : 's'}, medians over runs (range in brackets). ` +
      'events/s is the events of a pass over the time from its first publish to the ledger record committing its last event; ' +
      'latency is per event, from its publish time (the record timestamp, CreateTime, which the benchmark sets when it ' +
      'hands the record to kafkajs) to the timestamp of the `changes-commit` ledger record covering its offset ' +
      '(CreateTime set by the archiver as it appends), all on one clock.',
  );
  lines.push('', '**Throughput and latency** (latency in ms)', '');
  lines.push(
    markdownTable(
      ['published', 'events', 'events/s', 'p50', 'p95', 'p99', 'max', 'publish→ack p99', 'events per ledger record'],
      summaries.map((s) => [
        s.mode === 'max' ? `as fast as possible (${int(s.publishedPerSecond)}/s)` : modeLabel(s),
        int(s.events),
        range(s.eventsPerSecond, s.eventsPerSecondMin, s.eventsPerSecondMax, s.runs, int),
        int(s.latencyMs.p50),
        int(s.latencyMs.p95),
        range(s.latencyMs.p99, s.p99Min, s.p99Max, s.runs, int),
        int(s.latencyMs.max),
        num(s.ackMs.p99),
        int(s.eventsPerCommit),
      ]),
      ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    ),
  );
  lines.push(
    '',
    'As fast as possible, every event is published within a few seconds and then waits its turn: its latency is ' +
      'queueing and the throughput is the capacity. At a fixed rate below that, the latency is what an event costs ' +
      'in a pipeline that keeps up.',
  );
  const cpuKeys = CPU_PROCESSES.filter((k) => summaries.some((s) => s.cpuMs[k] !== undefined));
  lines.push('', '**CPU seconds** (user + system, median, from the first publish until the last commit)', '');
  lines.push(
    markdownTable(
      ['published', ...cpuKeys.map((k) => CPU_LABELS[k]), 'total', 'CPU ms per event'],
      summaries.map((s) => {
        const total = cpuKeys.reduce((a, k) => a + (s.cpuMs[k] ?? 0), 0);
        return [
          modeLabel(s),
          ...cpuKeys.map((k) => num((s.cpuMs[k] ?? NaN) / 1000)),
          num(total / 1000),
          num(total / s.events),
        ];
      }),
      ['l', ...cpuKeys.map((): 'r' => 'r'), 'r', 'r'],
    ),
  );
  lines.push(
    '',
    '"bench client" is the benchmark process: it generates and publishes the events and follows the ledger.',
    '',
    ...machineLines(meta.machine, meta.versions),
    '- Kafka, the S3 server, the four services and the benchmark all on this one machine, over 127.0.0.1',
    `- ${meta.settings}`,
    '',
    `Reproduce: \`${meta.command}\` (results in \`.bench/cdc.jsonl\` and \`.bench/cdc.md\`).`,
  );
  return lines.join('\n') + '\n';
}

// ---- docs/benchmarks.md ------------------------------------------------------------------

const SECTION = generatedSection('bench-cdc', 'test/bench/cdc.ts');
export const DOC_BEGIN_PREFIX = SECTION.beginPrefix;
export const DOC_BEGIN = SECTION.begin;
export const DOC_END = SECTION.end;
export const replaceGenerated = (doc: string, generated: string): string => SECTION.replace(doc, generated);

export function parseRecords(jsonl: string): { meta: CdcMeta | undefined; passes: PassResult[] } {
  const records = jsonLines<CdcRecord>(jsonl);
  return {
    meta: records.find((r): r is CdcMeta => r.type === 'meta'),
    passes: records.filter((r): r is PassResult => r.type === 'pass'),
  };
}
