import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, type BackstreamConfig } from '../../libs/config';
import { consumerGroupId, decodeJson, headerString, HEADERS, topicName } from '../../libs/events';
import { blockKey } from '../../libs/store';
import { httpGet, httpGetJson } from '../support/http';
import { OTLP_SPAN_KIND, startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../support/otlp-receiver';
import {
  backupSummary,
  healthPortOf,
  killAll,
  logLines,
  runCli,
  spawnCli,
  startService,
  type ServiceProcess,
} from '../support/processes';
import { parsePrometheus, samplesOf, sumOf, type PromSample } from '../support/prometheus';
import { RepositoryProbe, waitFor } from '../support/repository';
import { testEnv } from '../support/stack-config';
import { reservePort, startTcpProxy } from '../support/tcp-proxy';
import { comparable, describeTree, generateTree } from '../support/tree';

/**
 * What an operator relies on, against the real stack: one trace per chunk across the
 * processes, /healthz /readyz /metrics, a SIGTERM that never commits unfinished work, and
 * scaling chunk-workers out (and losing one) in the middle of a backup.
 */
const SMALL_CHUNKS = {
  BACKSTREAM_CHUNKING_MIN_SIZE: '16KiB',
  BACKSTREAM_CHUNKING_AVG_SIZE: '64KiB',
  BACKSTREAM_CHUNKING_MAX_SIZE: '256KiB',
  BACKSTREAM_PRODUCER_COMMIT_TIMEOUT_MS: '120000',
};

const scratch = mkdtempSync(join(tmpdir(), 'backstream-operations-'));
const probes: RepositoryProbe[] = [];
const closers: Array<() => Promise<void>> = [];

interface Repository {
  env: Record<string, string>;
  config: BackstreamConfig;
  probe: RepositoryProbe;
}

/** A fresh topic prefix and bucket, initialised. */
async function repository(label: string, extra: Record<string, string> = {}): Promise<Repository> {
  const env = testEnv(label, { ...SMALL_CHUNKS, ...extra });
  const init = await runCli(['init'], env);
  expect({ code: init.code, stderr: init.stderr }).toEqual({ code: 0, stderr: '' });
  const config = loadConfig({ env }).config;
  const probe = new RepositoryProbe(config);
  probes.push(probe);
  return { env, config, probe };
}

function kafkaTarget(config: BackstreamConfig): { host: string; port: number } {
  const [host, port] = (config.kafka.brokers[0] ?? '').split(':');
  return { host: host ?? '127.0.0.1', port: Number(port) };
}

function s3Target(config: BackstreamConfig): { host: string; port: number } {
  const url = new URL(config.s3.endpoint);
  return { host: url.hostname, port: Number(url.port || 80) };
}

async function metricsOf(service: ServiceProcess): Promise<PromSample[]> {
  const answer = await httpGet(healthPortOf(service), '/metrics');
  expect({ service: service.name, status: answer.status }).toEqual({ service: service.name, status: 200 });
  expect(answer.contentType).toMatch(/^text\/plain/);
  return parsePrometheus(answer.body);
}

interface ReadyReport {
  ready: boolean;
  checks: Record<string, { ok: boolean; detail: string; since: string }>;
}

function readyz(service: ServiceProcess): Promise<{ status: number; body: ReadyReport }> {
  return httpGetJson<ReadyReport>(healthPortOf(service), '/readyz');
}

/** Exit code and the time from the signal to the exit. */
async function signalAndTime(
  service: ServiceProcess,
  signal: NodeJS.Signals,
): Promise<{ code: number | null; ms: number }> {
  if (service.proc.exitCode !== null || service.proc.signalCode !== null) {
    throw new Error(`${service.name} exited already (${service.proc.exitCode ?? service.proc.signalCode})`);
  }
  const started = Date.now();
  const exited = new Promise<number | null>((resolve) => service.proc.once('exit', (code) => resolve(code)));
  service.proc.kill(signal);
  const code = await exited;
  return { code, ms: Date.now() - started };
}

/** A tree of `files` files of fresh random bytes (no chunk is stored anywhere yet). */
async function randomTree(root: string, files: number, bytesEach: number): Promise<void> {
  await mkdir(join(root, 'sub'), { recursive: true });
  for (let i = 0; i < files; i++) {
    await writeFile(join(root, i % 2 === 0 ? '' : 'sub', `random-${i}.bin`), randomBytes(bytesEach));
  }
}

async function restoreMatches(repo: Repository, snapshotId: string, source: string, root: string): Promise<void> {
  const target = join(scratch, `restored-${snapshotId.slice(0, 8)}`);
  const restored = await runCli(['restore', snapshotId, '--source', source, '--target', target, '--json'], repo.env);
  expect({ code: restored.code, stderr: restored.stderr }).toEqual({ code: 0, stderr: '' });
  expect(comparable(await describeTree(target))).toEqual(comparable(await describeTree(root)));
}

function tail(service: ServiceProcess, lines = 20): string {
  return `--- ${service.name} (pid ${service.proc.pid})\n${service.output().split('\n').slice(-lines).join('\n')}`;
}

/** The chunk-worker group's committed offset of each partition of the chunks topic. */
async function committedOffsets(repo: Repository): Promise<Map<number, number>> {
  const admin = repo.probe.kafka.admin();
  await admin.connect();
  try {
    const [offsets] = await admin.fetchOffsets({
      groupId: consumerGroupId(repo.config, 'chunk-worker'),
      topics: [topicName(repo.config, 'chunks')],
    });
    return new Map((offsets?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]));
  } finally {
    await admin.disconnect();
  }
}

interface ChunkMessage {
  partition: number;
  offset: number;
  meta: { snapshotId: string; seq: number; hash: string };
}

/** The chunks topic's messages (those of `hashes` only, when given). */
async function chunkMessagesOf(repo: Repository, hashes?: Set<string>): Promise<ChunkMessage[]> {
  return (await repo.probe.messages('chunks'))
    .map((m) => ({
      partition: m.partition,
      offset: Number(m.offset),
      meta: JSON.parse(headerString(m.message.headers, HEADERS.meta) ?? '{}') as ChunkMessage['meta'],
    }))
    .filter((c) => hashes === undefined || hashes.has(c.meta.hash));
}

/** The chunk hashes of block PUT request lines ("PUT /bucket/blocks/aa/<sha256> HTTP/1.1"). */
function hashesOf(requests: string[]): Set<string> {
  return new Set(requests.flatMap((r) => /\/blocks\/[0-9a-f]{2}\/([0-9a-f]{64})/.exec(r)?.[1] ?? []));
}

afterAll(async () => {
  await killAll();
  for (const close of closers) await close();
  for (const p of probes) p.close();
  await rm(scratch, { recursive: true, force: true });
});

describe('telemetry across the pipeline', () => {
  let otlp: OtlpReceiver;
  let repo: Repository;
  const services = new Map<string, ServiceProcess>();
  let summary: ReturnType<typeof backupSummary>;

  beforeAll(async () => {
    otlp = await startOtlpReceiver();
    closers.push(() => otlp.close());
    repo = await repository('ops-trace', { BACKSTREAM_TELEMETRY_OTLP_ENDPOINT: otlp.endpoint });
    const tree = join(scratch, 'trace-tree');
    await generateTree(tree, { largeFileBytes: 512 * 1024, smallFiles: 4, seed: Date.now() % 100_000 });
    for (const s of await Promise.all(['chunk-worker', 'verifier', 'archiver'].map((n) => startService(n, repo.env)))) {
      services.set(s.name, s);
    }
    const backup = await runCli(['backup', tree, '--source', 'traced', '--json'], repo.env);
    if (backup.code !== 0) {
      const logs = [...services.values()].map((s) => tail(s)).join('\n');
      throw new Error(`backup exited ${backup.code}:\n${backup.stderr}\n${logs}`);
    }
    summary = backupSummary(backup.stdout);
  });

  // Runs first, while the services still run; the trace test below stops them.
  it('serves Prometheus metrics that account for what each service did', async () => {
    const { config } = repo;
    const chunksTopic = topicName(config, 'chunks');
    const storedTopic = topicName(config, 'stored');
    const chunkMessages = await repo.probe.messageCount('chunks');
    const storedMessages = await repo.probe.messageCount('stored');
    expect(chunkMessages).toBeGreaterThan(5);

    const worker = await metricsOf(services.get('chunk-worker')!);
    const cw = { service: 'chunk-worker' };
    // Every chunk message handled once, and counted once.
    expect(sumOf(worker, 'backstream_chunks_processed_total', { ...cw, outcome: 'ok' })).toBe(chunkMessages);
    expect(sumOf(worker, 'backstream_dead_letters_total', cw)).toBe(0);
    expect(sumOf(worker, 'backstream_bytes_processed_total', cw)).toBe(summary.sentBytes);
    // One create-only PUT per chunk (ok, or "exists" for a duplicate within the backup).
    expect(sumOf(worker, 'backstream_s3_request_duration_count', { operation: 'PutObject' })).toBeGreaterThanOrEqual(
      chunkMessages,
    );
    expect(sumOf(worker, 'backstream_s3_request_duration_sum', { operation: 'PutObject' })).toBeGreaterThan(0);
    const workerLag = samplesOf(worker, 'backstream_consumer_lag', {
      messaging_destination_name: chunksTopic,
      messaging_consumer_group_name: consumerGroupId(config, 'chunk-worker'),
    });
    expect(workerLag.length).toBeGreaterThan(0);
    // The backup is committed: nothing is left behind on any partition.
    expect(workerLag.map((s) => s.value)).toEqual(workerLag.map(() => 0));

    const verifier = await metricsOf(services.get('verifier')!);
    const vf = { service: 'verifier' };
    expect(sumOf(verifier, 'backstream_chunks_processed_total', { ...vf, outcome: 'ok' })).toBe(storedMessages);
    // Present at 0, so an alert on it has a series before the first failure.
    expect(sumOf(verifier, 'backstream_verification_failures_total')).toBe(0);
    const verifiedBytes = sumOf(verifier, 'backstream_bytes_processed_total', vf)!;
    expect(verifiedBytes).toBeGreaterThanOrEqual(summary.sentBytes as number);
    const newBytes = sumOf(verifier, 'backstream_dedup_bytes_total', { ...vf, result: 'new' }) ?? 0;
    const existingBytes = sumOf(verifier, 'backstream_dedup_bytes_total', { ...vf, result: 'existing' }) ?? 0;
    expect(newBytes).toBeGreaterThan(0);
    expect(newBytes + existingBytes).toBe(verifiedBytes);
    const ratio = sumOf(verifier, 'backstream_dedup_ratio');
    expect(ratio).toBeCloseTo(existingBytes / verifiedBytes, 6);
    expect(
      samplesOf(verifier, 'backstream_consumer_lag', {
        messaging_destination_name: storedTopic,
        messaging_consumer_group_name: consumerGroupId(config, 'verifier'),
      }).length,
    ).toBeGreaterThan(0);
    expect(sumOf(verifier, 'backstream_s3_request_duration_count', { operation: 'GetObject', outcome: 'ok' })).toBe(
      storedMessages,
    );

    const archiver = await metricsOf(services.get('archiver')!);
    expect(sumOf(archiver, 'backstream_ledger_commit_duration_count')).toBeGreaterThanOrEqual(1);
    expect(sumOf(archiver, 'backstream_ledger_commit_duration_sum')).toBeGreaterThan(0);
    expect(
      samplesOf(archiver, 'backstream_consumer_lag', {
        messaging_destination_name: topicName(config, 'progress'),
        messaging_consumer_group_name: consumerGroupId(config, 'archiver'),
      }).length,
    ).toBeGreaterThan(0);
    // The manifest and file list were written.
    expect(sumOf(archiver, 'backstream_s3_request_duration_count', { operation: 'PutObject' })).toBeGreaterThan(0);
  });

  it('exports one trace per chunk: backup → chunk-worker → verifier → archiver, S3 calls inside', async () => {
    // SIGTERM: each service flushes its spans before it exits.
    const stopped = await Promise.all(
      [...services.values()].map(async (s) => ({ service: s.name, code: (await signalAndTime(s, 'SIGTERM')).code })),
    );
    expect(stopped).toEqual([...services.keys()].map((service) => ({ service, code: 0 })));
    expect(otlp.rejected).toEqual([]);
    expect([...(otlp.contentTypes.get('/v1/traces') ?? [])]).toEqual(['application/json']);
    const { config } = repo;
    const prefix = config.kafka.topicPrefix;
    const spans = otlp.spans();
    const child = (parent: ReceivedSpan, service: string, name: string, kind: number): ReceivedSpan | undefined =>
      spans.find(
        (s) =>
          s.service === service &&
          s.name === name &&
          s.kind === kind &&
          s.traceId === parent.traceId &&
          s.parentSpanId === parent.spanId,
      );
    const sends = spans.filter(
      (s) => s.service === 'backup' && s.name === `send ${prefix}chunks` && s.kind === OTLP_SPAN_KIND.producer,
    );
    // One trace per chunk sent, each starting at the backup (a root span).
    expect(sends).toHaveLength(summary.chunksSent as number);
    expect(new Set(sends.map((s) => s.traceId)).size).toBe(sends.length);
    expect(sends.every((s) => s.parentSpanId === '')).toBe(true);

    const chains = sends.map((send) => {
      const worker = child(send, 'chunk-worker', `process ${prefix}chunks`, OTLP_SPAN_KIND.consumer);
      const put = worker && child(worker, 'chunk-worker', 'S3.PutObject', OTLP_SPAN_KIND.client);
      const verifier = worker && child(worker, 'verifier', `process ${prefix}stored`, OTLP_SPAN_KIND.consumer);
      const read = verifier && child(verifier, 'verifier', 'S3.GetObject', OTLP_SPAN_KIND.client);
      const archiver = verifier && child(verifier, 'archiver', `process ${prefix}progress`, OTLP_SPAN_KIND.consumer);
      return { send, worker, put, verifier, read, archiver };
    });
    const incomplete = chains.filter((c) => !c.worker || !c.put || !c.verifier || !c.read || !c.archiver);
    expect({
      chains: chains.length,
      incomplete: incomplete.map((c) => ({
        hash: c.send.attributes['backstream.chunk.hash'],
        worker: !!c.worker,
        put: !!c.put,
        verifier: !!c.verifier,
        read: !!c.read,
        archiver: !!c.archiver,
      })),
    }).toEqual({ chains: summary.chunksSent, incomplete: [] });

    for (const { send, worker, put, verifier, archiver } of chains.slice(0, 5)) {
      const hash = send.attributes['backstream.chunk.hash'];
      expect(hash).toMatch(/^[0-9a-f]{64}$/);
      expect(send.attributes).toMatchObject({
        'messaging.system.name': 'kafka',
        'messaging.operation.type': 'send',
        'messaging.destination.name': `${prefix}chunks`,
        'backstream.snapshot.id': summary.snapshotId,
      });
      expect(worker!.attributes).toMatchObject({
        'messaging.system.name': 'kafka',
        'messaging.operation.type': 'process',
        'messaging.destination.name': `${prefix}chunks`,
        'messaging.consumer.group.name': consumerGroupId(config, 'chunk-worker'),
        'kafka.message.key': hash,
      });
      expect(put!.attributes).toMatchObject({
        'aws.s3.bucket': config.s3.bucket,
        'aws.s3.key': blockKey(hash as string),
      });
      expect(verifier!.attributes).toMatchObject({
        'messaging.system.name': 'kafka',
        'messaging.operation.type': 'process',
        'messaging.destination.name': `${prefix}stored`,
        'messaging.consumer.group.name': consumerGroupId(config, 'verifier'),
        'kafka.message.key': hash,
      });
      expect(archiver!.attributes).toMatchObject({
        'messaging.system.name': 'kafka',
        'messaging.operation.type': 'process',
        'messaging.destination.name': `${prefix}progress`,
        'messaging.consumer.group.name': consumerGroupId(config, 'archiver'),
        'kafka.message.key': summary.snapshotId,
      });
    }

    // A log line written inside a span names it: the archiver's commit, inside the processing
    // of the progress event that completed the snapshot.
    const committed = logLines(services.get('archiver')!.output()).find(
      (l) => l.msg === 'snapshot committed' && l.snapshotId === summary.snapshotId,
    );
    expect(committed).toMatchObject({ trace_id: expect.stringMatching(/^[0-9a-f]{32}$/) as unknown });
    const logged = spans.find((s) => s.spanId === committed!.span_id);
    expect(logged).toMatchObject({
      service: 'archiver',
      traceId: committed!.trace_id,
      name: `process ${prefix}progress`,
      kind: OTLP_SPAN_KIND.consumer,
    });
  });
});

describe('/healthz and /readyz', () => {
  it('is alive but not ready while Kafka is unreachable, and ready once it answers and the group is joined', async () => {
    const repo = await repository('ops-ready');
    const brokerPort = await reservePort();
    const groupId = consumerGroupId(repo.config, 'chunk-worker');
    const worker = await startService(
      'chunk-worker',
      { ...repo.env, BACKSTREAM_KAFKA_BROKERS: `127.0.0.1:${brokerPort}` },
      { until: 'health server listening' },
    );
    const port = healthPortOf(worker);
    const alive = await httpGetJson<{ status: string }>(port, '/healthz');
    expect(alive).toMatchObject({ status: 200, body: { status: 'alive' } });

    // The first connection attempt has failed: the report says why.
    await waitFor(
      'a failed Kafka probe in /readyz',
      async () => (await readyz(worker)).body.checks.kafka?.ok === false,
    );
    const notReady = await readyz(worker);
    expect(notReady.status).toBe(503);
    expect(notReady.body.ready).toBe(false);
    expect(notReady.body.checks.kafka!.detail).toMatch(/ECONNREFUSED|connect/i);
    expect(notReady.body.checks.kafka!.detail).toContain(String(brokerPort));
    expect(notReady.body.checks.startup).toMatchObject({
      ok: false,
      detail: expect.stringMatching(/waiting for dependencies/) as unknown,
    });
    // The store is fine and says so.
    expect(notReady.body.checks.store?.ok).toBe(true);
    // Still alive: a liveness probe must not restart a service that waits for its broker.
    expect((await httpGet(port, '/healthz')).status).toBe(200);
    expect(logLines(worker.output()).some((l) => l.msg === 'dependencies not reachable yet; retrying')).toBe(true);

    // The broker appears at that address (only the bootstrap goes through the proxy).
    const proxy = await startTcpProxy({ port: brokerPort, target: kafkaTarget(repo.config) });
    closers.push(() => proxy.close());
    await waitFor('/readyz 200', async () => (await readyz(worker)).status === 200, 60_000, 200);
    const ready = await readyz(worker);
    expect(ready.body.ready).toBe(true);
    expect(proxy.connections()).toBeGreaterThan(0);
    expect(ready.body.checks.kafka).toBeUndefined();
    expect(ready.body.checks.startup).toBeUndefined();
    expect(ready.body.checks['kafka:chunk-worker']).toMatchObject({
      ok: true,
      detail: expect.stringMatching(
        new RegExp(`^member of ${groupId}, ${repo.config.topics.partitions} partition\\(s\\) assigned: `),
      ) as unknown,
    });
    expect(ready.body.checks.store?.ok).toBe(true);
    expect(worker.output()).toContain('service started');
    // Counters are there from the start, at 0, so a rate() has a series before the first chunk.
    const metrics = await metricsOf(worker);
    expect(sumOf(metrics, 'backstream_chunks_processed_total', { service: 'chunk-worker', outcome: 'ok' })).toBe(0);
    expect(sumOf(metrics, 'backstream_dead_letters_total', { service: 'chunk-worker' })).toBe(0);

    // And it stops cleanly, well within the grace period.
    const { code, ms } = await signalAndTime(worker, 'SIGTERM');
    expect({ code, fast: ms < repo.config.shutdown.gracePeriodMs }).toEqual({ code: 0, fast: true });
  });
});

describe('SIGTERM in the middle of a batch', () => {
  it('finishes a batch that can finish, abandons one that cannot, and never commits past unfinished work', async () => {
    const repo = await repository('ops-sigterm');
    const { config, probe } = repo;
    const verifier = await startService('verifier', repo.env);
    const archiver = await startService('archiver', repo.env);
    // The chunk-worker under test reaches S3 through a proxy that can hold the answers to its
    // block PUTs back (its other requests, at start for instance, go through).
    const s3 = await startTcpProxy({
      target: s3Target(config),
      holdIf: (request) => request.startsWith('PUT ') && request.includes('/blocks/'),
    });
    closers.push(() => s3.close());
    const slowEnv = { ...repo.env, BACKSTREAM_S3_ENDPOINT: `http://127.0.0.1:${s3.port}` };
    const heldPuts = (minDelayMs: number): string[] =>
      s3
        .held()
        .filter((h) => h.request.startsWith('PUT ') && h.delayMs >= minDelayMs)
        .map((h) => h.request);

    const tree = join(scratch, 'sigterm-tree');
    await randomTree(tree, 6, 2 * 1024 * 1024);
    await writeFile(join(tree, 'small.txt'), 'a small file\n');

    // 1. A batch that can finish: answers 400 ms late, a long grace period.
    s3.setResponseDelay(400);
    const finishing = await startService('chunk-worker', { ...slowEnv, BACKSTREAM_SHUTDOWN_GRACE_PERIOD_MS: '20000' });
    const backup = spawnCli(['backup', tree, '--source', 'sigterm', '--json'], repo.env);
    const backupExit = new Promise<number | null>((resolve) => backup.proc.once('exit', (code) => resolve(code)));
    await waitFor('a PUT answer held back', () => heldPuts(400).length > 0, 60_000, 20);
    const finished = await signalAndTime(finishing, 'SIGTERM');
    const finishingLog = logLines(finishing.output());
    expect({
      code: finished.code,
      withinGrace: finished.ms < 20_000,
      graceOver: finishingLog.some((l) => String(l.msg).startsWith('grace period over')),
      stopped: finishingLog.some((l) => l.msg === 'stopped'),
    }).toEqual({ code: 0, withinGrace: true, graceOver: false, stopped: true });
    // The batch in flight at the signal was finished and committed.
    const afterFinishing = await committedOffsets(repo);
    const inFlightAtSignal = await chunkMessagesOf(repo, hashesOf(heldPuts(400)));
    expect(inFlightAtSignal.length).toBeGreaterThan(0);
    expect(
      inFlightAtSignal.filter((c) => c.offset >= (afterFinishing.get(c.partition) ?? -1)).map((c) => c.meta.hash),
    ).toEqual([]);

    // 2. A batch that cannot finish: answers held 30 s, a grace period of 8 s. Not shorter: an
    // idle consumer's stop waits for its fetch long-poll (up to 5 s), and this must fail for the
    // stuck batch, not for that.
    const graceMs = 8000;
    s3.setResponseDelay(30_000);
    const abandoning = await startService('chunk-worker', {
      ...slowEnv,
      BACKSTREAM_SHUTDOWN_GRACE_PERIOD_MS: String(graceMs),
    });
    await waitFor('a PUT answer held back 30 s', () => heldPuts(30_000).length > 0, 60_000, 20);
    const stuck = heldPuts(30_000);
    const abandoned = await signalAndTime(abandoning, 'SIGTERM');
    const abandoningLog = logLines(abandoning.output());
    expect({
      code: abandoned.code,
      graceOver: abandoningLog.some((l) => String(l.msg).startsWith('grace period over')),
      stopped: abandoningLog.some((l) => l.msg === 'stopped'),
    }).toEqual({ code: 1, graceOver: true, stopped: false });
    // It waited for the batch (not an instant exit) and left by the end of its grace period.
    expect(abandoned.ms).toBeGreaterThan(graceMs - 2500);
    expect(abandoned.ms).toBeLessThan(graceMs + 1000);

    // 3. No commit past unfinished work: below the group's committed offset, every chunk has
    // its chunk-stored event and its block.
    const committed = await committedOffsets(repo);
    const chunks = await chunkMessagesOf(repo);
    const storedEvents = new Set(
      (await probe.messages('stored')).map((m) => {
        const { event } = decodeJson(m.message, ['chunk-stored']);
        return `${event.snapshotId}/${event.seq}/${event.hash}`;
      }),
    );
    const blocks = await probe.blockHashes();
    const isCommitted = (c: { partition: number; offset: number }): boolean =>
      c.offset < (committed.get(c.partition) ?? -1);
    const done = chunks.filter(isCommitted);
    // Work was committed before the stops.
    expect(done.length).toBeGreaterThan(0);
    const unaccounted = done.filter(
      (c) => !storedEvents.has(`${c.meta.snapshotId}/${c.meta.seq}/${c.meta.hash}`) || !blocks.has(c.meta.hash),
    );
    expect(unaccounted).toEqual([]);
    // The chunks whose answers were held back, in the abandoned batch, were not committed.
    const stuckChunks = chunks.filter((c) => hashesOf(stuck).has(c.meta.hash));
    expect(stuckChunks.length).toBeGreaterThan(0);
    expect(stuckChunks.filter(isCommitted)).toEqual([]);

    // 4. A normal chunk-worker takes over; the backup commits and restores byte for byte.
    const takeover = await startService('chunk-worker', repo.env);
    const exit = await backupExit;
    if (exit !== 0) {
      throw new Error(
        `backup exited ${exit}:\n${backup.stderr()}\n${[takeover, verifier, archiver].map((s) => tail(s)).join('\n')}`,
      );
    }
    const summary = backupSummary(backup.stdout());
    await restoreMatches(repo, summary.snapshotId, 'sigterm', tree);
    await Promise.all([takeover, verifier, archiver].map((s) => s.kill('SIGTERM')));
  });
});

describe('scaling chunk-workers out during a backup', () => {
  it('shares the backlog with two more workers, survives SIGKILL of one, and commits an identical snapshot', async () => {
    const repo = await repository('ops-scale');
    const { config, probe } = repo;
    const verifier = await startService('verifier', repo.env);
    const archiver = await startService('archiver', repo.env);
    // Two of the three workers cannot keep up (their S3 answers come 100 ms late, two at a time
    // per partition): a backlog builds up, as it would before anyone scales out, and the worker
    // killed below surely dies with work left on its partitions.
    const s3 = await startTcpProxy({ target: s3Target(config) });
    closers.push(() => s3.close());
    const slowEnv = {
      ...repo.env,
      BACKSTREAM_S3_ENDPOINT: `http://127.0.0.1:${s3.port}`,
      BACKSTREAM_STORE_CONCURRENCY: '2',
    };
    const first = await startService('chunk-worker', slowEnv);
    s3.setResponseDelay(100);

    const tree = join(scratch, 'scale-tree');
    await randomTree(tree, 6, 8 * 1024 * 1024);
    const backup = spawnCli(['backup', tree, '--source', 'scale', '--json'], repo.env);
    const backupExit = new Promise<number | null>((resolve) => backup.proc.once('exit', (code) => resolve(code)));
    await waitFor('the backup sending chunks', async () => (await probe.messageCount('chunks')) >= 50);

    const [victim, survivor] = await Promise.all([
      startService('chunk-worker', slowEnv),
      startService('chunk-worker', repo.env),
    ]);
    const group = consumerGroupId(config, 'chunk-worker');
    const admin = probe.kafka.admin();
    await admin.connect();
    try {
      await waitFor(
        'three workers in the group, both new ones ready',
        async () => {
          const { groups } = await admin.describeGroups([group]);
          if (groups[0]?.state !== 'Stable' || groups[0].members.length !== 3) return false;
          return (await Promise.all([victim, survivor].map((w) => readyz(w)))).every((r) => r.status === 200);
        },
        60_000,
        200,
      );
    } finally {
      await admin.disconnect();
    }
    const assigned: number[][] = [];
    for (const w of [victim, survivor]) {
      const detail = (await readyz(w)).body.checks['kafka:chunk-worker']?.detail ?? '';
      expect(detail).toMatch(new RegExp(`^member of ${group}, [1-9]\\d* partition\\(s\\) assigned: `));
      assigned.push((/\[([\d,]+)\]/.exec(detail)?.[1] ?? '').split(',').map(Number));
    }
    // Still mid-backup, and the victim holds partitions with chunks not stored yet.
    expect(backup.proc.exitCode).toBeNull();
    const committed = await committedOffsets(repo);
    const lagOfVictim = (await chunkMessagesOf(repo)).filter(
      (c) => assigned[0]!.includes(c.partition) && c.offset >= (committed.get(c.partition) ?? -1),
    ).length;
    expect(lagOfVictim).toBeGreaterThan(0);

    await victim.kill('SIGKILL');
    // The backlog served its purpose: from now on the first worker is as fast as the survivor.
    s3.setResponseDelay(0);
    const exit = await backupExit;
    if (exit !== 0) {
      throw new Error(
        `backup exited ${exit}:\n${backup.stderr()}\n${[first, survivor, verifier, archiver].map((s) => tail(s)).join('\n')}`,
      );
    }
    const summary = backupSummary(backup.stdout());

    // The survivor took part (the victim's work may have been redone by others).
    const processed = async (w: ServiceProcess): Promise<number> =>
      sumOf(await metricsOf(w), 'backstream_chunks_processed_total', { service: 'chunk-worker', outcome: 'ok' }) ?? 0;
    expect(await processed(survivor)).toBeGreaterThan(0);
    expect(await processed(first)).toBeGreaterThan(0);

    await restoreMatches(repo, summary.snapshotId, 'scale', tree);
    await Promise.all([first, survivor, verifier, archiver].map((s) => s.kill('SIGTERM')));
  }, 180_000);
});
