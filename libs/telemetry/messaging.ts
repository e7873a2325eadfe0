import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  context,
  propagation,
  trace,
  type Attributes,
  type Context,
  type Link,
  type Span,
  type TextMapGetter,
  type TextMapSetter,
} from '@opentelemetry/api';
import {
  ATTR_KAFKA_MESSAGE_KEY,
  ATTR_KAFKA_OFFSET,
  ATTR_MESSAGING_CONSUMER_GROUP_NAME,
  ATTR_MESSAGING_DESTINATION_NAME,
  ATTR_MESSAGING_DESTINATION_PARTITION_ID,
  ATTR_MESSAGING_MESSAGE_BODY_SIZE,
  ATTR_MESSAGING_OPERATION_NAME,
  ATTR_MESSAGING_OPERATION_TYPE,
  ATTR_MESSAGING_SYSTEM_NAME,
} from '@opentelemetry/semantic-conventions/incubating';
import { ATTR_ERROR_TYPE } from '@opentelemetry/semantic-conventions';
import type { IHeaders, KafkaMessage, Message } from 'kafkajs';
import { tracingEnabled } from './state';

/**
 * Trace context across Kafka: W3C `traceparent`/`tracestate` in message headers, spans named
 * and attributed after OpenTelemetry's messaging conventions (`send <topic>` as a PRODUCER
 * span, `process <topic>` as a CONSUMER span whose parent is the context the message carries),
 * so one chunk's journey — backup → chunk-worker → verifier → archiver — is one trace.
 */
export const tracer = trace.getTracer('backstream');

const headerGetter: TextMapGetter<IHeaders | undefined> = {
  keys: (carrier) => Object.keys(carrier ?? {}),
  get: (carrier, key) => {
    const value = carrier?.[key];
    const one = Array.isArray(value) ? value[0] : value;
    if (one === undefined) return undefined;
    return Buffer.isBuffer(one) ? one.toString('utf8') : one;
  },
};

const headerSetter: TextMapSetter<IHeaders> = {
  set: (carrier, key, value) => {
    carrier[key] = value;
  },
};

/** The message with the current trace context added to its headers (unchanged when tracing is off). */
export function withTraceContext(message: Message, ctx: Context = context.active()): Message {
  if (!tracingEnabled()) return message;
  const headers: IHeaders = { ...(message.headers ?? {}) };
  propagation.inject(ctx, headers, headerSetter);
  return { ...message, headers };
}

/** The trace context a consumed message carries (the root context when it carries none). */
export function traceContextOf(headers: IHeaders | undefined): Context {
  return propagation.extract(ROOT_CONTEXT, headers, headerGetter);
}

async function inSpan<T>(span: Span, ctx: Context, fn: () => Promise<T>): Promise<T> {
  try {
    return await context.with(trace.setSpan(ctx, span), fn);
  } catch (err) {
    span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
    span.setAttribute(ATTR_ERROR_TYPE, err instanceof Error ? err.constructor.name : 'Error');
    throw err;
  } finally {
    span.end();
  }
}

export interface ConsumedMessage {
  topic: string;
  partition: number;
  groupId: string;
  message: KafkaMessage;
}

/**
 * Runs `fn` as the processing of one consumed message: a CONSUMER span `process <topic>`
 * whose parent is the message's trace context. Messages `fn` sends should go through
 * withTraceContext inside it, so the next stage continues the same trace.
 */
export function processMessage<T>(consumed: ConsumedMessage, fn: () => Promise<T>): Promise<T> {
  if (!tracingEnabled()) return fn();
  const { topic, partition, groupId, message } = consumed;
  const parent = traceContextOf(message.headers);
  const attributes: Attributes = {
    [ATTR_MESSAGING_SYSTEM_NAME]: 'kafka',
    [ATTR_MESSAGING_OPERATION_TYPE]: 'process',
    [ATTR_MESSAGING_OPERATION_NAME]: 'process',
    [ATTR_MESSAGING_DESTINATION_NAME]: topic,
    [ATTR_MESSAGING_DESTINATION_PARTITION_ID]: String(partition),
    [ATTR_MESSAGING_CONSUMER_GROUP_NAME]: groupId,
    [ATTR_KAFKA_OFFSET]: Number(message.offset),
    [ATTR_MESSAGING_MESSAGE_BODY_SIZE]: message.value?.length ?? 0,
  };
  if (message.key) attributes[ATTR_KAFKA_MESSAGE_KEY] = message.key.toString('utf8');
  const span = tracer.startSpan(`process ${topic}`, { kind: SpanKind.CONSUMER, attributes }, parent);
  return inSpan(span, parent, fn);
}

export interface SendOptions {
  /** Start a new trace (one per chunk) rather than a child of the active span, which becomes a link. */
  newTrace?: boolean;
  attributes?: Attributes;
}

/**
 * Runs `fn` as the sending of a message to `topic`: a PRODUCER span `send <topic>`.
 * `fn` receives a function that adds this span's context to a message's headers.
 */
export function sendMessage<T>(
  topic: string,
  fn: (traced: (message: Message) => Message) => Promise<T>,
  options: SendOptions = {},
): Promise<T> {
  if (!tracingEnabled()) return fn((m) => m);
  const active = context.active();
  const activeSpan = trace.getSpan(active);
  const links: Link[] = options.newTrace && activeSpan ? [{ context: activeSpan.spanContext() }] : [];
  const parent = options.newTrace ? ROOT_CONTEXT : active;
  const span = tracer.startSpan(
    `send ${topic}`,
    {
      kind: SpanKind.PRODUCER,
      links,
      attributes: {
        [ATTR_MESSAGING_SYSTEM_NAME]: 'kafka',
        [ATTR_MESSAGING_OPERATION_TYPE]: 'send',
        [ATTR_MESSAGING_OPERATION_NAME]: 'send',
        [ATTR_MESSAGING_DESTINATION_NAME]: topic,
        ...options.attributes,
      },
    },
    parent,
  );
  const spanContext = trace.setSpan(parent, span);
  return inSpan(span, parent, () => fn((m) => withTraceContext(m, spanContext)));
}

/** Runs `fn` in an INTERNAL span (a backup, a ledger append) when tracing is on. */
export function inInternalSpan<T>(
  name: string,
  attributes: Attributes,
  fn: () => Promise<T>,
  links: Link[] = [],
): Promise<T> {
  if (!tracingEnabled()) return fn();
  const active = context.active();
  const span = tracer.startSpan(name, { kind: SpanKind.INTERNAL, attributes, links }, active);
  return inSpan(span, active, fn);
}

/** Links to the trace contexts some consumed messages carry (a batch handled as one). */
export function linksOf(messages: Iterable<KafkaMessage>): Link[] {
  if (!tracingEnabled()) return [];
  const links: Link[] = [];
  for (const m of messages) {
    const span = trace.getSpanContext(traceContextOf(m.headers));
    if (span) links.push({ context: span });
  }
  return links;
}
