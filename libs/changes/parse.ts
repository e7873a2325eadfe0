import type { IHeaders } from 'kafkajs';
import { z } from 'zod';
import { ConfigError, InvalidEventError } from '../errors';
import { headerString } from '../events';
import { canonicalJson, isJsonObject, parseJson, type JsonValue } from './json';
import {
  changeId,
  inlinePayload,
  type Change,
  type ChangeFormat,
  type ChangePayload,
  type ChangeRecord,
} from './record';
import {
  CHANGE_EVENT_VERSION,
  CHANGE_LIMITS,
  DEFAULT_CONTENT_TYPE,
  changeEventSchema,
  deleteSchema,
  sourceNameSchema,
  upsertBase64Schema,
  upsertJsonSchema,
  upsertRefSchema,
  type ChangeEvent,
} from './schema';

/** Headers a change record may carry. */
export const CHANGE_HEADERS = {
  /** The source of a tombstone or a Debezium event (a native event names its own, and must agree). */
  source: 'bs-source',
} as const;

/** A consumed record (a kafkajs KafkaMessage plus its topic and partition fits). */
export interface RawChangeMessage {
  topic: string;
  partition: number;
  offset: string;
  /** Milliseconds since the epoch, as kafkajs gives it. */
  timestamp: string | number;
  key: Buffer | null;
  value: Buffer | null;
  headers?: IHeaders;
}

export interface ParseOptions {
  /**
   * The source configured for the topic. It names the source of records that carry no
   * `source` field: tombstones, and Debezium events (over the name derived from their
   * source block). A `bs-source` header beats it. Native events name their own source.
   */
  source?: string;
  /** Larger values are refused before parsing. Default CHANGE_LIMITS.valueBytes. */
  maxValueBytes?: number;
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function text(bytes: Buffer, what: string): string {
  try {
    return utf8.decode(bytes);
  } catch (err) {
    throw new InvalidEventError(`${what} is not UTF-8 text (Avro or Protobuf records are not accepted)`, {
      cause: err,
    });
  }
}

function json(source: string, what: string): JsonValue {
  try {
    return parseJson(source);
  } catch (err) {
    throw new InvalidEventError(`${what} is not JSON: ${(err as Error).message}`, { cause: err });
  }
}

function firstIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  const where = issue && issue.path.length > 0 ? issue.path.join('.') : '(root)';
  return `${where}: ${issue?.message ?? 'does not match the schema'}`;
}

/** Shows a JSON value in a message, shortened. */
function show(value: JsonValue): string {
  const t = canonicalJson(value);
  return t.length > 80 ? `${t.slice(0, 77)}...` : t;
}

/** Kafka Connect's JsonConverter envelope (schemas.enable=true): exactly `schema` and `payload`. */
function connectPayload(value: { [key: string]: JsonValue }): JsonValue | undefined {
  const keys = Object.keys(value);
  const isEnvelope =
    keys.length === 2 &&
    keys.includes('schema') &&
    keys.includes('payload') &&
    (value.schema === null || isJsonObject(value.schema));
  return isEnvelope ? value.payload : undefined;
}

/**
 * The canonical form of an entity key. Text that is a JSON object (Debezium keys, other
 * structured keys) becomes its canonical JSON: the Connect envelope's `payload` if it is
 * one, keys sorted, no whitespace, so {"id": 1} and {"schema":{...},"payload":{"id":1}}
 * are both {"id":1}. Any other text (including JSON that does not parse) is the key as it
 * is. Throws an InvalidEventError for an empty or too long key.
 */
export function canonicalKey(keyText: string): string {
  let key = keyText;
  if (/^[ \t\n\r]*\{/.test(keyText)) {
    let parsed: JsonValue | undefined;
    try {
      parsed = parseJson(keyText);
    } catch {
      parsed = undefined;
    }
    if (parsed !== undefined && isJsonObject(parsed)) {
      const payload = connectPayload(parsed);
      if (payload === null) throw new InvalidEventError('the key is a Connect envelope with a null payload');
      const inner = payload ?? parsed;
      key = canonicalJson(inner);
    }
  }
  if (key.length === 0) throw new InvalidEventError('the key is empty');
  if (key.length > CHANGE_LIMITS.keyLength) {
    throw new InvalidEventError(`the key has ${key.length} characters, more than ${CHANGE_LIMITS.keyLength}`);
  }
  return key;
}

function recordKey(message: RawChangeMessage): string | undefined {
  if (message.key === null) return undefined;
  if (message.key.length === 0) throw new InvalidEventError('the record key is empty');
  return canonicalKey(text(message.key, 'the record key'));
}

function headerSource(message: RawChangeMessage): string | undefined {
  const value = headerString(message.headers, CHANGE_HEADERS.source);
  if (value === undefined) return undefined;
  const parsed = sourceNameSchema.safeParse(value);
  if (!parsed.success) throw new InvalidEventError(`header ${CHANGE_HEADERS.source}: ${firstIssue(parsed.error)}`);
  return parsed.data;
}

function configuredSource(message: RawChangeMessage, options: ParseOptions): string | undefined {
  if (options.source === undefined) return undefined;
  const parsed = sourceNameSchema.safeParse(options.source);
  if (!parsed.success) {
    throw new ConfigError(`the source configured for topic ${message.topic} is invalid: ${firstIssue(parsed.error)}`);
  }
  return parsed.data;
}

function record(message: RawChangeMessage, format: ChangeFormat, change: Change): ChangeRecord {
  const coordinates = { topic: message.topic, partition: message.partition, offset: message.offset };
  return { ...change, id: changeId(change), format, coordinates };
}

/** A null value: delete the record key, at the record's timestamp. */
function fromTombstone(message: RawChangeMessage, options: ParseOptions): ChangeRecord {
  const key = recordKey(message);
  if (key === undefined) throw new InvalidEventError('a tombstone without a record key: nothing to delete');
  const source = headerSource(message) ?? configuredSource(message, options);
  if (source === undefined) {
    throw new InvalidEventError(
      `a tombstone without a source: set header ${CHANGE_HEADERS.source} or configure a source for topic ${message.topic}`,
    );
  }
  const ts = message.timestamp;
  const tsMs = typeof ts === 'number' ? ts : /^\d{1,15}$/.test(ts) ? Number(ts) : Number.NaN;
  if (!Number.isSafeInteger(tsMs) || tsMs < 0 || tsMs > CHANGE_LIMITS.tsMs) {
    throw new InvalidEventError(`a tombstone without a usable record timestamp (${String(message.timestamp)})`);
  }
  return record(message, 'tombstone', { source, key, op: 'delete', tsMs, payload: null });
}

/** The variant an event claims to be, or why it is none: so that a rejection names the real fault. */
function explain(event: { [key: string]: JsonValue }): string {
  if (event.v !== undefined && event.v !== CHANGE_EVENT_VERSION) {
    return `v: unsupported version ${show(event.v)} (this build reads ${CHANGE_EVENT_VERSION})`;
  }
  const has = (field: string): boolean => Object.hasOwn(event, field);
  let variant: z.ZodType;
  if (event.op === 'delete') {
    if (has('data') || has('ref')) return 'a delete carries neither data nor ref';
    variant = deleteSchema;
  } else if (event.op === 'upsert') {
    if (has('data') && has('ref')) return 'an upsert carries exactly one of data and ref, not both';
    if (!has('data') && !has('ref')) return 'an upsert carries data or ref';
    if (has('ref')) variant = upsertRefSchema;
    else variant = event.dataEncoding === 'base64' ? upsertBase64Schema : upsertJsonSchema;
  } else if (event.op === undefined) {
    return 'op: required, "upsert" or "delete"';
  } else {
    return `op: unknown op ${show(event.op)}, expected "upsert" or "delete"`;
  }
  const parsed = variant.safeParse(event);
  return parsed.success ? 'does not match the schema' : firstIssue(parsed.error);
}

function tsMsOf(ts: string | number): number {
  if (typeof ts === 'number') return ts;
  const ms = Date.parse(ts);
  if (!(ms >= 0 && ms <= CHANGE_LIMITS.tsMs)) {
    throw new InvalidEventError(
      `invalid change event: ts: ${ts} is outside 1970-01-01T00:00:00Z … 9999-12-31T23:59:59.999Z`,
    );
  }
  return ms;
}

function fromNative(message: RawChangeMessage, value: { [key: string]: JsonValue }): ChangeRecord {
  const parsed = changeEventSchema.safeParse(value);
  if (!parsed.success) throw new InvalidEventError(`invalid change event: ${explain(value)}`);
  const event: ChangeEvent = parsed.data;
  const key = canonicalKey(event.key);
  const fromRecord = recordKey(message);
  if (fromRecord !== undefined && fromRecord !== key) {
    throw new InvalidEventError(
      `key mismatch: the record key is ${JSON.stringify(fromRecord)}, the event's key ${JSON.stringify(key)} (versions of one key must share a partition to keep their order)`,
    );
  }
  const fromHeader = headerSource(message);
  if (fromHeader !== undefined && fromHeader !== event.source) {
    throw new InvalidEventError(
      `source mismatch: header ${CHANGE_HEADERS.source} says ${JSON.stringify(fromHeader)}, the event ${JSON.stringify(event.source)}`,
    );
  }
  const change = { source: event.source, key, tsMs: tsMsOf(event.ts) };
  if (event.op === 'delete') return record(message, 'native', { ...change, op: 'delete', payload: null });
  let payload: ChangePayload;
  if ('ref' in event) {
    const { key: refKey, size, sha256 } = event.ref;
    payload = {
      kind: 'ref',
      contentType: event.contentType ?? DEFAULT_CONTENT_TYPE.bytes,
      key: refKey,
      size,
      sha256,
    };
  } else if (event.dataEncoding === 'base64') {
    payload = inlinePayload(
      Buffer.from(event.data, 'base64'),
      'base64',
      event.contentType ?? DEFAULT_CONTENT_TYPE.bytes,
    );
  } else {
    // `data` came from parseJson, so it is a JsonValue (ExactNumbers included).
    const bytes = Buffer.from(canonicalJson(event.data as JsonValue));
    payload = inlinePayload(bytes, 'json', event.contentType ?? DEFAULT_CONTENT_TYPE.json);
  }
  return record(message, 'native', { ...change, op: 'upsert', payload });
}

const debeziumSchema = z.looseObject({
  op: z.string({ error: 'required, one of c, r, u, d' }),
  before: z.unknown().optional(),
  after: z.unknown().optional(),
  source: z.looseObject({
    name: z.string().nullish(),
    db: z.string().nullish(),
    schema: z.string().nullish(),
    table: z.string().nullish(),
    collection: z.string().nullish(),
    ts_ms: z.int().nullish(),
  }),
  ts_ms: z.int().nullish(),
});

/**
 * The source of a Debezium event: header bs-source, else the topic's configured source,
 * else derived from the source block as name.db[.schema].table (or .collection) — the
 * connector's logical server name is part of it, so two servers with the same table
 * names stay apart. It is Debezium's default topic name.
 */
function debeziumSource(
  message: RawChangeMessage,
  options: ParseOptions,
  block: z.infer<typeof debeziumSchema>['source'],
): string {
  const explicit = headerSource(message) ?? configuredSource(message, options);
  if (explicit !== undefined) return explicit;
  const parts = [block.name, block.db, block.schema, block.table ?? block.collection];
  const derived = parts.filter((p): p is string => typeof p === 'string' && p !== '').join('.');
  const hint = `configure a source for topic ${message.topic} or set header ${CHANGE_HEADERS.source}`;
  if (derived === '') throw new InvalidEventError(`Debezium event: no source name in its source block: ${hint}`);
  const parsed = sourceNameSchema.safeParse(derived);
  if (!parsed.success) {
    throw new InvalidEventError(
      `Debezium event: the source name ${JSON.stringify(derived)} derived from its source block is invalid (${firstIssue(parsed.error)}): ${hint}`,
    );
  }
  return parsed.data;
}

function fromDebezium(
  message: RawChangeMessage,
  options: ParseOptions,
  value: { [key: string]: JsonValue },
): ChangeRecord {
  const parsed = debeziumSchema.safeParse(value);
  if (!parsed.success) throw new InvalidEventError(`invalid Debezium event: ${firstIssue(parsed.error)}`);
  const envelope = parsed.data;
  const op = envelope.op;
  if (op === 't') {
    throw new InvalidEventError(
      'Debezium truncate events (op "t") are not accepted: they delete every key of a table at once (skip them with skipped.operations=t)',
    );
  }
  if (op === 'm') throw new InvalidEventError('Debezium message events (op "m") carry no row and are not accepted');
  if (!['c', 'r', 'u', 'd'].includes(op)) {
    throw new InvalidEventError(`invalid Debezium event: unknown op ${JSON.stringify(op)}, expected c, r, u or d`);
  }
  const key = recordKey(message);
  if (key === undefined) {
    throw new InvalidEventError(
      'a Debezium event without a record key: the key identifies the row (tables without a primary key need message.key.columns)',
    );
  }
  const source = debeziumSource(message, options, envelope.source);
  // source.ts_ms: when the database made the change; ts_ms: when Debezium processed it.
  const sourceTs = envelope.source.ts_ms;
  const tsMs = typeof sourceTs === 'number' && sourceTs > 0 ? sourceTs : envelope.ts_ms;
  if (tsMs === null || tsMs === undefined) {
    throw new InvalidEventError('invalid Debezium event: no source.ts_ms and no ts_ms');
  }
  if (tsMs < 0 || tsMs > CHANGE_LIMITS.tsMs) {
    throw new InvalidEventError(`invalid Debezium event: ts_ms ${tsMs} is out of range`);
  }
  const change = { source, key, tsMs };
  if (op === 'd') return record(message, 'debezium', { ...change, op: 'delete', payload: null });
  const after = value.after;
  if (after === undefined || after === null) {
    throw new InvalidEventError(`invalid Debezium event: op "${op}" without after`);
  }
  const payload = inlinePayload(Buffer.from(canonicalJson(after)), 'json', DEFAULT_CONTENT_TYPE.json);
  return record(message, 'debezium', { ...change, op: 'upsert', payload });
}

/**
 * Normalises one record of a change topic, or throws a non-retriable InvalidEventError
 * whose message is the dead-letter reason (a ConfigError if options.source is invalid).
 *
 * The format is decided from the record alone, in this order:
 *  1. a null value is a tombstone;
 *  2. otherwise the value must be at most maxValueBytes of UTF-8 JSON text holding an
 *     object; a Kafka Connect envelope (exactly `schema` and `payload`) is replaced by its
 *     payload, and one whose payload is null is a tombstone too;
 *  3. an object with a `before` or an `after` member, or whose `source` is an object, is
 *     a Debezium envelope; any other object is a native event.
 */
export function parseChangeRecord(message: RawChangeMessage, options: ParseOptions = {}): ChangeRecord {
  if (message.value === null) return fromTombstone(message, options);
  const limit = options.maxValueBytes ?? CHANGE_LIMITS.valueBytes;
  if (message.value.length > limit) {
    throw new InvalidEventError(
      `the value is ${message.value.length} bytes, more than ${limit}: stage large payloads and send a ref`,
    );
  }
  if (message.value.length === 0) {
    throw new InvalidEventError('the value is empty (a tombstone has a null value: kcat -Z)');
  }
  let value = json(text(message.value, 'the value'), 'the value');
  if (!isJsonObject(value)) throw new InvalidEventError('the value is not a JSON object');
  const payload = connectPayload(value);
  if (payload !== undefined) {
    if (payload === null) return fromTombstone(message, options);
    if (!isJsonObject(payload)) throw new InvalidEventError('the payload of the Connect envelope is not a JSON object');
    value = payload;
  }
  const debezium = Object.hasOwn(value, 'before') || Object.hasOwn(value, 'after') || isJsonObject(value.source);
  return debezium ? fromDebezium(message, options, value) : fromNative(message, value);
}
