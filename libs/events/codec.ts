import { createHash } from 'node:crypto';
import type { IHeaders } from 'kafkajs';
import type { z } from 'zod';
import { InvalidEventError } from '../errors';
import {
  EVENT_TYPES,
  SCHEMA_VERSION,
  chunkMetaSchema,
  ledgerRecordOf,
  type ChainedLedgerRecord,
  type ChunkEvent,
  type EventType,
  type JsonEventMap,
  type JsonEventType,
  type LedgerCheckpoint,
  type LedgerRecord,
} from './schemas';

export const HEADERS = { type: 'bs-type', version: 'bs-version', meta: 'bs-meta', signature: 'bs-sig' } as const;

/** A message ready for kafkajs' producer.send. */
export interface OutgoingMessage {
  key: string;
  value: Buffer;
  headers: Record<string, string>;
}

/** The parts of a consumed message the decoders read (a kafkajs KafkaMessage fits). */
export interface IncomingMessage {
  key?: Buffer | null;
  value: Buffer | null;
  headers?: IHeaders;
}

export function encodeChunk(event: ChunkEvent): OutgoingMessage {
  return {
    key: event.meta.hash,
    value: event.data,
    headers: {
      [HEADERS.type]: 'chunk',
      [HEADERS.version]: String(SCHEMA_VERSION),
      [HEADERS.meta]: JSON.stringify(event.meta),
    },
  };
}

export function encodeJson<T extends JsonEventType>(type: T, event: JsonEventMap[T], key: string): OutgoingMessage {
  return {
    key,
    value: Buffer.from(JSON.stringify(event)),
    headers: { [HEADERS.type]: type, [HEADERS.version]: String(SCHEMA_VERSION) },
  };
}

export function headerString(headers: IHeaders | undefined, name: string): string | undefined {
  const v = headers?.[name];
  const first = Array.isArray(v) ? v[0] : v;
  return first === undefined ? undefined : first.toString();
}

function readEnvelope(message: IncomingMessage): EventType {
  const type = headerString(message.headers, HEADERS.type);
  if (type === undefined) throw new InvalidEventError(`missing header ${HEADERS.type}`);
  if (!Object.hasOwn(EVENT_TYPES, type)) throw new InvalidEventError(`unknown event type "${type}"`);
  const version = headerString(message.headers, HEADERS.version);
  if (version !== String(SCHEMA_VERSION)) {
    throw new InvalidEventError(
      `unsupported ${type} schema version ${JSON.stringify(version)} (this build reads ${SCHEMA_VERSION})`,
    );
  }
  return type as EventType;
}

function validate<S extends z.ZodType>(schema: S, value: unknown, what: string): z.infer<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue && issue.path.length > 0 ? issue.path.join('.') : '(root)';
    throw new InvalidEventError(`invalid ${what}: ${where}: ${issue?.message ?? 'does not match the schema'}`);
  }
  return parsed.data;
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new InvalidEventError(`${what} is not JSON: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Decodes a chunk event and checks that its bytes are what the metadata says: the size
 * and the SHA-256. A chunk whose bytes do not match its hash is never stored.
 */
export function decodeChunk(message: IncomingMessage): ChunkEvent {
  const type = readEnvelope(message);
  if (type !== 'chunk') throw new InvalidEventError(`expected a chunk event, got "${type}"`);
  const metaText = headerString(message.headers, HEADERS.meta);
  if (metaText === undefined) throw new InvalidEventError(`missing header ${HEADERS.meta}`);
  const meta = validate(chunkMetaSchema, parseJson(metaText, 'chunk metadata'), 'chunk metadata');
  const data = message.value ?? Buffer.alloc(0);
  if (data.length !== meta.size) {
    throw new InvalidEventError(`chunk ${meta.hash}: ${data.length} bytes, metadata says ${meta.size}`);
  }
  const actual = createHash('sha256').update(data).digest('hex');
  if (actual !== meta.hash) {
    throw new InvalidEventError(`chunk hash mismatch: metadata says ${meta.hash}, bytes hash to ${actual}`);
  }
  return { meta, data };
}

/** Decodes a JSON event whose type must be one of `accepted`. */
export function decodeJson<T extends JsonEventType>(
  message: IncomingMessage,
  accepted: readonly T[],
): { [K in T]: { type: K; event: JsonEventMap[K] } }[T] {
  const type = readEnvelope(message);
  if (!(accepted as readonly string[]).includes(type)) {
    throw new InvalidEventError(`unexpected event type "${type}" here (accepted: ${accepted.join(', ')})`);
  }
  if (message.value === null) throw new InvalidEventError(`${type} event without a value`);
  const schema = EVENT_TYPES[type].schema as z.ZodType;
  const event = validate(schema, parseJson(message.value.toString('utf8'), `${type} event`), `${type} event`);
  return { type, event } as { [K in T]: { type: K; event: JsonEventMap[K] } }[T];
}

/**
 * Decodes a commit intent (topic ledger-intents): a snapshot commit or a change-batch
 * commit an archiver asks the ledger sequencer to append.
 */
export function decodeCommitIntent(message: IncomingMessage): LedgerRecord {
  const decoded = decodeJson(message, ['snapshot-commit', 'changes-commit']);
  return decoded.type === 'snapshot-commit'
    ? { type: decoded.type, record: decoded.event }
    : { type: decoded.type, record: decoded.event };
}

/** A message of the ledger topic, decoded; `value` is the exact bytes that were signed. */
export type LedgerMessage =
  | { kind: 'record'; chained: ChainedLedgerRecord; value: Buffer; signature: string | undefined }
  | { kind: 'checkpoint'; checkpoint: LedgerCheckpoint; value: Buffer; signature: string | undefined };

/** Decodes a ledger-topic message (signatures are checked by libs/ledger, not here). */
export function decodeLedgerMessage(message: IncomingMessage): LedgerMessage {
  const decoded = decodeJson(message, ['ledger-record', 'ledger-checkpoint']);
  const value = message.value ?? Buffer.alloc(0);
  const signature = headerString(message.headers, HEADERS.signature);
  return decoded.type === 'ledger-record'
    ? { kind: 'record', chained: decoded.event, value, signature }
    : { kind: 'checkpoint', checkpoint: decoded.event, value, signature };
}

/** The commit record of a ledger-topic message; undefined for a checkpoint. */
export function decodeLedgerRecord(message: IncomingMessage): LedgerRecord | undefined {
  const decoded = decodeLedgerMessage(message);
  if (decoded.kind === 'checkpoint') return undefined;
  return ledgerRecordOf(decoded.chained);
}
