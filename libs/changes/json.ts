/**
 * JSON for change events, parsed without loss and written in one canonical form.
 *
 * JSON.parse turns every number into a double, so an int64 id above 2^53 (common in
 * database rows, Debezium keys and its ts_ns fields) silently becomes another number: two
 * keys could merge and a payload would be restored altered. parseJson keeps a number that
 * a double cannot hold exactly as its text (ExactNumber); every other value is what
 * JSON.parse returns. It also refuses a key repeated with another value, which JSON.parse
 * resolves silently (the last wins), so that one text has one meaning and one canonical form.
 */
import { isSafeNumber, parse } from 'lossless-json';

/** A JSON number that no double holds exactly, kept as it was written. */
export class ExactNumber {
  constructor(readonly text: string) {}
}

export type JsonValue = null | boolean | number | string | ExactNumber | JsonValue[] | { [key: string]: JsonValue };

/** Reads a number as a double when the double writes back as the same decimal, else keeps its text. */
function readNumber(text: string): number | ExactNumber {
  return isSafeNumber(text) ? Number(text) : new ExactNumber(text);
}

/**
 * Parses JSON text (RFC 8259, no byte order mark) with lossless-json: numbers no double
 * holds exactly become ExactNumbers, a key repeated with another value is refused.
 * Throws a SyntaxError naming the position; nesting too deep for the parser's recursion
 * is refused the same way.
 */
export function parseJson(text: string): JsonValue {
  try {
    return parse(text, null, readNumber) as JsonValue;
  } catch (err) {
    if (err instanceof RangeError) throw new SyntaxError('JSON nested too deeply', { cause: err });
    throw err;
  }
}

export function isJsonObject(value: unknown): value is { [key: string]: JsonValue } {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof ExactNumber);
}

/**
 * The canonical text of a JSON value: no whitespace, object keys sorted by UTF-16 code
 * units (as RFC 8785), strings and numbers as JSON.stringify writes them (so 1.0 and 1e0
 * become 1), an ExactNumber as it was written.
 */
export function canonicalJson(value: JsonValue): string {
  if (value === null || typeof value === 'boolean') return String(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError(`${value} is not a JSON number`);
    return JSON.stringify(value);
  }
  if (typeof value === 'string') return JSON.stringify(value);
  if (value instanceof ExactNumber) return value.text;
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const members = Object.keys(value)
    .sort()
    .map((key) => `${JSON.stringify(key)}:${canonicalJson(value[key] as JsonValue)}`);
  return `{${members.join(',')}}`;
}
