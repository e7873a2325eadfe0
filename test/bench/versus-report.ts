/**
 * The pure part of the backstream-versus-restic benchmark (test/bench/versus-restic.ts):
 * the measurement records it writes as JSON lines, medians, ratios, and the markdown it
 * prints and keeps in docs/benchmarks.md. No I/O here, so a unit test covers it.
 */
import { generatedSection, jsonLines, machineLines } from './report-doc';
import { median } from './stats';

export const TOOLS = ['backstream', 'restic'] as const;
export type Tool = (typeof TOOLS)[number];

export const PHASES = ['first', 'nochange', 'change1', 'restore'] as const;
export type Phase = (typeof PHASES)[number];

export const PHASE_LABELS: Record<Phase, string> = {
  first: 'first backup',
  nochange: 'no-change re-backup',
  change1: 're-backup after ~1 % change',
  restore: 'full restore',
};

/** backstream's processes as keys of `rssKiB` and `cpuMs`; `cli` is `backstream backup|restore`. */
export const SERVICES = ['chunk-worker', 'verifier', 'archiver'] as const;

/** One timed operation: one tool, one phase, one round. */
export interface Measurement {
  type: 'measurement';
  round: number;
  phase: Phase;
  tool: Tool;
  /** 1 when this tool ran first in this phase of this round, 2 when second. */
  position: number;
  /** Bytes and count of the regular files in the tree backed up (or restored) in this phase. */
  datasetBytes: number;
  datasetFiles: number;
  wallMs: number;
  /**
   * Peak resident set size in KiB per process: `cli` (backstream backup/restore) or `restic`
   * from /usr/bin/time; backstream's services from VmHWM, reset before the phase.
   */
  rssKiB: Record<string, number>;
  /** CPU time (user + system) per process during the operation: also `kafka` and `s3` (the servers). */
  cpuMs: Record<string, number>;
  /** Objects and bytes in the tool's bucket after the operation. */
  store: { objects: number; bytes: number };
  /** backstream backups: bytes handed to Kafka, chunk bytes among them, size of the round's topics' logs. */
  kafka?: { producedBytes: number; sentBytes: number; logBytes: number | null };
  /** The tool's own summary line (backstream `--json` summary, restic `--json` summary), as printed. */
  summary?: unknown;
}

export interface RunMeta {
  type: 'meta';
  startedAt: string;
  mib: number;
  rounds: number;
  /** The command that reproduces the run. */
  command: string;
  machine: { cpus: number; cpuModel: string; memGiB: number; os: string; kernel: string; disk: string };
  versions: Record<string, string>;
  /** Free-text description of each tool's settings in the run. */
  settings: Record<Tool, string>;
  dataset: { bytes: number; files: number };
}

export type BenchRecord = RunMeta | Measurement;

/** MB (10^6 bytes) per second of `bytes` in `ms`. */
export function mbPerSecond(bytes: number, ms: number): number {
  return ms > 0 ? bytes / 1e6 / (ms / 1000) : NaN;
}

export interface ToolPhaseSummary {
  rounds: number;
  wallMs: number;
  /** Median over rounds of each round's MB/s, and the range. */
  mbps: number;
  mbpsMin: number;
  mbpsMax: number;
  /** Largest peak over rounds, per process. */
  rssKiB: Record<string, number>;
  /** Median over rounds, per process. */
  cpuMs: Record<string, number>;
  objects: number;
  storedBytes: number;
  kafkaProducedBytes?: number;
  kafkaSentBytes?: number;
  kafkaLogBytes?: number;
}

export type Summary = Partial<Record<Phase, Partial<Record<Tool, ToolPhaseSummary>>>>;

function keysOf(rows: Array<Record<string, number>>): string[] {
  return [...new Set(rows.flatMap((r) => Object.keys(r)))];
}

export function summarize(measurements: Measurement[]): Summary {
  const out: Summary = {};
  for (const phase of PHASES) {
    for (const tool of TOOLS) {
      const rs = measurements.filter((m) => m.phase === phase && m.tool === tool);
      if (rs.length === 0) continue;
      const rates = rs.map((m) => mbPerSecond(m.datasetBytes, m.wallMs));
      const rss = Object.fromEntries(
        keysOf(rs.map((m) => m.rssKiB)).map((k) => [k, Math.max(...rs.map((m) => m.rssKiB[k] ?? 0))]),
      );
      const cpu = Object.fromEntries(
        keysOf(rs.map((m) => m.cpuMs)).map((k) => [k, median(rs.map((m) => m.cpuMs[k] ?? 0))]),
      );
      const kafka = rs.map((m) => m.kafka).filter((k) => k !== undefined);
      const logs = kafka.map((k) => k.logBytes).filter((b) => b !== null);
      const s: ToolPhaseSummary = {
        rounds: rs.length,
        wallMs: median(rs.map((m) => m.wallMs)),
        mbps: median(rates),
        mbpsMin: Math.min(...rates),
        mbpsMax: Math.max(...rates),
        rssKiB: rss,
        cpuMs: cpu,
        objects: median(rs.map((m) => m.store.objects)),
        storedBytes: median(rs.map((m) => m.store.bytes)),
        ...(kafka.length > 0
          ? {
              kafkaProducedBytes: median(kafka.map((k) => k.producedBytes)),
              kafkaSentBytes: median(kafka.map((k) => k.sentBytes)),
            }
          : {}),
        ...(logs.length > 0 ? { kafkaLogBytes: median(logs) } : {}),
      };
      (out[phase] ??= {})[tool] = s;
    }
  }
  return out;
}

/** backstream MB/s ÷ restic MB/s (medians): above 1, backstream is faster. */
export function ratio(summary: Summary, phase: Phase): number {
  const b = summary[phase]?.backstream?.mbps;
  const r = summary[phase]?.restic?.mbps;
  return b !== undefined && r !== undefined && r > 0 ? b / r : NaN;
}

const DASH = '—';

/** Three significant-ish digits: 1234, 123, 12.3, 1.23. */
export function num(x: number | undefined): string {
  if (x === undefined || !Number.isFinite(x)) return DASH;
  const a = Math.abs(x);
  return a >= 100 ? x.toFixed(0) : a >= 10 ? x.toFixed(1) : x.toFixed(2);
}

function int(x: number | undefined): string {
  return x === undefined || !Number.isFinite(x) ? DASH : Math.round(x).toLocaleString('en-US');
}

function mib(kib: number | undefined): string {
  return kib === undefined || !Number.isFinite(kib) || kib === 0 ? DASH : (kib / 1024).toFixed(0);
}

function mb(bytes: number | undefined): string {
  return bytes === undefined || !Number.isFinite(bytes) ? DASH : (bytes / 1e6).toFixed(1);
}

function seconds(ms: number | undefined): string {
  return ms === undefined ? DASH : num(ms / 1000);
}

/**
 * A markdown table laid out the way Prettier lays it out (cells padded to the column's width,
 * `---:` for right-aligned columns), so a generated docs file passes `prettier --check`.
 */
export function markdownTable(header: string[], rows: string[][], align: Array<'l' | 'r'> = []): string {
  const width = header.map((h, i) => Math.max(3, h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const cell = (s: string, i: number): string =>
    align[i] === 'r' ? s.padStart(width[i] as number) : s.padEnd(width[i] as number);
  const line = (cells: string[]): string => `| ${cells.map(cell).join(' | ')} |`;
  const rule = `| ${width.map((w, i) => (align[i] === 'r' ? `${'-'.repeat(w - 1)}:` : '-'.repeat(w))).join(' | ')} |`;
  return [line(header), rule, ...rows.map((r) => line(header.map((_, i) => r[i] ?? '')))].join('\n');
}

function sum(xs: Array<number | undefined>): number {
  return xs.reduce<number>((a, b) => a + (b ?? 0), 0);
}

/** The generated results: run parameters, the tables, the machine, and the command to reproduce. */
export function renderReport(meta: RunMeta, measurements: Measurement[]): string {
  const s = summarize(measurements);
  const phases = PHASES.filter((p) => s[p] !== undefined);
  const rounds = Math.max(0, ...measurements.map((m) => m.round));
  const out: string[] = [];
  const smoke = meta.mib < 1024 || rounds < 3;
  if (smoke)
    out.push(
      `> **Smoke run** (${meta.mib} MiB, ${rounds} round${rounds === 1 ? '' : 's'}): too small to compare the tools; ` +
        'the figures of record come from `make bench-pipeline` (1 GiB, 3 rounds).',
      '',
    );
  out.push(
    `Run of ${meta.startedAt.slice(0, 10)}: ${meta.mib} MiB dataset (${int(meta.dataset.bytes)} bytes in ` +
      `${int(meta.dataset.files)} files), ${rounds} round${rounds === 1 ? '' : 's'}, medians over rounds ` +
      '(range in brackets). MB/s is bytes of the tree (10^6) per second of wall time from process start to exit, ' +
      'also for the re-backups, which read little of it.',
    '',
  );

  out.push('**Throughput**', '');
  out.push(
    markdownTable(
      ['phase', 'backstream MB/s', 'restic MB/s', 'backstream / restic', 'backstream wall s', 'restic wall s'],
      phases.map((p) => {
        const b = s[p]?.backstream;
        const r = s[p]?.restic;
        const range = (t: ToolPhaseSummary | undefined): string =>
          t ? `${num(t.mbps)} (${num(t.mbpsMin)}–${num(t.mbpsMax)})` : DASH;
        return [PHASE_LABELS[p], range(b), range(r), num(ratio(s, p)), seconds(b?.wallMs), seconds(r?.wallMs)];
      }),
      ['l', 'r', 'r', 'r', 'r', 'r'],
    ),
    '',
    'Above 1, backstream is faster.',
    '',
  );

  out.push('**Peak RSS** (MiB, largest over rounds; services reset before each phase)', '');
  out.push(
    markdownTable(
      ['phase', 'backstream CLI', ...SERVICES, 'backstream sum', 'restic'],
      phases.map((p) => {
        const b = s[p]?.backstream?.rssKiB ?? {};
        const r = s[p]?.restic?.rssKiB ?? {};
        return [
          PHASE_LABELS[p],
          mib(b.cli),
          ...SERVICES.map((x) => mib(b[x])),
          mib(sum([b.cli, ...SERVICES.map((x) => b[x])])),
          mib(r.restic),
        ];
      }),
      ['l', 'r', 'r', 'r', 'r', 'r', 'r'],
    ),
    '',
  );

  out.push('**CPU seconds** (user + system, median; Kafka and the S3 server counted while the tool ran)', '');
  out.push(
    markdownTable(
      [
        'phase',
        'backstream CLI',
        'services',
        'Kafka',
        'S3 server',
        'backstream total',
        'restic',
        'S3 server for restic',
        'restic total',
      ],
      phases.map((p) => {
        const b = s[p]?.backstream?.cpuMs ?? {};
        const r = s[p]?.restic?.cpuMs ?? {};
        const services = sum(SERVICES.map((x) => b[x]));
        return [
          PHASE_LABELS[p],
          seconds(b.cli),
          seconds(services),
          seconds(b.kafka),
          seconds(b.s3),
          seconds(sum([b.cli, services, b.kafka, b.s3])),
          seconds(r.restic),
          seconds(r.s3),
          seconds(sum([r.restic, r.s3])),
        ];
      }),
      ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    ),
    '',
  );

  const stored = phases.filter((p) => p !== 'restore');
  out.push("**Stored** (in each tool's bucket after the phase, median; MB = 10^6 bytes)", '');
  out.push(
    markdownTable(
      [
        'after',
        'backstream objects',
        'backstream MB',
        'restic objects',
        'restic MB',
        'backstream to Kafka MB',
        'of it chunk bytes MB',
        'Kafka log MB',
      ],
      stored.map((p) => {
        const b = s[p]?.backstream;
        const r = s[p]?.restic;
        return [
          PHASE_LABELS[p],
          int(b?.objects),
          mb(b?.storedBytes),
          int(r?.objects),
          mb(r?.storedBytes),
          mb(b?.kafkaProducedBytes),
          mb(b?.kafkaSentBytes),
          mb(b?.kafkaLogBytes),
        ];
      }),
      ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    ),
    '',
    '"backstream to Kafka" is what `backstream backup` produced in that phase (its summary); "Kafka log" is the ' +
      "size of the round's topics on the broker's disk, all phases so far, kept for `topics.retentionDays`.",
    '',
  );

  const m = meta.machine;
  out.push(
    ...machineLines(m, meta.versions),
    '- Kafka, the S3 server, backstream and restic all on this one machine, over 127.0.0.1',
    `- backstream: ${meta.settings.backstream}`,
    `- restic: ${meta.settings.restic}`,
    '',
    `Reproduce: \`${meta.command}\` (results in \`.bench/versus-restic.jsonl\` and \`.bench/versus-restic.md\`).`,
  );
  return out.join('\n') + '\n';
}

const SECTION = generatedSection('bench-pipeline', 'test/bench/versus-restic.ts');
export const DOC_BEGIN_PREFIX = SECTION.beginPrefix;
export const DOC_BEGIN = SECTION.begin;
export const DOC_END = SECTION.end;
export const replaceGenerated = (doc: string, generated: string): string => SECTION.replace(doc, generated);

export function parseRecords(jsonl: string): { meta: RunMeta | undefined; measurements: Measurement[] } {
  const records = jsonLines<BenchRecord>(jsonl);
  return {
    meta: records.find((r): r is RunMeta => r.type === 'meta'),
    measurements: records.filter((r): r is Measurement => r.type === 'measurement'),
  };
}
