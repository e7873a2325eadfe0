/**
 * Chunker benchmark: single-threaded (per core) throughput of FastCDC cut-point finding
 * alone and of chunkStream with SHA-256, on deterministic pseudo-random data in memory.
 *
 *   npx tsc -p tsconfig.build.json && node dist/test/bench/chunker.js [--mib 256] [--runs 5] [--read-kib 64] [--json]
 *
 * Each figure is the median of --runs timed runs after one untimed warm-up run. MB/s are
 * 10^6 bytes per second of input. chunkStream is fed --read-kib pieces (64 KiB: the
 * highWaterMark of fs.createReadStream), so most chunks are assembled from several pieces.
 */
import { createHash } from 'node:crypto';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { chunkStream, FastCdcChunker, type ChunkingParams } from '../../libs/chunking';
import { pseudoRandomBytes } from '../../libs/chunking/pseudo-random';
import { median } from './stats';

const KiB = 1024;
const MiB = 1024 * KiB;

const PARAM_SETS: ReadonlyArray<{ name: string; params: ChunkingParams }> = [
  { name: 'default 512KiB/1MiB/8MiB', params: { minSize: 512 * KiB, avgSize: 1 * MiB, maxSize: 8 * MiB } },
  { name: 'kopia-like 2MiB/4MiB/8MiB', params: { minSize: 2 * MiB, avgSize: 4 * MiB, maxSize: 8 * MiB } },
  { name: 'small 64KiB/256KiB/1MiB', params: { minSize: 64 * KiB, avgSize: 256 * KiB, maxSize: 1 * MiB } },
];

interface Result {
  name: string;
  params: ChunkingParams;
  chunks: number;
  avgChunkBytes: number;
  cutMBps: number;
  streamMBps: number;
  cutRunsMBps: number[];
  streamRunsMBps: number[];
}

function usage(message: string): never {
  process.stderr.write(
    `${message}\nusage: node dist/test/bench/chunker.js [--mib N] [--runs N] [--read-kib N] [--json]\n`,
  );
  process.exit(2);
}

function positiveInt(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1) usage(`--${name} must be a positive integer, got "${value}"`);
  return n;
}

/** Seconds taken by fn. */
async function timed(fn: () => unknown): Promise<number> {
  const start = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - start) / 1e9;
}

/** Cut points only: the chunker over the whole buffer, as the producer's inner loop would. */
function countCuts(data: Buffer, params: ChunkingParams): number {
  const chunker = new FastCdcChunker(params);
  let at = 0;
  let chunks = 0;
  while (at < data.length) {
    const cut = chunker.next(data, at, data.length);
    at = cut < 0 ? data.length : cut;
    chunks++;
  }
  return chunks;
}

/** data as an async source of `size`-byte pieces, like a file read stream without the I/O. */
function pieces(data: Buffer, size: number): AsyncIterable<Buffer> {
  return {
    [Symbol.asyncIterator]() {
      let at = 0;
      return {
        next: (): Promise<IteratorResult<Buffer>> => {
          if (at >= data.length) return Promise.resolve({ done: true, value: undefined });
          const piece = data.subarray(at, Math.min(at + size, data.length));
          at += size;
          return Promise.resolve({ done: false, value: piece });
        },
      };
    },
  };
}

/** chunkStream with SHA-256, consuming every chunk. */
async function streamChunks(data: Buffer, params: ChunkingParams, readSize: number): Promise<number> {
  let chunks = 0;
  let bytes = 0;
  for await (const chunk of chunkStream(pieces(data, readSize), params)) {
    chunks++;
    bytes += chunk.length;
  }
  if (bytes !== data.length) throw new Error(`chunkStream returned ${bytes} bytes of ${data.length}`);
  return chunks;
}

async function measure(
  runs: number,
  bytes: number,
  fn: () => number | Promise<number>,
): Promise<{ runs: number[]; count: number }> {
  let count = await fn(); // warm-up: lets the JIT optimise before timing
  const speeds: number[] = [];
  for (let r = 0; r < runs; r++) {
    const seconds = await timed(async () => {
      count = await fn();
    });
    speeds.push(bytes / 1e6 / seconds);
  }
  return { runs: speeds, count };
}

function sha256Only(data: Buffer, size: number): number {
  let n = 0;
  for (let at = 0; at < data.length; at += size) {
    createHash('sha256')
      .update(data.subarray(at, Math.min(at + size, data.length)))
      .digest();
    n++;
  }
  return n;
}

async function main(): Promise<void> {
  let values: { mib?: string; runs?: string; 'read-kib'?: string; json?: boolean };
  try {
    values = parseArgs({
      options: {
        mib: { type: 'string' },
        runs: { type: 'string' },
        'read-kib': { type: 'string' },
        json: { type: 'boolean' },
      },
    }).values;
  } catch (err) {
    usage((err as Error).message);
  }
  const mib = positiveInt(values.mib, 'mib', 256);
  const runs = positiveInt(values.runs, 'runs', 5);
  const readSize = positiveInt(values['read-kib'], 'read-kib', 64) * KiB;
  const json = values.json === true;

  const log = (line: string): void => {
    if (!json) process.stdout.write(`${line}\n`);
  };
  log(`generating ${mib} MiB of pseudo-random data…`);
  const data = pseudoRandomBytes(mib * MiB, 0x5eed);

  const sha = await measure(runs, data.length, () => sha256Only(data, 1 * MiB));
  const results: Result[] = [];
  for (const { name, params } of PARAM_SETS) {
    log(`${name}…`);
    const cut = await measure(runs, data.length, () => countCuts(data, params));
    const stream = await measure(runs, data.length, () => streamChunks(data, params, readSize));
    if (cut.count !== stream.count) throw new Error(`${name}: ${cut.count} cuts but ${stream.count} streamed chunks`);
    results.push({
      name,
      params,
      chunks: cut.count,
      avgChunkBytes: Math.round(data.length / cut.count),
      cutMBps: Math.round(median(cut.runs)),
      streamMBps: Math.round(median(stream.runs)),
      cutRunsMBps: cut.runs.map(Math.round),
      streamRunsMBps: stream.runs.map(Math.round),
    });
  }

  const env = {
    node: process.version,
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    dataMiB: mib,
    runs,
    readKiB: readSize / KiB,
    sha256OnlyMBps: Math.round(median(sha.runs)),
  };
  if (json) {
    process.stdout.write(`${JSON.stringify({ ...env, results })}\n`);
    return;
  }
  const header = ['parameters (min/avg/max)', 'chunks', 'avg chunk', 'cut MB/s', 'chunkStream+SHA-256 MB/s'];
  const rows = results.map((r) => [
    r.name,
    String(r.chunks),
    `${(r.avgChunkBytes / KiB).toFixed(0)} KiB (${(r.avgChunkBytes / r.params.avgSize).toFixed(2)}×)`,
    String(r.cutMBps),
    String(r.streamMBps),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]): string =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  log('');
  log(
    `${env.node}, ${env.cpu} (${env.cores} cores), single thread, ${mib} MiB, median of ${runs} runs, stream read ${env.readKiB} KiB`,
  );
  log(line(header));
  log(line(widths.map((w) => '-'.repeat(w))));
  for (const row of rows) log(line(row));
  log(`SHA-256 alone over 1 MiB pieces: ${env.sha256OnlyMBps} MB/s`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
