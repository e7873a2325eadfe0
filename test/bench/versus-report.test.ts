import {
  DOC_BEGIN,
  DOC_END,
  markdownTable,
  num,
  parseRecords,
  ratio,
  renderReport,
  replaceGenerated,
  summarize,
  type Measurement,
  type Phase,
  type RunMeta,
  type Tool,
} from './versus-report';
import { median } from './stats';

const meta: RunMeta = {
  type: 'meta',
  startedAt: '2026-11-21T10:00:00.000Z',
  mib: 1024,
  rounds: 3,
  command: 'make bench-pipeline',
  machine: { cpus: 2, cpuModel: 'AMD EPYC', memGiB: 24, os: 'Debian', kernel: '6.1', disk: '/dev/vda (ext4)' },
  versions: { restic: '0.14.0' },
  settings: { backstream: 'defaults', restic: 'repository version 2' },
  dataset: { bytes: 1e9, files: 5000 },
};

function m(round: number, phase: Phase, tool: Tool, wallMs: number, extra: Partial<Measurement> = {}): Measurement {
  return {
    type: 'measurement',
    round,
    phase,
    tool,
    position: 1,
    datasetBytes: 1e9,
    datasetFiles: 5000,
    wallMs,
    rssKiB: tool === 'backstream' ? { cli: 100 * 1024, 'chunk-worker': 200 * 1024 } : { restic: 300 * 1024 },
    cpuMs: tool === 'backstream' ? { cli: 1000, 'chunk-worker': 2000, kafka: 500, s3: 700 } : { restic: 4000, s3: 600 },
    store: { objects: 10, bytes: 1e8 },
    ...extra,
  };
}

describe('versus-report', () => {
  it('takes medians of odd and even counts, NaN of none', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNaN();
  });

  it('summarizes per phase and tool: median MB/s with its range, largest RSS, ratio of medians', () => {
    const rows = [
      m(1, 'first', 'backstream', 10_000),
      m(2, 'first', 'backstream', 20_000, { rssKiB: { cli: 150 * 1024 } }),
      m(3, 'first', 'backstream', 40_000),
      m(1, 'first', 'restic', 5_000),
      m(2, 'first', 'restic', 5_000),
      m(3, 'first', 'restic', 5_000),
    ];
    const s = summarize(rows);
    expect(s.first?.backstream?.mbps).toBe(50);
    expect(s.first?.backstream?.mbpsMin).toBe(25);
    expect(s.first?.backstream?.mbpsMax).toBe(100);
    expect(s.first?.backstream?.rssKiB).toEqual({ cli: 150 * 1024, 'chunk-worker': 200 * 1024 });
    expect(s.first?.restic?.mbps).toBe(200);
    expect(ratio(s, 'first')).toBe(0.25);
    expect(ratio(s, 'restore')).toBeNaN();
    expect(s.nochange).toBeUndefined();
  });

  it('lays tables out as Prettier does', () => {
    expect(markdownTable(['a', 'long header'], [['xx', '1']], ['l', 'r'])).toBe(
      ['| a   | long header |', '| --- | ----------: |', '| xx  |           1 |'].join('\n'),
    );
  });

  it('formats numbers to about three digits', () => {
    expect([num(1234.5), num(12.34), num(1.234), num(NaN)]).toEqual(['1235', '12.3', '1.23', '—']);
  });

  it('renders the tables, flags small runs, and replaces only the marked section', () => {
    const rows = [m(1, 'first', 'backstream', 20_000), m(1, 'first', 'restic', 10_000)];
    const report = renderReport(meta, rows);
    expect(report).toContain('| first backup ');
    expect(report).toContain('0.50');
    expect(report).toContain('Reproduce: `make bench-pipeline`');
    expect(report).toContain('Smoke run');
    expect(renderReport(meta, [...rows, m(2, 'first', 'restic', 1), m(3, 'first', 'restic', 1)])).not.toContain(
      'Smoke run',
    );

    const doc = `# B\n\nbefore\n\n${DOC_BEGIN}\n\nold\n\n${DOC_END}\n\n## After\n`;
    const out = replaceGenerated(doc, 'new\n');
    expect(out).toBe(`# B\n\nbefore\n\n${DOC_BEGIN}\n\nnew\n\n${DOC_END}\n\n## After\n`);
    expect(() => replaceGenerated('# no markers\n', 'x')).toThrow(/markers/);
  });

  it('reads back the JSON lines it writes', () => {
    const rows = [m(1, 'restore', 'restic', 1000)];
    const parsed = parseRecords([meta, ...rows].map((r) => JSON.stringify(r)).join('\n') + '\n');
    expect(parsed.meta).toEqual(meta);
    expect(parsed.measurements).toEqual(rows);
  });
});
