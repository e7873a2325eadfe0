import { renderDebezium, renderNative, type Change, type InlinePayload } from '../changes';
import { canonicalJson, isJsonObject, parseJson } from '../changes/json';
import type { CommittedVersion } from './version';

/** Output formats of a point-in-time restore (docs/change-events.md#restore-output). */
export const PIT_FORMATS = ['jsonl', 'debezium'] as const;
export type PitFormat = (typeof PIT_FORMATS)[number];

/** One restored record: what a Kafka target gets as key and value. */
export interface RenderedRecord {
  source: string;
  /** The record key: the canonical key (canonical JSON for structured keys). */
  key: string;
  /** A native change event (jsonl) or a Debezium envelope without schema (debezium). */
  value: string;
}

/** The version as a Change of libs/changes, with its fetched payload. */
export function toChange(version: CommittedVersion, payload: InlinePayload | null): Change<InlinePayload> {
  const base = { source: version.source, key: version.key, tsMs: version.tsMs };
  if (version.op === 'delete') return { ...base, op: 'delete', payload: null };
  if (payload === null) throw new TypeError(`an upsert of key ${version.key} needs its payload to be rendered`);
  return { ...base, op: 'upsert', payload };
}

export function renderVersion(
  version: CommittedVersion,
  payload: InlinePayload | null,
  format: PitFormat,
): RenderedRecord {
  const change = toChange(version, payload);
  if (format === 'jsonl') return { source: version.source, key: version.key, value: renderNative(change) };
  const { key, value } = renderDebezium(change);
  return { source: version.source, key, value };
}

/**
 * A key as a JSON value: a structured key (its text is a JSON object, canonical already)
 * as that object, any other key as a string. Reversible: a key that reads as an object is
 * always stored in that object's canonical form.
 */
export function keyAsJson(key: string): string {
  if (key.startsWith('{')) {
    try {
      if (isJsonObject(parseJson(key))) return key;
    } catch {
      // Not JSON: a plain key that happens to start with a brace.
    }
  }
  return JSON.stringify(key);
}

/**
 * One line of a restore file (without the newline). jsonl: the native event, which names
 * its key. debezium: the envelope needs its record key beside it, so a line is
 * {"key":<key>,"value":<envelope>}, the key as keyAsJson writes it.
 */
export function fileLine(record: RenderedRecord, format: PitFormat): string {
  return format === 'jsonl' ? record.value : `{"key":${keyAsJson(record.key)},"value":${record.value}}`;
}

/**
 * A payload as the members of a native event (text to put inside a JSON object, with a
 * leading comma): `,"data":<JSON>` for a json payload (canonical, numbers exact),
 * `,"dataEncoding":"base64","data":"…"` otherwise, or for json bytes that do not parse.
 */
export function dataMembers(payload: InlinePayload): string {
  if (payload.encoding === 'json') {
    try {
      return `,"data":${canonicalJson(parseJson(payload.bytes.toString('utf8')))}`;
    } catch {
      // Stored as json but not JSON: show the bytes rather than fail a listing.
    }
  }
  return `,"dataEncoding":"base64","data":${JSON.stringify(payload.bytes.toString('base64'))}`;
}
