import { SpanKind, context, trace } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import type { KafkaMessage, Message } from 'kafkajs';
import { inInternalSpan, linksOf, processMessage, sendMessage, withTraceContext } from './messaging';
import { setTracingEnabled } from './state';

/** What a consumer gets for a message a producer sent: headers as Buffers, as kafkajs hands them over. */
function delivered(message: Message, offset: number): KafkaMessage {
  const headers = Object.fromEntries(
    Object.entries(message.headers ?? {}).map(([k, v]) => [k, Buffer.from(String(v))]),
  );
  return {
    key: message.key === undefined || message.key === null ? null : Buffer.from(String(message.key)),
    value: Buffer.from(String(message.value)),
    timestamp: '0',
    attributes: 0,
    offset: String(offset),
    headers,
  };
}

const exporter = new InMemorySpanExporter();
const sdk = new NodeSDK({
  spanProcessors: [new SimpleSpanProcessor(exporter)],
  metricReaders: [],
  logRecordProcessors: [],
  instrumentations: [],
  autoDetectResources: false,
  textMapPropagator: new W3CTraceContextPropagator(),
});

beforeAll(() => sdk.start());
afterAll(() => sdk.shutdown());
beforeEach(() => {
  exporter.reset();
  setTracingEnabled(true);
});

function named(name: string): ReadableSpan {
  const span = exporter.getFinishedSpans().find((s) => s.name === name);
  if (!span)
    throw new Error(
      `no span ${name}; have ${exporter
        .getFinishedSpans()
        .map((s) => s.name)
        .join(', ')}`,
    );
  return span;
}

describe('trace context across Kafka hops', () => {
  it('links send → process → process → process into one trace, each hop a child of the last', async () => {
    const sent = await sendMessage('p.chunks', (traced) =>
      Promise.resolve(traced({ key: 'h1', value: 'chunk bytes' })),
    );
    expect(sent.headers?.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);

    const stored = await processMessage(
      { topic: 'p.chunks', partition: 3, groupId: 'p.chunk-worker', message: delivered(sent, 41) },
      () => Promise.resolve(withTraceContext({ key: 'h1', value: 'stored' })),
    );
    const progress = await processMessage(
      { topic: 'p.stored', partition: 0, groupId: 'p.verifier', message: delivered(stored, 7) },
      () => Promise.resolve(withTraceContext({ key: 's1', value: 'verified' })),
    );
    await processMessage(
      { topic: 'p.progress', partition: 1, groupId: 'p.archiver', message: delivered(progress, 9) },
      () => Promise.resolve(),
    );

    const send = named('send p.chunks');
    const worker = named('process p.chunks');
    const verifier = named('process p.stored');
    const archiver = named('process p.progress');
    expect(send.kind).toBe(SpanKind.PRODUCER);
    expect([worker.kind, verifier.kind, archiver.kind]).toEqual([
      SpanKind.CONSUMER,
      SpanKind.CONSUMER,
      SpanKind.CONSUMER,
    ]);
    const traceId = send.spanContext().traceId;
    for (const s of [worker, verifier, archiver]) expect(s.spanContext().traceId).toBe(traceId);
    expect(worker.parentSpanContext?.spanId).toBe(send.spanContext().spanId);
    expect(verifier.parentSpanContext?.spanId).toBe(worker.spanContext().spanId);
    expect(archiver.parentSpanContext?.spanId).toBe(verifier.spanContext().spanId);
    expect(worker.attributes).toMatchObject({
      'messaging.system.name': 'kafka',
      'messaging.operation.type': 'process',
      'messaging.destination.name': 'p.chunks',
      'messaging.destination.partition.id': '3',
      'messaging.consumer.group.name': 'p.chunk-worker',
      'kafka.offset': 41,
      'kafka.message.key': 'h1',
    });
    expect(send.attributes).toMatchObject({
      'messaging.operation.type': 'send',
      'messaging.destination.name': 'p.chunks',
    });
  });

  it('starts a new trace per chunk under a backup span, linked to it', async () => {
    const traceIds = await inInternalSpan('backup', {}, async () => {
      const a = await sendMessage('p.chunks', (t) => Promise.resolve(t({ value: 'a' })), { newTrace: true });
      const b = await sendMessage('p.chunks', (t) => Promise.resolve(t({ value: 'b' })), { newTrace: true });
      return [a, b].map((m) => String(m.headers?.traceparent).split('-')[1]);
    });
    const backup = named('backup');
    expect(new Set(traceIds).size).toBe(2);
    expect(traceIds).not.toContain(backup.spanContext().traceId);
    const sends = exporter.getFinishedSpans().filter((s) => s.name === 'send p.chunks');
    for (const s of sends) {
      expect(s.parentSpanContext).toBeUndefined();
      expect(s.links.map((l) => l.context.spanId)).toEqual([backup.spanContext().spanId]);
    }
  });

  it('marks a failed processing span as an error and rethrows', async () => {
    const message = delivered({ value: 'x' }, 1);
    await expect(
      processMessage({ topic: 't', partition: 0, groupId: 'g', message }, () => Promise.reject(new RangeError('bad'))),
    ).rejects.toThrow('bad');
    const span = named('process t');
    expect(span.status.code).toBe(2);
    expect(span.attributes['error.type']).toBe('RangeError');
  });

  it('a message without trace headers starts a trace of its own', async () => {
    await processMessage({ topic: 't', partition: 0, groupId: 'g', message: delivered({ value: 'x' }, 1) }, () =>
      Promise.resolve(),
    );
    expect(named('process t').parentSpanContext).toBeUndefined();
  });

  it('collects links to the traces a batch of messages carries', async () => {
    const a = await sendMessage('t', (t) => Promise.resolve(t({ value: 'a' })), { newTrace: true });
    const links = linksOf([delivered(a, 0), delivered({ value: 'untraced' }, 1)]);
    expect(links.map((l) => l.context.traceId)).toEqual([String(a.headers?.traceparent).split('-')[1]]);
  });
});

describe('with tracing off', () => {
  beforeEach(() => setTracingEnabled(false));

  it('adds no headers, records no spans and still runs the work', async () => {
    const sent = await sendMessage('t', (traced) => Promise.resolve(traced({ value: 'a', headers: { x: '1' } })));
    expect(sent.headers).toEqual({ x: '1' });
    const out = await processMessage({ topic: 't', partition: 0, groupId: 'g', message: delivered(sent, 0) }, () =>
      Promise.resolve(trace.getSpan(context.active())),
    );
    expect(out).toBeUndefined();
    expect(withTraceContext({ value: 'b' })).toEqual({ value: 'b' });
    expect(exporter.getFinishedSpans()).toHaveLength(0);
  });
});
