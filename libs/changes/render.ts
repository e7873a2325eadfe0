import { InvalidEventError } from '../errors';
import { canonicalJson, parseJson } from './json';
import type { Change, InlinePayload } from './record';

/** An object's JSON text from members whose values are JSON text already, in this order. */
function object(members: [string, string | undefined][]): string {
  const parts = members.filter(([, v]) => v !== undefined).map(([k, v]) => `${JSON.stringify(k)}:${v}`);
  return `{${parts.join(',')}}`;
}

const str = (s: string): string => JSON.stringify(s);

/** The JSON text of a json-encoded payload, checked and canonical. */
function jsonText(payload: InlinePayload): string {
  try {
    return canonicalJson(parseJson(payload.bytes.toString('utf8')));
  } catch (err) {
    throw new InvalidEventError(`a json payload (sha256 ${payload.sha256}) is not JSON: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

/**
 * A version as a native change event (one JSON line, without the newline): parsed back
 * with the key as record key, it gives the same change and the same changeId. `ts` is
 * written as RFC 3339 UTC with milliseconds; `contentType` always; the payload as it came
 * (JSON data, base64 data, or the ref).
 */
export function renderNative(version: Change): string {
  const head: [string, string][] = [
    ['source', str(version.source)],
    ['key', str(version.key)],
    ['op', str(version.op)],
    ['ts', str(new Date(version.tsMs).toISOString())],
  ];
  const p = version.payload;
  if (p === null) return object(head);
  const withType: [string, string][] = [...head, ['contentType', str(p.contentType)]];
  if (p.kind === 'ref') {
    return object([
      ...withType,
      [
        'ref',
        object([
          ['key', str(p.key)],
          ['size', String(p.size)],
          ['sha256', str(p.sha256)],
        ]),
      ],
    ]);
  }
  if (p.encoding === 'base64') {
    return object([...withType, ['dataEncoding', str('base64')], ['data', str(p.bytes.toString('base64'))]]);
  }
  return object([...withType, ['data', jsonText(p)]]);
}

export interface DebeziumRenderOptions {
  /** The op of an upsert: "r" (a snapshot read, what a point-in-time restore is; the default), "c" or "u". */
  op?: 'r' | 'c' | 'u';
}

/**
 * A version as a Debezium-shaped record: the key (canonical JSON for structured keys,
 * the key text otherwise) and the envelope without the Connect schema wrapper:
 *
 *   {"before":null,"after":<data>,"source":{"connector":"backstream","name":<source>,"ts_ms":<tsMs>},"op":"r","ts_ms":<tsMs>}
 *
 * A delete has op "d" and null before and after. A base64 payload becomes a base64 string
 * in `after`, as Debezium writes bytes columns. Parsed back (no options, no header), it
 * gives the same source (from source.name), key, op, tsMs and JSON payload. Not kept:
 * `before`, the op letter (c, r and u are all upserts), the rest of the source block, the
 * transaction block, ts_us/ts_ns and the Connect schema.
 */
export function renderDebezium(
  version: Change<InlinePayload>,
  options: DebeziumRenderOptions = {},
): { key: string; value: string } {
  const ts = String(version.tsMs);
  const source = object([
    ['connector', str('backstream')],
    ['name', str(version.source)],
    ['ts_ms', ts],
  ]);
  const p = version.payload;
  const after = p === null ? 'null' : p.encoding === 'base64' ? str(p.bytes.toString('base64')) : jsonText(p);
  const op = version.op === 'delete' ? 'd' : (options.op ?? 'r');
  const value = object([
    ['before', 'null'],
    ['after', after],
    ['source', source],
    ['op', str(op)],
    ['ts_ms', ts],
  ]);
  return { key: version.key, value };
}
