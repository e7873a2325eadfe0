import { InvalidEventError } from '../errors';
import { parseChangeRecord } from './parse';
import { inlinePayload, type Change, type ChangeRecord, type InlinePayload } from './record';
import { renderDebezium, renderNative } from './render';
import {
  DEBEZIUM_KEY_SCHEMA,
  TS,
  TS_TEXT,
  big,
  debezium,
  message,
  sha256,
  upsert,
  withSchema,
  withoutCoordinates,
} from './test-fixtures';

const REF = { key: 'staging/crm/42.bin', size: 3, sha256: sha256('abc') };

/** The version as a restore would hold it: the payload bytes in hand. */
function inline(record: ChangeRecord): Change<InlinePayload> {
  if (record.payload?.kind === 'ref') throw new Error('a ref payload');
  return record as Change<InlinePayload>;
}

describe('renderNative', () => {
  const version = (payload: InlinePayload | null, key = '42'): Change =>
    payload === null
      ? { source: 'crm.customers', key, op: 'delete', tsMs: TS, payload }
      : { source: 'crm.customers', key, op: 'upsert', tsMs: TS, payload };
  const head = `"source":"crm.customers","key":"42"`;

  it('writes JSON data, base64 data, a ref and a delete', () => {
    const json = inlinePayload(Buffer.from('{"a":[1,12345678901234567890]}'), 'json', 'application/json');
    expect(renderNative(version(json))).toBe(
      `{${head},"op":"upsert","ts":"${TS_TEXT}","contentType":"application/json","data":{"a":[1,12345678901234567890]}}`,
    );
    const bytes = inlinePayload(Buffer.from([0xff, 0, 1]), 'base64', 'application/octet-stream');
    expect(renderNative(version(bytes))).toBe(
      `{${head},"op":"upsert","ts":"${TS_TEXT}","contentType":"application/octet-stream","dataEncoding":"base64","data":"/wAB"}`,
    );
    const ref: Change = {
      source: 'crm.customers',
      key: '42',
      op: 'upsert',
      tsMs: TS,
      payload: { kind: 'ref', contentType: 'text/csv', ...REF },
    };
    expect(renderNative(ref)).toBe(
      `{${head},"op":"upsert","ts":"${TS_TEXT}","contentType":"text/csv","ref":{"key":"staging/crm/42.bin","size":3,"sha256":"${REF.sha256}"}}`,
    );
    expect(renderNative(version(null))).toBe(`{${head},"op":"delete","ts":"${TS_TEXT}"}`);
  });

  it('refuses a json payload whose bytes are not JSON', () => {
    const broken = inlinePayload(Buffer.from('{"a":'), 'json', 'application/json');
    expect(() => renderNative(version(broken))).toThrow(InvalidEventError);
    expect(() => renderNative(version(broken))).toThrow(/^a json payload \(sha256 [0-9a-f]{64}\) is not JSON: /);
  });

  it.each([
    ['JSON data', upsert({ data: { z: [1.5, null], a: big('-12345678901234567890'), s: 'é\n' } })],
    ['JSON null', upsert({ data: null })],
    ['a JSON media type', upsert({ contentType: 'application/ld+json; profile="x"' })],
    ['base64 data', upsert({ dataEncoding: 'base64', data: Buffer.from([0, 255, 7]).toString('base64') })],
    ['empty base64 data', upsert({ dataEncoding: 'base64', data: '', contentType: 'text/plain' })],
    ['a ref', upsert({ data: undefined, ref: REF })],
    ['a delete', { source: 'crm.customers', key: '42', op: 'delete', ts: '2024-05-01T12:00:00.123+02:00' }],
    ['a structured key', upsert({ key: '{ "tenant": "t1", "id": 7 }' })],
  ])('round-trips %s: native → render → parse gives the same change and id', (_what, event) => {
    const first = parseChangeRecord(message(event, null));
    const line = renderNative(first);
    const again = parseChangeRecord(message(line, first.key, undefined, { offset: '9999' }));
    expect(withoutCoordinates(again)).toEqual(withoutCoordinates(first));
    expect(renderNative(again)).toBe(line);
  });
});

describe('renderDebezium', () => {
  const KEY = '{"id":1001}';
  const AFTER = '{"email":"sally.thomas@acme.com","first_name":"Sally","id":1001,"last_name":"Thomas"}';

  it('writes the key and an envelope without schema: op r, before null, source name and ts_ms', () => {
    const record = parseChangeRecord(message(debezium(), '{"id": 1001}'));
    expect(renderDebezium(inline(record))).toEqual({
      key: KEY,
      value: `{"before":null,"after":${AFTER},"source":{"connector":"backstream","name":"dbserver1.inventory.customers","ts_ms":${TS}},"op":"r","ts_ms":${TS}}`,
    });
    expect(JSON.parse(renderDebezium(inline(record), { op: 'u' }).value)).toMatchObject({ op: 'u' });
  });

  it('writes a delete with op d and null before and after', () => {
    const record = parseChangeRecord(message(debezium({ op: 'd', before: debezium().after, after: null }), KEY));
    expect(JSON.parse(renderDebezium(inline(record)).value)).toEqual({
      before: null,
      after: null,
      source: { connector: 'backstream', name: 'dbserver1.inventory.customers', ts_ms: TS },
      op: 'd',
      ts_ms: TS,
    });
  });

  it('writes base64 bytes as a base64 string in after, as Debezium writes bytes columns', () => {
    const record = parseChangeRecord(message(upsert({ dataEncoding: 'base64', data: '/wAB' })));
    expect(JSON.parse(renderDebezium(inline(record)).value)).toMatchObject({ after: '/wAB', op: 'r' });
  });

  it.each([
    ['a create', debezium(), KEY],
    [
      'a create with the schema wrapper',
      withSchema(debezium()),
      JSON.stringify({ schema: DEBEZIUM_KEY_SCHEMA, payload: { id: 1001 } }),
    ],
    ['an update', debezium({ op: 'u', before: { id: 1001 } }), KEY],
    ['a delete', debezium({ op: 'd', after: null }), KEY],
    ['a big-number row', debezium({ after: { id: big('9223372036854775807'), ts: big('1714557602123000000') } }), KEY],
    ['a MongoDB document', debezium({ after: '{"_id": 1, "n": 2}' }), '{"id":1}'],
  ])('round-trips %s: Debezium → render → parse gives the same change and id', (_what, value, key) => {
    const first = parseChangeRecord(message(value, key));
    const rendered = renderDebezium(inline(first));
    const again = parseChangeRecord(message(rendered.value, rendered.key, undefined, { offset: '9999' }));
    expect(withoutCoordinates(again)).toEqual(withoutCoordinates(first));
  });

  it('round-trips a configured source through source.name', () => {
    const first = parseChangeRecord(message(debezium(), KEY), { source: 'crm.customers' });
    const rendered = renderDebezium(inline(first));
    expect(parseChangeRecord(message(rendered.value, rendered.key)).source).toBe('crm.customers');
  });

  it('renders a native JSON upsert Debezium-shaped, and it parses back to the same change', () => {
    const first = parseChangeRecord(message(upsert()));
    const rendered = renderDebezium(inline(first));
    const again = parseChangeRecord(message(rendered.value, rendered.key));
    expect({ ...withoutCoordinates(again), format: 'native' }).toEqual(withoutCoordinates(first));
    expect(again.id).toBe(first.id);
  });
});
