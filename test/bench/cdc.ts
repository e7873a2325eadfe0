/**
 * Change streams on the local stack: sustained change events per second from publish to
 * ledger commit, and the latency of each event from publish to commit.
 *
 *   node dist/test/bench/cdc.js [--events 15000] [--keys 10000] [--partitions 8]
 *        [--payload-bytes 200] [--runs 3] [--mode both|max|rate] [--rate auto|R]
 *        [--rate-seconds 30] [--batch-max-events N] [--batch-max-ms N] [--work .bench]
 *        [--doc docs/benchmarks.md] [--write-doc auto|yes|no] [--keep] [--timeout 900]
 *   node dist/test/bench/cdc.js --from .bench/cdc.jsonl [--write-doc yes]
 *
 * Needs the BACKSTREAM_* settings of the stack (`eval "$(infra/local/stack.sh env)"`). Each
 * run: a fresh bucket and topic prefix (`backstream init`), a change topic of --partitions
 * partitions, and its own producer, chunk-worker, verifier and archiver
 * (BACKSTREAM_CHANGES_TOPICS set to that topic, change batches as configured: the defaults, or
 * --batch-max-events / --batch-max-ms, or BACKSTREAM_CHANGES_BATCH_* from the environment).
 * A warm-up of 1,000 events is committed first and not measured. Then, in two passes:
 *
 * - `max`: --events upserts published as fast as the client goes (sends of 1,000 records);
 * - `rate`: upserts at --rate events per second for --rate-seconds (`auto`: half the events/s
 *   the first run's max pass sustained, two significant digits, then the same for every run).
 *
 * Events are native upserts (docs/change-events.md) over --keys keys, keyed by their key and
 * partitioned as Kafka's default partitioner does, each with a distinct JSON payload of
 * --payload-bytes bytes, published with kafkajs' idempotent producer (acks from all in-sync
 * replicas). An event's publish time is its record timestamp (CreateTime), which the benchmark
 * sets to the clock when it hands the send to kafkajs; the ledger is followed from its start
 * (a consumer of its own), and each `changes-commit` record's Kafka timestamp (CreateTime, set
 * by the archiver's producer as it appends) is the commit time of the offsets it covers. Per pass:
 * events / (last commit − first publish), per-event latency quantiles, the broker's ack latency,
 * and the CPU time of every process involved (services, Kafka, S3 server, this process).
 *
 * Results go to <work>/cdc.jsonl, the markdown report (test/bench/cdc-report.ts) to stdout and
 * <work>/cdc.md, and with --write-doc into the marked section of the docs file (`auto`: only
 * for a full run, with the default settings or more events or runs). Everything a run creates
 * (services, bucket, topics, consumer groups) is removed when it ends, also on failure or
 * Ctrl-C; --keep leaves the bucket and topics.
 */
import { parseWriteDoc } from './report-doc';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { readFile, readdir, rm, rmdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import {
  Partitioners,
  type Admin,
  type Consumer,
  type Kafka,
  type Message,
  type PartitionMetadata,
  type Producer,
} from 'kafkajs';
import { createIdempotentProducer, createKafka } from '../../libs/bus';
import { loadConfig, type BackstreamConfig } from '../../libs/config';
import { HEADERS, decodeLedgerRecord, headerString, topicName, type LedgerRecord } from '../../libs/events';
import { createS3Client } from '../../libs/store';
import {
  DOC_BEGIN_PREFIX,
  parseRecords,
  quantiles,
  renderReport,
  replaceGenerated,
  eventsPerSecond,
  type CdcMeta,
  type Mode,
  type PassResult,
} from './cdc-report';
import {
  checkInterrupted,
  cli,
  cpuMsOf,
  deleteBucket,
  deleteTopicsAndGroups,
  localStack,
  log,
  machine,
  repo,
  run,
  runMain,
  startService,
  stopService,
  versions,
  writeFormatted,
  type Service,
  type Stack,
} from './harness';

const SERVICE_NAMES = ['chunk-worker', 'verifier', 'archiver', 'producer'] as const;
const SOURCE = 'bench.cdc';
const DEFAULT_EVENTS = 15_000;
const WARMUP_EVENTS = 1_000;
/** Records per send in the max pass. */
const SEND_BATCH = 1_000;
/** How often the rate pass sends what is due. */
const TICK_MS = 10;

// ---- arguments -----------------------------------------------------------------------

interface Args {
  events: number;
  keys: number;
  partitions: number;
  payloadBytes: number;
  runs: number;
  mode: 'both' | Mode;
  /** null: auto. */
  rate: number | null;
  rateSeconds: number;
  batchMaxEvents?: number;
  batchMaxMs?: number;
  work: string;
  doc: string;
  writeDoc: 'auto' | 'yes' | 'no';
  keep: boolean;
  timeoutS: number;
  from?: string;
  /** The flags given, to print the command that reproduces the run. */
  given: string[];
}

const DEFAULTS: Record<string, string> = {
  events: String(DEFAULT_EVENTS),
  keys: '10000',
  partitions: '8',
  'payload-bytes': '200',
  runs: '3',
  mode: 'both',
  rate: 'auto',
  'rate-seconds': '30',
};
/** Flags that do not change what is measured. */
const NOT_RESULTS = new Set(['work', 'doc', 'write-doc', 'keep', 'timeout', 'from']);
/** The flags `make bench-cdc` takes from variables. */
const MAKE_VARIABLES: Record<string, string> = { events: 'EVENTS', runs: 'RUNS', rate: 'RATE' };

function parseArguments(argv: string[]): Args {
  const d = (name: string): { type: 'string'; default: string } => ({
    type: 'string',
    default: DEFAULTS[name] as string,
  });
  const { values, tokens } = parseArgs({
    args: argv,
    strict: true,
    tokens: true,
    options: {
      events: d('events'),
      keys: d('keys'),
      partitions: d('partitions'),
      'payload-bytes': d('payload-bytes'),
      runs: d('runs'),
      mode: d('mode'),
      rate: d('rate'),
      'rate-seconds': d('rate-seconds'),
      'batch-max-events': { type: 'string' },
      'batch-max-ms': { type: 'string' },
      work: { type: 'string' },
      doc: { type: 'string' },
      'write-doc': { type: 'string', default: 'auto' },
      timeout: { type: 'string', default: '900' },
      from: { type: 'string' },
      keep: { type: 'boolean', default: false },
    },
  });
  const writeDoc = parseWriteDoc(values['write-doc']);
  const mode = values.mode;
  if (mode !== 'both' && mode !== 'max' && mode !== 'rate') throw new Error(`--mode must be both, max or rate`);
  const positiveInt = (name: string, v: string | undefined): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer, not ${v}`);
    return n;
  };
  const rate = values.rate === 'auto' ? null : Number(values.rate);
  if (rate !== null && !(rate > 0)) throw new Error(`--rate must be auto or a positive number, not ${values.rate}`);
  if (rate === null && mode === 'rate') throw new Error('--mode rate needs --rate R (auto takes it from the max pass)');
  const args: Args = {
    events: positiveInt('events', values.events),
    keys: positiveInt('keys', values.keys),
    partitions: positiveInt('partitions', values.partitions),
    payloadBytes: positiveInt('payload-bytes', values['payload-bytes']),
    runs: positiveInt('runs', values.runs),
    mode,
    rate,
    rateSeconds: positiveInt('rate-seconds', values['rate-seconds']),
    work: resolve(values.work ?? process.env.BENCH_DIR ?? join(repo, '.bench')),
    doc: resolve(values.doc ?? join(repo, 'docs', 'benchmarks.md')),
    writeDoc,
    keep: values.keep,
    timeoutS: positiveInt('timeout', values.timeout),
    given: tokens.flatMap((t) =>
      t.kind === 'option' && !NOT_RESULTS.has(t.name) && t.value !== DEFAULTS[t.name]
        ? [`--${t.name}${t.value !== undefined ? ` ${t.value}` : ''}`]
        : [],
    ),
  };
  if (values['batch-max-events'] !== undefined)
    args.batchMaxEvents = positiveInt('batch-max-events', values['batch-max-events']);
  if (values['batch-max-ms'] !== undefined) args.batchMaxMs = positiveInt('batch-max-ms', values['batch-max-ms']);
  if (values.from !== undefined) args.from = resolve(values.from);
  return args;
}

// ---- events ------------------------------------------------------------------------------

/** xorshift32: the same keys and payloads in every run. */
function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
}

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

/**
 * The change events of a run: event i is an upsert of key `k<r mod keys>` whose payload is
 * distinct (it holds i) and, as canonical JSON, `payloadBytes` long (or the shortest it can be).
 */
class EventSource {
  private readonly next: () => number;
  private readonly pool: string;
  private readonly partitioner = Partitioners.DefaultPartitioner();
  private readonly partitionMetadata: PartitionMetadata[];
  private readonly width: number;
  count = 0;
  valueBytes = 0;

  constructor(
    private readonly topic: string,
    private readonly keys: number,
    private readonly payloadBytes: number,
    partitions: number,
  ) {
    this.next = prng(0x2545f491);
    const r = prng(0x9e3779b9);
    let pool = '';
    while (pool.length < 64 * 1024) pool += ALPHABET[r() % ALPHABET.length];
    this.pool = pool;
    this.width = String(keys - 1).length;
    this.partitionMetadata = Array.from({ length: partitions }, (_, i) => ({
      partitionErrorCode: 0,
      partitionId: i,
      leader: 0,
      replicas: [0],
      isr: [0],
    }));
  }

  /** The next event as a message stamped `nowMs` (record timestamp and event time), and its partition. */
  take(nowMs: number): { message: Message; partition: number } {
    const i = this.count++;
    const r = this.next();
    const key = `k${String(r % this.keys).padStart(this.width, '0')}`;
    // Keys in the order canonical JSON sorts them, so the stored payload is this text.
    const head = `{"key":"${key}","n":${i},"pad":"`;
    const tail = `","v":${r % 9973}}`;
    const padLength = Math.max(0, this.payloadBytes - head.length - tail.length);
    const at = (r >>> 8) % (this.pool.length - padLength + 1);
    const data = `${head}${this.pool.slice(at, at + padLength)}${tail}`;
    const value = `{"source":"${SOURCE}","key":"${key}","op":"upsert","ts":${nowMs},"data":${data}}`;
    this.valueBytes += Buffer.byteLength(value);
    const message: Message = { key, value, timestamp: String(nowMs) };
    const partition = this.partitioner({ topic: this.topic, partitionMetadata: this.partitionMetadata, message });
    message.partition = partition;
    return { message, partition };
  }
}

// ---- publishing and following the ledger ------------------------------------------------

/** Per partition of the change topic: when each offset was published, acknowledged and committed. */
interface Offsets {
  publishedAt: number[][];
  ackedAt: number[][];
  committedAt: number[][];
  /** Highest offset of each partition some ledger record committed; -1: none. */
  through: number[];
  /** changes-commit records of the change topic, in ledger order. */
  commits: Array<{ partition: number; from: number; to: number; atMs: number }>;
}

function newOffsets(partitions: number): Offsets {
  const per = (): number[][] => Array.from({ length: partitions }, () => []);
  return {
    publishedAt: per(),
    ackedAt: per(),
    committedAt: per(),
    through: new Array<number>(partitions).fill(-1),
    commits: [],
  };
}

/**
 * Follows the ledger from its start and marks the change topic's offsets committed: as
 * readTopic does (libs/bus), but in a consumer group named with the run's prefix, so that the
 * run's cleanup deletes it with the others.
 */
async function followLedger(
  kafka: Kafka,
  groupId: string,
  ledgerTopic: string,
  changeTopic: string,
  o: Offsets,
): Promise<Consumer> {
  const seen = new Set<string>();
  const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 200 });
  await consumer.connect();
  await consumer.subscribe({ topics: [ledgerTopic], fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    eachMessage: ({ message }) => {
      if (headerString(message.headers, HEADERS.type) !== 'ledger-record') return Promise.resolve();
      let item: LedgerRecord | undefined;
      try {
        item = decodeLedgerRecord(message);
      } catch (err) {
        log(`ignoring an invalid ledger record at offset ${message.offset}: ${(err as Error).message}`);
        return Promise.resolve();
      }
      if (item?.type !== 'changes-commit' || item.record.topic !== changeTopic) return Promise.resolve();
      // As readers do: the first record of an id counts, and each offset once.
      if (seen.has(item.record.snapshotId)) return Promise.resolve();
      seen.add(item.record.snapshotId);
      const p = item.record.partition;
      const atMs = Number(message.timestamp);
      const from = Math.max(Number(item.record.fromOffset), (o.through[p] ?? -1) + 1);
      const to = Number(item.record.toOffset);
      const committed = o.committedAt[p] as number[];
      for (let off = from; off <= to; off++) committed[off] = atMs;
      if (to > (o.through[p] ?? -1)) o.through[p] = to;
      o.commits.push({ partition: p, from, to, atMs });
      return Promise.resolve();
    },
  });
  return consumer;
}

/** Sends `messages` in one request and records their publish and ack times by offset. */
async function send(
  producer: Producer,
  topic: string,
  batch: Array<{ message: Message; partition: number }>,
  sentAt: number,
  o: Offsets,
): Promise<void> {
  // Offsets this send will get: the records of a partition follow each other from its end
  // (one idempotent producer, one request at a time, a fresh topic).
  const expectedBase = new Map<number, number>();
  for (const { partition } of batch) {
    const published = o.publishedAt[partition] as number[];
    if (!expectedBase.has(partition)) expectedBase.set(partition, published.length);
    published.push(sentAt);
  }
  const metadata = await producer.send({ topic, acks: -1, messages: batch.map((b) => b.message) });
  const ackedAt = Date.now();
  for (const m of metadata) {
    const expected = expectedBase.get(m.partition);
    if (expected === undefined || String(expected) !== m.baseOffset)
      throw new Error(`partition ${m.partition}: records got offset ${m.baseOffset}, expected ${expected}`);
  }
  for (const [partition] of expectedBase) {
    const acked = o.ackedAt[partition] as number[];
    while (acked.length < (o.publishedAt[partition] as number[]).length) acked.push(ackedAt);
  }
}

/** Publishes `events` events as fast as sends return (rate null), or at `rate` events/s. */
async function publish(
  producer: Producer,
  topic: string,
  source: EventSource,
  events: number,
  rate: number | null,
  o: Offsets,
): Promise<void> {
  const t0 = Date.now();
  let sent = 0;
  while (sent < events) {
    checkInterrupted();
    const now = Date.now();
    const due =
      rate === null
        ? Math.min(events, sent + SEND_BATCH)
        : Math.min(events, Math.floor(((now - t0) / 1000) * rate) + 1);
    if (due <= sent) {
      await sleep(TICK_MS);
      continue;
    }
    const batch = Array.from({ length: due - sent }, () => source.take(now));
    await send(producer, topic, batch, now, o);
    sent = due;
    if (rate !== null) await sleep(TICK_MS);
  }
}

/** The end offset (exclusive) of each partition so far. */
function ends(o: Offsets): number[] {
  return o.publishedAt.map((p) => p.length);
}

/** Waits until the ledger commits every offset published so far. */
async function allCommitted(o: Offsets, services: Service[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const target = ends(o);
  for (;;) {
    checkInterrupted();
    if (target.every((end, p) => (o.through[p] ?? -1) >= end - 1)) return;
    const dead = services.find((s) => s.proc.exitCode !== null || s.proc.signalCode !== null);
    if (dead) throw new Error(`service ${dead.name} exited (log: ${dead.logPath})`);
    if (Date.now() > deadline) {
      const behind = target.map((end, p) => `${p}: ${(o.through[p] ?? -1) + 1}/${end}`).join(', ');
      throw new Error(
        `not every event committed within ${timeoutMs / 1000} s (committed/published per partition: ${behind})`,
      );
    }
    await sleep(50);
  }
}

// ---- one run -----------------------------------------------------------------------------

interface RunContext {
  args: Args;
  config: BackstreamConfig;
  stack: Stack;
  run: number;
  runDir: string;
  bucket: string;
  prefix: string;
  changeTopic: string;
  env: NodeJS.ProcessEnv;
  services: Service[];
  kafka?: Kafka;
  admin?: Admin;
  producer?: Producer;
  follower?: Consumer;
}

function cpuNow(ctx: RunContext): Record<string, number | undefined> {
  const own = process.cpuUsage();
  return {
    ...Object.fromEntries(ctx.services.map((s) => [s.name, cpuMsOf(s.proc.pid)])),
    kafka: cpuMsOf(ctx.stack.kafkaPid),
    s3: cpuMsOf(ctx.stack.s3Pid),
    bench: (own.user + own.system) / 1000,
  };
}

async function measurePass(
  ctx: RunContext,
  source: EventSource,
  o: Offsets,
  mode: Mode,
  events: number,
  rate: number | null,
): Promise<PassResult> {
  const producer = ctx.producer as Producer;
  const start = ends(o);
  const commitsBefore = o.commits.length;
  const valueBytesBefore = source.valueBytes;
  const cpuBefore = cpuNow(ctx);
  await publish(producer, ctx.changeTopic, source, events, rate, o);
  await allCommitted(o, ctx.services, ctx.args.timeoutS * 1000);
  const cpuAfter = cpuNow(ctx);

  const latency: number[] = [];
  const ack: number[] = [];
  let firstPublish = Infinity;
  let lastPublishAck = -Infinity;
  let lastCommit = -Infinity;
  for (const [p, end] of ends(o).entries()) {
    for (let off = start[p] as number; off < end; off++) {
      const published = (o.publishedAt[p] as number[])[off] as number;
      const acked = (o.ackedAt[p] as number[])[off] as number;
      const committed = (o.committedAt[p] as number[])[off] as number;
      latency.push(committed - published);
      ack.push(acked - published);
      firstPublish = Math.min(firstPublish, published);
      lastPublishAck = Math.max(lastPublishAck, acked);
      lastCommit = Math.max(lastCommit, committed);
    }
  }
  const cpuMs: Record<string, number> = {};
  for (const [k, before] of Object.entries(cpuBefore)) {
    const after = cpuAfter[k];
    if (before !== undefined && after !== undefined) cpuMs[k] = Math.round(after - before);
  }
  return {
    type: 'pass',
    run: ctx.run,
    mode,
    targetRate: rate,
    events: latency.length,
    valueBytes: Math.round((source.valueBytes - valueBytesBefore) / events),
    publishMs: lastPublishAck - firstPublish,
    spanMs: lastCommit - firstPublish,
    latencyMs: quantiles(latency),
    ackMs: quantiles(ack),
    commits: o.commits.length - commitsBefore,
    cpuMs,
  };
}

function describePass(p: PassResult): string {
  const l = p.latencyMs;
  return (
    `${p.events} events ${p.mode === 'max' ? 'as fast as possible' : `at ${p.targetRate}/s`}: ` +
    `${Math.round(eventsPerSecond(p))} events/s publish→commit, latency p50 ${l.p50} ms, p95 ${l.p95} ms, ` +
    `p99 ${l.p99} ms, max ${l.max} ms; ${p.commits} ledger records`
  );
}

async function runOnce(ctx: RunContext, rateOf: () => number | null, record: (p: PassResult) => void): Promise<void> {
  const { args } = ctx;
  await rm(ctx.runDir, { recursive: true, force: true });
  mkdirSync(ctx.runDir, { recursive: true });
  await run(process.execPath, [cli, 'init', '--json'], { env: ctx.env });
  ctx.kafka = createKafka(ctx.config.kafka, { clientSuffix: 'bench-cdc' });
  ctx.admin = ctx.kafka.admin();
  await ctx.admin.connect();
  await ctx.admin.createTopics({
    waitForLeaders: true,
    topics: [{ topic: ctx.changeTopic, numPartitions: args.partitions }],
  });
  ctx.services.push(
    ...(await Promise.all(SERVICE_NAMES.map((name) => startService(name, ctx.env, join(ctx.runDir, `${name}.log`))))),
  );
  ctx.producer = createIdempotentProducer(ctx.kafka);
  await ctx.producer.connect();
  const o = newOffsets(args.partitions);
  ctx.follower = await followLedger(
    ctx.kafka,
    `${ctx.prefix}bench-ledger`,
    topicName(ctx.config, 'ledger'),
    ctx.changeTopic,
    o,
  );
  const source = new EventSource(ctx.changeTopic, args.keys, args.payloadBytes, args.partitions);

  // Warm-up, not measured: JIT, connections, every partition's first batch.
  await publish(ctx.producer, ctx.changeTopic, source, WARMUP_EVENTS, null, o);
  await allCommitted(o, ctx.services, args.timeoutS * 1000);

  if (args.mode !== 'rate') {
    const p = await measurePass(ctx, source, o, 'max', args.events, null);
    record(p);
    log(`run ${ctx.run}/${args.runs}: ${describePass(p)}`);
  }
  const rate = rateOf();
  if (args.mode !== 'max' && rate !== null) {
    // Quiet between the passes, so the rate pass starts with empty queues.
    await sleep(2000);
    const events = Math.max(1, Math.round(rate * args.rateSeconds));
    const p = await measurePass(ctx, source, o, 'rate', events, rate);
    record(p);
    log(`run ${ctx.run}/${args.runs}: ${describePass(p)}`);
  }
}

async function cleanupRun(ctx: RunContext): Promise<void> {
  const step = async (what: string, f: () => Promise<unknown>): Promise<void> => {
    try {
      await f();
    } catch (err) {
      log(`cleanup: ${what} failed: ${(err as Error).message}`);
    }
  };
  await step('stopping the ledger follower', async () => ctx.follower?.disconnect());
  await step('disconnecting the producer', async () => ctx.producer?.disconnect());
  await step('disconnecting the admin client', async () => ctx.admin?.disconnect());
  await Promise.all(ctx.services.map((s) => stopService(s)));
  for (const s of ctx.services)
    if (s.proc.exitCode !== 0 && s.proc.exitCode !== null)
      log(`${s.name} exited with ${s.proc.exitCode}, log kept: ${s.logPath}`);
  const keepLogs = ctx.services.some((s) => s.proc.exitCode !== 0);
  await step('removing the run folder', async () => {
    if (!keepLogs) return rm(ctx.runDir, { recursive: true, force: true });
    for (const e of await readdir(ctx.runDir))
      if (!e.endsWith('.log')) await rm(join(ctx.runDir, e), { recursive: true, force: true });
  });
  if (ctx.args.keep) return;
  const s3 = createS3Client(ctx.config.s3);
  await step(`deleting bucket ${ctx.bucket}`, () => deleteBucket(s3, ctx.bucket));
  s3.destroy();
  // The change topic and the producer's consumer group carry the prefix too.
  await step(`deleting topics ${ctx.prefix}*`, () => deleteTopicsAndGroups(ctx.config, ctx.prefix));
}

// ---- report ------------------------------------------------------------------------------

/** Whether the run is a full one: the defaults, or more events or runs (meta.command says). */
function isFull(meta: Pick<CdcMeta, 'events' | 'runs' | 'command'>): boolean {
  return meta.events >= DEFAULT_EVENTS && meta.runs >= 3 && /^((EVENTS|RUNS)=\d+ )*make bench-cdc$/.test(meta.command);
}

async function report(args: Args, meta: CdcMeta, passes: PassResult[]): Promise<void> {
  const md = renderReport(meta, passes);
  mkdirSync(args.work, { recursive: true });
  await writeFile(join(args.work, 'cdc.md'), md);
  process.stdout.write(md);
  const full = isFull(meta);
  const want = args.writeDoc === 'auto' ? full : args.writeDoc === 'yes';
  if (args.writeDoc === 'auto' && !full)
    log(`${args.doc} left as is: not a full run (DOC=1 / --write-doc yes writes it anyway)`);
  if (want) await writeFormatted(args.doc, replaceGenerated(await readFile(args.doc, 'utf8'), md));
}

function settingsOf(config: BackstreamConfig, args: Args): string {
  const c = config.changes;
  const batchDefault = c.batchMaxEvents === 1000 && c.batchMaxMs === 1000 ? ' (the defaults)' : '';
  return (
    `backstream: changes.batchMaxEvents ${c.batchMaxEvents}, changes.batchMaxMs ${c.batchMaxMs}${batchDefault}, ` +
    `changes.maxInFlightBytes ${c.maxInFlightBytes / 1024 ** 2} MiB, store.concurrency ${config.store.concurrency}, ` +
    `zstd level ${config.chunkWorker.compressionLevel}, ${config.topics.partitions} partitions per backstream topic; ` +
    `one producer, chunk-worker, verifier and archiver; a fresh bucket, topic prefix and change topic per run; ` +
    `${WARMUP_EVENTS.toLocaleString('en-US')} warm-up events committed before measuring; ` +
    `the rate pass lasts ${args.rateSeconds} s${args.rate === null ? ' at half the first run’s max-pass events/s' : ''}`
  );
}

/** `make bench-cdc` with the variables and ARGS that give the same flags. */
function makeCommand(given: string[]): string {
  const vars: string[] = [];
  const rest: string[] = [];
  for (const g of given) {
    const [flag = '', value = ''] = g.replace(/^--/, '').split(' ');
    const variable = MAKE_VARIABLES[flag];
    if (variable !== undefined) vars.push(`${variable}=${value}`);
    else rest.push(g);
  }
  if (rest.length > 0) vars.push(`ARGS='${rest.join(' ')}'`);
  return [...vars, 'make bench-cdc'].join(' ');
}

// ---- main --------------------------------------------------------------------------------

async function main(): Promise<void> {
  const args = parseArguments(process.argv.slice(2));
  if (args.from) {
    const { meta, passes } = parseRecords(await readFile(args.from, 'utf8'));
    if (!meta) throw new Error(`${args.from} has no meta line`);
    return report(args, meta, passes);
  }
  if (args.writeDoc !== 'no' && !readFileSync(args.doc, 'utf8').includes(DOC_BEGIN_PREFIX))
    throw new Error(`${args.doc} lacks the generated-section markers`);

  const runId = `cdc${Date.now().toString(36)}`;
  const baseEnv: NodeJS.ProcessEnv = {
    ...process.env,
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    BACKSTREAM_LOG_LEVEL: 'warn',
    ...(args.batchMaxEvents !== undefined ? { BACKSTREAM_CHANGES_BATCH_MAX_EVENTS: String(args.batchMaxEvents) } : {}),
    ...(args.batchMaxMs !== undefined ? { BACKSTREAM_CHANGES_BATCH_MAX_MS: String(args.batchMaxMs) } : {}),
  };
  const envOf = (id: string): NodeJS.ProcessEnv => ({
    ...baseEnv,
    BACKSTREAM_S3_BUCKET: id,
    BACKSTREAM_KAFKA_TOPIC_PREFIX: `${id}.`,
    BACKSTREAM_CHANGES_TOPICS: `${id}.changes`,
  });
  const { config } = loadConfig({ env: envOf(`${runId}-r1`) });
  const stack = localStack();
  mkdirSync(args.work, { recursive: true });
  const jsonl = join(args.work, 'cdc.jsonl');
  const meta: CdcMeta = {
    type: 'meta',
    startedAt: new Date().toISOString(),
    command: makeCommand(args.given),
    events: args.events,
    keys: args.keys,
    partitions: args.partitions,
    payloadBytes: args.payloadBytes,
    runs: args.runs,
    machine: machine(args.work),
    versions: versions(),
    settings: settingsOf(config, args),
  };
  const passes: PassResult[] = [];
  const save = (): void => writeFileSync(jsonl, [meta, ...passes].map((r) => JSON.stringify(r)).join('\n') + '\n');
  save();
  log(
    `run ${runId}: ${args.runs} runs of ${args.events} events over ${args.keys} keys, ${args.partitions} partitions, ` +
      `${args.payloadBytes}-byte payloads; results in ${jsonl}`,
  );

  let rate = args.rate;
  try {
    for (let i = 1; i <= args.runs; i++) {
      const id = `${runId}-r${i}`;
      const ctx: RunContext = {
        args,
        config: loadConfig({ env: envOf(id) }).config,
        stack,
        run: i,
        runDir: join(args.work, 'cdc', `run-${i}`),
        bucket: id,
        prefix: `${id}.`,
        changeTopic: `${id}.changes`,
        env: envOf(id),
        services: [],
      };
      try {
        await runOnce(
          ctx,
          () => {
            if (rate === null) {
              const max = passes.find((p) => p.mode === 'max');
              if (max) rate = Number((eventsPerSecond(max) / 2).toPrecision(2));
            }
            return rate;
          },
          (p) => {
            passes.push(p);
            save();
          },
        );
      } finally {
        await cleanupRun(ctx);
      }
    }
  } finally {
    save();
    await rmdir(join(args.work, 'cdc')).catch(() => undefined);
  }
  await report(args, meta, passes);
}

runMain(main);
