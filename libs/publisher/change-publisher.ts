import { createHash } from 'node:crypto';
import type { Message, Producer } from 'kafkajs';
import pLimit from 'p-limit';
import type { z } from 'zod';
import {
  CHANGE_HEADERS,
  CHANGE_LIMITS,
  DEFAULT_CONTENT_TYPE,
  ExactNumber,
  STAGING_PREFIX,
  canonicalJson,
  canonicalKey,
  changeRefSchema,
  inlinePayload,
  parseChangeRecord,
  renderNative,
  type Change,
  type JsonValue,
  type RefPayload,
} from '../changes';
import { deleteSchema, sourceNameSchema, upsertJsonSchema } from '../changes/schema';
import { ConfigError, InvalidEventError, withTimeout } from '../errors';
import type { ObjectStore } from '../store';
import { publishError, publishTimeout } from './errors';

/**
 * Kafka's default max.message.bytes is 1048588 (1 MiB + 12): a value of 1 MB leaves room
 * for the key (up to 4096 characters), the headers and the batch overhead. The contract
 * allows 4 MiB, but only on topics configured for it.
 */
export const DEFAULT_INLINE_LIMIT = 1_000_000;

/** When a change happened upstream: a Date, epoch milliseconds, or RFC 3339 text with seconds and a zone. */
export type ChangeTime = Date | number | string;

/** An entity key: text, or an object (a structured key, sent as its canonical JSON, as Debezium's are). */
export type ChangeKey = string | { [key: string]: unknown };

export interface UpsertOptions {
  /** Default: now. */
  ts?: ChangeTime;
  /** Default application/json for JSON data (which must have a JSON media type), application/octet-stream for bytes. */
  contentType?: string;
}

export interface DeleteOptions {
  /** Default: now. */
  ts?: ChangeTime;
  /**
   * Send a tombstone (a null value, which lets a compacted topic drop the key) rather
   * than a delete event. Its ts travels as the record timestamp, so: on a topic with
   * message.timestamp.type=LogAppendTime the broker's time replaces it, and a ts older
   * than the topic's retention.ms makes the record due for deletion at once.
   */
  tombstone?: boolean;
}

export type ChangeInput =
  | ({ op: 'upsert'; key: ChangeKey; data: unknown } & UpsertOptions)
  | ({ op: 'delete'; key: ChangeKey } & DeleteOptions);

/** What was published: the change as the ingest reads it, and its identity (changeId). */
export type PublishedChange = Change & { id: string };

export interface ChangePublisherOptions {
  /** The change topic. */
  topic: string;
  /** The source of every change this publisher sends, e.g. "crm.customers". */
  source: string;
  /** Payloads whose record value would be larger are staged and sent by ref. Default DEFAULT_INLINE_LIMIT. */
  inlineLimit?: number;
  /** Where payloads are staged: a key prefix below staging/, ending in "/". Default stagingPrefixOf(source). */
  stagingPrefix?: string;
  /** Uploads at a time in publishMany. Default 4. */
  stagingConcurrency?: number;
  /**
   * Give up waiting for the broker's acknowledgement after this long, with a retriable
   * TIMEOUT error. The send is not cancelled and may still land. Default: wait (the
   * idempotent producer of libs/bus retries without end during a broker outage).
   */
  timeoutMs?: number;
}

/**
 * The default staging prefix of a source: staging/<source>/, the source as one key
 * segment. ":", "@" and "/" (allowed in source names, not in staged keys) are written as
 * "!3a", "!40" and "!2f"; "!" is never in a source name, so sources stay apart.
 */
export function stagingPrefixOf(source: string): string {
  let segment = source.replace(/[:@/]/g, (c) => `!${c.charCodeAt(0).toString(16)}`);
  if (segment === '.' || segment === '..') segment = segment.replace(/\./g, '!2e');
  return `${STAGING_PREFIX}${segment}/`;
}

function check<T>(schema: z.ZodType<T>, value: unknown, field: string): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    throw new InvalidEventError(`${field}: ${parsed.error.issues[0]?.message ?? 'does not match the contract'}`);
  }
  return parsed.data;
}

/** Epoch milliseconds of a ts, by the contract's rule (libs/changes' schema). */
function tsMsOf(ts: ChangeTime): number {
  const value = check(deleteSchema.shape.ts, ts instanceof Date ? ts.getTime() : ts, 'ts');
  if (typeof value === 'number') return value;
  const ms = Date.parse(value);
  if (!(ms >= 0 && ms <= CHANGE_LIMITS.tsMs)) {
    throw new InvalidEventError(`ts: ${value} is outside 1970-01-01T00:00:00Z … 9999-12-31T23:59:59.999Z`);
  }
  return ms;
}

const skipped = (v: unknown): boolean => v === undefined || typeof v === 'function' || typeof v === 'symbol';

/**
 * A JavaScript value as JSON, as JSON.stringify sees it (toJSON, undefined members
 * dropped, undefined array items null), except that what it would lose is refused (NaN,
 * Infinity, Map, Set, cycles) and a bigint is kept exact, as an ExactNumber is.
 */
function jsonValue(value: unknown, path: string, seen = new Set<object>()): JsonValue {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      if (Number.isFinite(value)) return value;
      throw new InvalidEventError(`${path}: ${value} is not a JSON number`);
    case 'bigint':
      return new ExactNumber(value.toString());
    case 'object':
      break;
    default:
      throw new InvalidEventError(`${path}: a ${typeof value} is not a JSON value`);
  }
  if (value === null || value instanceof ExactNumber) return value;
  if (value instanceof Map || value instanceof Set) {
    throw new InvalidEventError(`${path}: a ${value.constructor.name} is not a JSON value (convert it first)`);
  }
  if (seen.has(value)) throw new InvalidEventError(`${path}: a circular reference`);
  const toJSON = (value as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === 'function') return jsonValue(toJSON.call(value) as unknown, path, seen);
  seen.add(value);
  try {
    if (Array.isArray(value)) {
      return value.map((v: unknown, i) => (skipped(v) ? null : jsonValue(v, `${path}[${i}]`, seen)));
    }
    // No prototype: a "__proto__" member stays a member.
    const out = Object.create(null) as { [key: string]: JsonValue };
    for (const [k, v] of Object.entries(value)) if (!skipped(v)) out[k] = jsonValue(v, `${path}.${k}`, seen);
    return out;
  } finally {
    seen.delete(value);
  }
}

function keyText(key: ChangeKey): string {
  if (typeof key === 'string') return key;
  if (typeof key !== 'object' || key === null || Array.isArray(key)) {
    throw new InvalidEventError('key: expected a string or a JSON object');
  }
  return canonicalJson(jsonValue(key, 'key'));
}

function payloadOf(
  data: unknown,
  contentType: string | undefined,
): { bytes: Buffer; encoding: 'json' | 'base64'; contentType: string } {
  if (data instanceof Uint8Array) {
    const bytes = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    return { bytes, encoding: 'base64', contentType: contentType ?? DEFAULT_CONTENT_TYPE.bytes };
  }
  // Checked here, not only by the parser: a staged payload's event has no `data` to tell
  // JSON from bytes, and an upsert must not be refused or accepted by its size.
  if (contentType !== undefined) check(upsertJsonSchema.shape.contentType, contentType, 'contentType');
  const bytes = Buffer.from(canonicalJson(jsonValue(data, 'data')));
  return { bytes, encoding: 'json', contentType: contentType ?? DEFAULT_CONTENT_TYPE.json };
}

interface Prepared {
  message: Message;
  change: PublishedChange;
  /** A payload to stage before the message is sent. */
  stage?: { key: string; bytes: Buffer };
}

/**
 * Publishes the changes of one source to a change topic, as the contract of
 * docs/change-events.md wants them: native events keyed by the canonical entity key (so
 * that the versions of a key share a partition and keep their order), the bs-source
 * header, and payloads too large for a record staged in object storage and sent by ref.
 *
 * Every record is parsed with the ingest's own parser (parseChangeRecord) before it is
 * sent, so what the ingest would refuse is refused here, with the same reason, and
 * nothing of the call is staged or sent. A call returns once the broker acknowledged
 * (acks=all): give it an idempotent producer (libs/bus createIdempotentProducer, or
 * connectChangePublisher). Each call's records are sent in one request, in order; calls
 * that run concurrently are ordered as they reach the producer, and a staged payload
 * delays its call by the upload, so await one call before publishing the next version
 * of the same key (or put them in one publishMany).
 *
 * Errors: InvalidEventError (the input breaks the contract; not retriable), StoreError
 * (staging failed; retriable when the store's or the network's fault), PublishError
 * (Kafka; retriable when it timed out or was unreachable), TIMEOUT (timeoutMs). Retrying
 * after a failure is safe: a change published twice has one identity and is stored once.
 */
export class ChangePublisher {
  readonly topic: string;
  readonly source: string;
  readonly inlineLimit: number;
  readonly stagingPrefix: string;
  private readonly timeoutMs: number | undefined;
  private readonly limit: pLimit.Limit;

  constructor(
    private readonly producer: Producer,
    private readonly store: ObjectStore,
    options: ChangePublisherOptions,
  ) {
    if (options.topic === '') throw new ConfigError('the change topic is empty');
    const source = sourceNameSchema.safeParse(options.source);
    if (!source.success) {
      throw new ConfigError(`invalid source ${JSON.stringify(options.source)}: ${source.error.issues[0]?.message}`);
    }
    const inlineLimit = options.inlineLimit ?? DEFAULT_INLINE_LIMIT;
    if (!Number.isSafeInteger(inlineLimit) || inlineLimit < 0 || inlineLimit > CHANGE_LIMITS.valueBytes) {
      throw new ConfigError(`inlineLimit must be an integer from 0 to ${CHANGE_LIMITS.valueBytes}: ${inlineLimit}`);
    }
    const stagingPrefix = options.stagingPrefix ?? stagingPrefixOf(source.data);
    const sample = changeRefSchema.shape.key.safeParse(`${stagingPrefix}${'0'.repeat(64)}`);
    if (!stagingPrefix.endsWith('/') || !sample.success) {
      throw new ConfigError(
        `invalid stagingPrefix ${JSON.stringify(stagingPrefix)}: a key prefix below ${STAGING_PREFIX} ending in "/" (${sample.error?.issues[0]?.message ?? 'no "/" at the end'})`,
      );
    }
    const { timeoutMs, stagingConcurrency = 4 } = options;
    if (timeoutMs !== undefined && !(timeoutMs > 0)) throw new ConfigError(`timeoutMs must be positive: ${timeoutMs}`);
    if (!(Number.isSafeInteger(stagingConcurrency) && stagingConcurrency > 0)) {
      throw new ConfigError(`stagingConcurrency must be a positive integer: ${stagingConcurrency}`);
    }
    this.topic = options.topic;
    this.source = source.data;
    this.inlineLimit = inlineLimit;
    this.stagingPrefix = stagingPrefix;
    this.timeoutMs = timeoutMs;
    this.limit = pLimit(stagingConcurrency);
  }

  /**
   * The entity now has this value: JSON data (any JSON value), or bytes (a Buffer or
   * Uint8Array, sent in base64 or staged). Bytes are not copied: leave them unchanged
   * until the call settles.
   */
  async upsert(key: ChangeKey, data: unknown, options: UpsertOptions = {}): Promise<PublishedChange> {
    const [published] = await this.send([this.prepare({ ...options, op: 'upsert', key, data })]);
    return published as PublishedChange;
  }

  /** The entity no longer exists: a delete event, or with `tombstone` a null value. */
  async delete(key: ChangeKey, options: DeleteOptions = {}): Promise<PublishedChange> {
    const [published] = await this.send([this.prepare({ ...options, op: 'delete', key })]);
    return published as PublishedChange;
  }

  /** Several changes in one request, in this order; one that breaks the contract stops all of them. */
  async publishMany(changes: readonly ChangeInput[]): Promise<PublishedChange[]> {
    const prepared = changes.map((change, i) => {
      try {
        return this.prepare(change);
      } catch (err) {
        if (!(err instanceof InvalidEventError)) throw err;
        throw new InvalidEventError(`change ${i}: ${err.message}`, { cause: err });
      }
    });
    return this.send(prepared);
  }

  private prepare(input: ChangeInput): Prepared {
    const key = canonicalKey(keyText(input.key));
    const tsMs = tsMsOf(input.ts ?? Date.now());
    const base = { source: this.source, key, tsMs };
    if (input.op === 'delete') {
      if (input.tombstone === true) return this.record(key, null, tsMs);
      return this.record(key, renderNative({ ...base, op: 'delete', payload: null }), tsMs);
    }
    if ((input.op as string) !== 'upsert') {
      throw new InvalidEventError(`op: unknown op ${JSON.stringify(input.op)}, expected "upsert" or "delete"`);
    }
    const { bytes, encoding, contentType } = payloadOf(input.data, input.contentType);
    if (bytes.length <= this.inlineLimit) {
      const value = renderNative({ ...base, op: 'upsert', payload: inlinePayload(bytes, encoding, contentType) });
      if (Buffer.byteLength(value) <= this.inlineLimit) return this.record(key, value, tsMs);
    }
    // Content-addressed: the same bytes always get the same key, whichever event sends them.
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const ref: RefPayload = {
      kind: 'ref',
      key: `${this.stagingPrefix}${sha256}`,
      size: bytes.length,
      sha256,
      contentType,
    };
    const prepared = this.record(key, renderNative({ ...base, op: 'upsert', payload: ref }), tsMs);
    return { ...prepared, stage: { key: ref.key, bytes } };
  }

  /** The record to send, read back by the ingest's parser: what it would refuse throws here. */
  private record(key: string, value: string | null, tsMs: number): Prepared {
    const headers = { [CHANGE_HEADERS.source]: this.source };
    const bytes = value === null ? null : Buffer.from(value);
    // A tombstone's ts is its record timestamp. Other records keep the producer's (now):
    // a past timestamp would make them due for the topic's time-based retention at once.
    const timestamp = value === null ? String(tsMs) : undefined;
    const {
      coordinates: _coordinates,
      format: _format,
      ...change
    } = parseChangeRecord({
      topic: this.topic,
      partition: 0,
      offset: '0',
      timestamp: timestamp ?? Date.now(),
      key: Buffer.from(key),
      value: bytes,
      headers,
    });
    return { message: { key, value: bytes, headers, ...(timestamp === undefined ? {} : { timestamp }) }, change };
  }

  private async send(prepared: Prepared[]): Promise<PublishedChange[]> {
    if (prepared.length === 0) return [];
    await this.stage(prepared);
    const sending = this.producer.send({ topic: this.topic, messages: prepared.map((p) => p.message), acks: -1 });
    const { timeoutMs } = this;
    try {
      await (timeoutMs === undefined
        ? sending
        : withTimeout(sending, timeoutMs, () => publishTimeout(this.topic, timeoutMs)));
    } catch (err) {
      throw publishError(err, this.topic);
    }
    return prepared.map((p) => p.change);
  }

  /**
   * Uploads the staged payloads, and returns once the store has them: the claim check must
   * exist before the event does. As soon as the broker acknowledges the event, a consumer
   * may read it and fetch its ref; a ref to nothing is refused for good (dead-lettered,
   * not retried), and the change would be lost. The other order's worst case is harmless:
   * a crash after the upload leaves an unreferenced object for the staging/ lifecycle
   * rule to expire.
   *
   * Always a plain PUT, even when the key exists (same key, same bytes): it restarts the
   * object's age, so a lifecycle rule sized to the topic's retention cannot expire a
   * payload that a newer event still references.
   */
  private async stage(prepared: Prepared[]): Promise<void> {
    const uploads = new Map<string, Buffer>();
    for (const p of prepared) if (p.stage) uploads.set(p.stage.key, p.stage.bytes);
    await Promise.all(
      [...uploads].map(([key, bytes]) =>
        this.limit(async () => {
          await this.store.put(key, bytes);
        }),
      ),
    );
  }
}
