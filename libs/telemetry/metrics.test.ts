import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Readiness, startHealthServer, type HealthServer } from '../health';
import { backstreamMetrics, recordConsumerLag, recordDedup } from './metrics';
import { instrumentS3Client } from './s3';
import { startTelemetry, type Telemetry } from './sdk';
import { tracingEnabled } from './state';

/** A stand-in S3 endpoint: HEAD → 404, PUT → 412 for key "exists" else 200, GET → 503. */
function fakeS3(): Promise<Server> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.method === 'HEAD') res.writeHead(404).end();
      else if (req.method === 'PUT') res.writeHead(req.url?.includes('exists') ? 412 : 200).end();
      else res.writeHead(503, { 'content-type': 'application/xml' }).end('<Error><Code>SlowDown</Code></Error>');
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

/** Metric lines of the Prometheus text, without comments. */
function samples(text: string): string[] {
  return text.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
}

function value(text: string, prefix: string): number | undefined {
  const line = samples(text).find((l) => l.startsWith(prefix));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

let telemetry: Telemetry;
let health: HealthServer;

async function scrape(): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${health.port}/metrics`);
  expect(res.status).toBe(200);
  return res.text();
}

beforeAll(async () => {
  telemetry = startTelemetry(
    { otlpEndpoint: '', prometheus: true, traceSampleRatio: 1, metricsExportIntervalMs: 60000 },
    { service: 'unit', serveMetrics: true },
  );
  health = await startHealthServer({
    port: 0,
    host: '127.0.0.1',
    readiness: new Readiness(),
    metrics: telemetry.metricsHandler,
  });
});

afterAll(async () => {
  await health.close();
  await telemetry.shutdown();
});

describe('metrics on /metrics', () => {
  it('serves metrics without tracing when only Prometheus is on', () => {
    expect(telemetry.metricsHandler).toBeDefined();
    expect(telemetry.tracing).toBe(false);
    expect(tracingEnabled()).toBe(false);
  });

  it('shows counters, the lag gauge and the dedup ratio in the Prometheus text format', async () => {
    const m = backstreamMetrics();
    m.chunksProcessed.add(3, { service: 'chunk-worker', outcome: 'ok' });
    m.bytesProcessed.add(3 * 1024, { service: 'chunk-worker' });
    m.verificationFailures.add(0);
    recordConsumerLag('g', 'p.chunks', 2, 17);
    recordConsumerLag('g', 'p.chunks', 2, 5);
    recordDedup('verifier', 'new', 300);
    recordDedup('verifier', 'existing', 100);
    const text = await scrape();
    expect(value(text, 'backstream_chunks_processed_total{service="chunk-worker",outcome="ok"}')).toBe(3);
    expect(value(text, 'backstream_bytes_processed_total{service="chunk-worker"}')).toBe(3072);
    expect(value(text, 'backstream_verification_failures_total')).toBe(0);
    // The latest lag of a partition, not a sum of what was seen.
    expect(
      value(
        text,
        'backstream_consumer_lag{messaging_consumer_group_name="g",messaging_destination_name="p.chunks",messaging_destination_partition_id="2"}',
      ),
    ).toBe(5);
    expect(value(text, 'backstream_dedup_ratio')).toBeCloseTo(0.25);
    expect(value(text, 'backstream_dedup_bytes_total{service="verifier",result="existing"}')).toBe(100);
  });

  it('times S3 requests by operation; 404 and 412 are outcomes, a 503 is an error', async () => {
    const server = await fakeS3();
    const s3 = instrumentS3Client(
      new S3Client({
        endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        region: 'us-east-1',
        forcePathStyle: true,
        maxAttempts: 1,
        credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
      }),
    );
    try {
      await expect(s3.send(new HeadObjectCommand({ Bucket: 'b', Key: 'missing' }))).rejects.toThrow();
      await s3.send(new PutObjectCommand({ Bucket: 'b', Key: 'new', Body: 'x' }));
      await expect(s3.send(new PutObjectCommand({ Bucket: 'b', Key: 'exists', Body: 'x' }))).rejects.toThrow();
      await expect(s3.send(new GetObjectCommand({ Bucket: 'b', Key: 'k' }))).rejects.toThrow();
    } finally {
      s3.destroy();
      server.close();
    }
    const text = await scrape();
    const count = (labels: string): number | undefined =>
      value(text, `backstream_s3_request_duration_count{${labels}}`);
    expect(count('operation="HeadObject",outcome="not_found"')).toBe(1);
    expect(count('operation="PutObject",outcome="ok"')).toBe(1);
    expect(count('operation="PutObject",outcome="exists"')).toBe(1);
    expect(count('operation="GetObject",outcome="error"')).toBe(1);
    expect(value(text, 'backstream_s3_request_errors_total{operation="GetObject",error_type="503"}')).toBe(1);
    expect(samples(text).filter((l) => l.startsWith('backstream_s3_request_errors_total'))).toHaveLength(1);
  });
});

describe('startTelemetry', () => {
  it('starts nothing when neither Prometheus nor OTLP is configured', async () => {
    const off = startTelemetry(
      { otlpEndpoint: '', prometheus: true, traceSampleRatio: 1, metricsExportIntervalMs: 1000 },
      { service: 'cli', serveMetrics: false },
    );
    expect(off.metricsHandler).toBeUndefined();
    expect(off.tracing).toBe(false);
    await off.shutdown();
  });
});
