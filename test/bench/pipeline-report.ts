/** Summarises test/bench/pipeline.sh's JSON lines: medians per phase. */
import { readFileSync } from 'node:fs';

interface Row {
  round: number;
  phase: string;
  wallMs: number;
  summary: {
    totalBytes: number;
    sentBytes: number;
    readBytes: number;
    producedBytes: Record<string, number>;
    files: number;
  };
  store: { objects: number; blocks: number; storedBytes: number };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};
const rows = readFileSync(process.argv[2] as string, 'utf8')
  .split('\n')
  .filter(Boolean)
  .map((l) => JSON.parse(l) as Row);
const MB = 1e6;
const GiB = 1024 ** 3;
const lines = [
  '| phase | rounds | wall s (median) | MB/s of tree (median) | bytes produced to Kafka (median) | chunk bytes sent | objects in store | objects per GiB backed up |',
  '| --- | --- | --- | --- | --- | --- | --- | --- |',
];
for (const phase of ['first', 'nochange', 'change1']) {
  const rs = rows.filter((r) => r.phase === phase);
  if (rs.length === 0) continue;
  const total = rs[0]!.summary.totalBytes;
  const produced = median(rs.map((r) => Object.values(r.summary.producedBytes).reduce((a, b) => a + b, 0)));
  lines.push(
    `| ${phase} | ${rs.length} | ${(median(rs.map((r) => r.wallMs)) / 1000).toFixed(1)} | ${(total / MB / (median(rs.map((r) => r.wallMs)) / 1000)).toFixed(1)} | ${produced.toLocaleString('en-US')} | ${median(rs.map((r) => r.summary.sentBytes)).toLocaleString('en-US')} | ${median(rs.map((r) => r.store.objects))} | ${(median(rs.map((r) => r.store.objects)) / (total / GiB)).toFixed(0)} |`,
  );
}
process.stdout.write(lines.join('\n') + '\n');
