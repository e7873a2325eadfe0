import { createHash } from 'node:crypto';

interface PayloadBase {
  contentType: string;
  /** Length of the payload bytes. */
  size: number;
  /** Lower-case hex SHA-256 of the payload bytes. */
  sha256: string;
}

/**
 * Payload bytes that came in the record. `encoding` says how the event carried them, and
 * so how to render them back: `json` (the bytes are canonical JSON text) or `base64`.
 */
export interface InlinePayload extends PayloadBase {
  kind: 'inline';
  encoding: 'json' | 'base64';
  bytes: Buffer;
}

/** A claim check: the bytes are staged under `key` in the bucket; size and sha256 are the publisher's. */
export interface RefPayload extends PayloadBase {
  kind: 'ref';
  key: string;
}

export type ChangePayload = InlinePayload | RefPayload;

/** One version of one key: an upsert with its payload, or a delete. */
export type Change<P extends ChangePayload = ChangePayload> = {
  source: string;
  /** The canonical entity key (see canonicalKey). */
  key: string;
  /** Milliseconds since the epoch: when the change happened upstream. */
  tsMs: number;
} & ({ op: 'upsert'; payload: P } | { op: 'delete'; payload: null });

/** Where a record was read; with the committed offsets, what makes consumer redelivery idempotent. */
export interface RecordCoordinates {
  topic: string;
  partition: number;
  offset: string;
}

/** What the record was: a native event, a Debezium envelope, or a tombstone (a null value). */
export type ChangeFormat = 'native' | 'debezium' | 'tombstone';

/** A change record normalised from any accepted format. */
export type ChangeRecord = Change & {
  /** The event identity (changeId). */
  id: string;
  format: ChangeFormat;
  coordinates: RecordCoordinates;
};

export function inlinePayload(bytes: Buffer, encoding: InlinePayload['encoding'], contentType: string): InlinePayload {
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  return { kind: 'inline', encoding, contentType, size: bytes.length, sha256, bytes };
}

const ID_DOMAIN = 'backstream.change.v1';

/**
 * The identity of a change event: hex SHA-256 over (source, key, op, tsMs, contentType,
 * payload SHA-256, payload size), as a JSON array so no two field lists encode alike.
 *
 * It leaves out how the record travelled: its topic, partition and offset, the format
 * (native, Debezium, tombstone), whether the payload came inline or by claim check, and
 * how the publisher spelled the JSON (key order, whitespace, 1.0 or 1, ts as text or ms).
 *
 * Why topic/partition/offset alone are not enough: they identify a record, not an event.
 * Consumer redelivery (a crash before the offset commit) re-reads the same record at the
 * same coordinates, which they do catch. But an upstream that publishes the same event
 * again writes a new record at new coordinates: Debezium is at-least-once and re-emits
 * everything after its last flushed source offset when a connector restarts; a publisher
 * that retries after a timeout without an idempotent producer, an outbox relay replaying
 * a table, or a topic mirrored and read again, all do the same. Coordinates would give
 * each copy a version of its own. They can also repeat for different events: a topic
 * deleted and created again starts at offset 0. This identity is equal for the copies and
 * different for events that differ in anything restore shows.
 *
 * What it cannot tell apart: two genuine events equal in every field, e.g. a key set to
 * A, then B, then A again within one millisecond (or one second, for MySQL binlog
 * timestamps). Dedupe should therefore compare an event with the versions of its key
 * around its position (an upsert equal to the key's current version changes nothing),
 * not with every identity ever seen, or the third event would be lost.
 */
export function changeId(change: Change): string {
  const p = change.payload;
  const fields: (string | number | null)[] = [ID_DOMAIN, change.source, change.key, change.op, change.tsMs];
  fields.push(...(p === null ? [null, null, null] : [p.contentType, p.sha256, p.size]));
  return createHash('sha256').update(JSON.stringify(fields)).digest('hex');
}
