import {
  DOC_BEGIN,
  DOC_END,
  eventsPerSecond,
  parseRecords,
  quantiles,
  renderReport,
  replaceGenerated,
  summarize,
  type CdcMeta,
  type PassResult,
} from './cdc-report';

const meta: CdcMeta = {
  type: 'meta',
  startedAt: '2026-11-21T10:00:00.000Z',
  command: 'make bench-cdc',
  events: 1000,
  keys: 100,
  partitions: 8,
  payloadBytes: 200,
  runs: 3,
  machine: { cpus: 2, cpuModel: 'AMD EPYC', memGiB: 24, os: 'Debian', kernel: '6.1', disk: '/dev/vda (ext4)' },
  versions: { backstream: 'abc1234', 'Node.js': '20.20.2', Kafka: '4.1.2', versitygw: 'v1.7.0' },
  settings: 'backstream: defaults',
};

function pass(run: number, mode: 'max' | 'rate', spanMs: number, p99: number): PassResult {
  return {
    type: 'pass',
    run,
    mode,
    targetRate: mode === 'rate' ? 250 : null,
    events: 1000,
    valueBytes: 290,
    publishMs: 100,
    spanMs,
    latencyMs: { p50: p99 / 2, p95: p99 * 0.9, p99, max: p99 * 1.2 },
    ackMs: { p50: 2, p95: 4, p99: 5, max: 9 },
    commits: 10,
    cpuMs: { producer: 1000, archiver: 500, kafka: 300, bench: 200 },
  };
}

describe('cdc report', () => {
  it('takes nearest-rank quantiles', () => {
    const q = quantiles(Array.from({ length: 100 }, (_, i) => 100 - i));
    expect(q).toEqual({ p50: 50, p95: 95, p99: 99, max: 100 });
    expect(quantiles([7])).toEqual({ p50: 7, p95: 7, p99: 7, max: 7 });
    expect(Number.isNaN(quantiles([]).p50)).toBe(true);
  });

  it('summarizes each mode by medians over runs, with the range of events/s and p99', () => {
    const passes = [pass(1, 'max', 2000, 1500), pass(2, 'max', 1000, 900), pass(3, 'max', 4000, 3000)];
    expect(eventsPerSecond(passes[0]!)).toBe(500);
    const [max, ...rest] = summarize(passes);
    expect(rest).toEqual([]);
    expect(max).toMatchObject({
      mode: 'max',
      runs: 3,
      eventsPerSecond: 500,
      eventsPerSecondMin: 250,
      eventsPerSecondMax: 1000,
      p99Min: 900,
      p99Max: 3000,
      eventsPerCommit: 100,
    });
    expect(max!.latencyMs.p99).toBe(1500);
    expect(max!.cpuMs).toEqual({ producer: 1000, archiver: 500, kafka: 300, bench: 200 });
  });

  it('renders both modes, the CPU table, the machine and the command', () => {
    const md = renderReport(meta, [pass(1, 'max', 2000, 1500), pass(1, 'rate', 4000, 800)]);
    expect(md).toContain('as fast as possible');
    expect(md).toContain('at 250 events/s');
    expect(md).toMatch(/\| producer \| archiver \| Kafka \| bench client \| total \| CPU ms per event \|/);
    expect(md).toContain('Reproduce: `make bench-cdc`');
    expect(md).toContain('2 CPUs (AMD EPYC)');
  });

  it('replaces the generated section between the markers and round-trips the jsonl', () => {
    const doc = `# B\n\n## Change streams\n\n${DOC_BEGIN}\n\nold\n\n${DOC_END}\n\n## Next\n`;
    const out = replaceGenerated(doc, 'new table\n');
    expect(out).toBe(`# B\n\n## Change streams\n\n${DOC_BEGIN}\n\nnew table\n\n${DOC_END}\n\n## Next\n`);
    expect(() => replaceGenerated('# nothing', 'x')).toThrow(/markers/);
    const passes = [pass(1, 'max', 2000, 1500)];
    expect(parseRecords([meta, ...passes].map((r) => JSON.stringify(r)).join('\n'))).toEqual({ meta, passes });
  });
});
