import { ConfigError } from '../errors';
import { canonicalKey, parseChangeRecord, type ParseOptions, type RawChangeMessage } from './parse';
import { changeId, type ChangeRecord } from './record';
import {
  DEBEZIUM_KEY_SCHEMA,
  TS,
  TS_TEXT,
  big,
  debezium,
  message,
  rejection,
  sha256,
  upsert,
  withSchema,
  withoutCoordinates,
} from './test-fixtures';

const HASH = sha256('staged payload');
const REF = { key: 'staging/crm/42/0001.bin', size: 14, sha256: HASH };

const parse = (m: RawChangeMessage, options?: ParseOptions): ChangeRecord => parseChangeRecord(m, options);
const reason = (m: RawChangeMessage, options?: ParseOptions): string =>
  rejection(() => parseChangeRecord(m, options)).message;

describe('native events', () => {
  it('an upsert with JSON data: canonical JSON bytes, application/json, the coordinates', () => {
    const value = `{ "source": "crm.customers", "key": "42", "op": "upsert", "ts": "${TS_TEXT}",
      "data": { "z": 1.0, "a": { "c": [2, "x"], "b": null } } }`;
    const record = parse(message(value, '42', undefined, { topic: 't', partition: 5, offset: '99' }));
    const bytes = Buffer.from('{"a":{"b":null,"c":[2,"x"]},"z":1}');
    expect(record).toEqual({
      source: 'crm.customers',
      key: '42',
      op: 'upsert',
      tsMs: TS,
      payload: {
        kind: 'inline',
        encoding: 'json',
        contentType: 'application/json',
        size: bytes.length,
        sha256: sha256(bytes),
        bytes,
      },
      id: expect.stringMatching(/^[0-9a-f]{64}$/) as unknown,
      format: 'native',
      coordinates: { topic: 't', partition: 5, offset: '99' },
    });
    expect(record.id).toBe(changeId(record));
  });

  it.each([
    [TS_TEXT, TS],
    [TS, TS],
    ['2024-05-01T12:00:00.123+02:00', TS],
    ['2024-05-01T06:30:00.123-03:30', TS],
    ['2024-05-01T10:00:00.123987Z', TS],
    ['2024-05-01T10:00:00Z', TS - 123],
    [0, 0],
    ['1970-01-01T00:00:00Z', 0],
  ])('normalises ts %j to epoch ms', (ts, tsMs) => {
    expect(parse(message(upsert({ ts }))).tsMs).toBe(tsMs);
  });

  it('keeps numbers beyond a double exactly in the payload', () => {
    const record = parse(
      message(upsert({ data: { id: big('12345678901234567890'), r: big('0.10000000000000000555') } })),
    );
    expect(record.payload?.kind === 'inline' && record.payload.bytes.toString()).toBe(
      '{"id":12345678901234567890,"r":0.10000000000000000555}',
    );
  });

  it.each([null, 'text', 7, [1, { b: 2, a: 1 }], {}])('accepts any JSON value as data: %j', (data) => {
    const record = parse(message(upsert({ data })));
    expect(record.payload?.kind === 'inline' && JSON.parse(record.payload.bytes.toString())).toEqual(data);
  });

  it('takes a JSON media type for JSON data', () => {
    const contentType = 'application/vnd.api+json; charset=utf-8';
    expect(parse(message(upsert({ contentType, dataEncoding: 'json' }))).payload?.contentType).toBe(contentType);
  });

  it('an upsert with base64 data: the decoded bytes, application/octet-stream unless told', () => {
    const bytes = Buffer.from([0, 1, 2, 0xfe, 0xff, 0x80]);
    const record = parse(message(upsert({ dataEncoding: 'base64', data: bytes.toString('base64') })));
    expect(record.payload).toEqual({
      kind: 'inline',
      encoding: 'base64',
      contentType: 'application/octet-stream',
      size: 6,
      sha256: sha256(bytes),
      bytes,
    });
    const png = parse(message(upsert({ dataEncoding: 'base64', data: '', contentType: 'image/png' })));
    expect(png.payload).toMatchObject({ contentType: 'image/png', size: 0, sha256: sha256('') });
  });

  it('an upsert by claim check: the ref as given', () => {
    const record = parse(message(upsert({ data: undefined, ref: REF, contentType: 'text/csv' })));
    expect(record.payload).toEqual({ kind: 'ref', contentType: 'text/csv', ...REF });
    const plain = parse(message(upsert({ data: undefined, ref: REF })));
    expect(plain.payload?.contentType).toBe('application/octet-stream');
  });

  it('a delete has no payload', () => {
    const record = parse(message({ v: 1, source: 'crm.customers', key: '42', op: 'delete', ts: TS }));
    expect(withoutCoordinates(record)).toEqual({
      source: 'crm.customers',
      key: '42',
      op: 'delete',
      tsMs: TS,
      payload: null,
      id: changeId(record),
      format: 'native',
    });
  });

  it('accepts a record without a key, and a record key equal to the event key in canonical form', () => {
    expect(parse(message(upsert(), null)).key).toBe('42');
    const structured = upsert({ key: '{ "tenant": "t1", "id": 7 }' });
    expect(parse(message(structured, '{"id":7,"tenant":"t1"}')).key).toBe('{"id":7,"tenant":"t1"}');
    expect(parse(message(structured, null)).key).toBe('{"id":7,"tenant":"t1"}');
  });

  it('accepts a bs-source header equal to the source, and a Connect envelope around the event', () => {
    expect(parse(message(upsert(), '42', { 'bs-source': Buffer.from('crm.customers') })).source).toBe('crm.customers');
    const wrapped = parse(message({ schema: null, payload: upsert() }));
    expect(withoutCoordinates(wrapped)).toEqual(withoutCoordinates(parse(message(upsert()))));
  });

  it('ignores the configured source for native events', () => {
    expect(parse(message(upsert()), { source: 'other' }).source).toBe('crm.customers');
  });
});

describe('native events that are refused', () => {
  it.each([
    ['a value that is not JSON', '{"source": ', /^the value is not JSON: .*position/],
    ['a value that is not UTF-8', Buffer.from([0x7b, 0xff, 0x7d]), /^the value is not UTF-8 text/],
    ['an Avro value', Buffer.from([0, 0, 0, 0, 1, 2, 0x34]), /^the value is not JSON: /],
    ['an empty value', Buffer.alloc(0), /^the value is empty \(a tombstone has a null value: kcat -Z\)/],
    ['a JSON array', '[1]', /^the value is not a JSON object$/],
    ['a JSON string', '"upsert"', /^the value is not a JSON object$/],
    ['JSON null', 'null', /^the value is not a JSON object$/],
    ['a duplicate field', '{"key":"1","key":"2"}', /^the value is not JSON: Duplicate key 'key'/],
    ['a Connect envelope around a non-object', { schema: null, payload: 3 }, /envelope is not a JSON object/],
    ['a missing key', upsert({ key: undefined }), /^invalid change event: key: /],
    ['an empty key', upsert({ key: '' }), /^invalid change event: key: Too small/],
    ['a numeric key', upsert({ key: 42 }), /^invalid change event: key: .*expected string/],
    ['a key of 4097 characters', upsert({ key: 'k'.repeat(4097) }), /key: Too big: expected string to have <=4096/],
    ['a missing source', upsert({ source: undefined }), /^invalid change event: source: /],
    ['a source with a space', upsert({ source: 'crm customers' }), /source: letters, digits/],
    ['a source of 201 characters', upsert({ source: 's'.repeat(201) }), /source: Too big/],
    ['a missing op', upsert({ op: undefined }), /^invalid change event: op: required, "upsert" or "delete"$/],
    ['an unknown op', upsert({ op: 'insert' }), /^invalid change event: op: unknown op "insert"/],
    ['a Debezium op', upsert({ op: 'c' }), /op: unknown op "c", expected "upsert" or "delete"/],
    ['both data and ref', upsert({ ref: REF }), /^invalid change event: an upsert carries exactly one of data and ref/],
    ['neither data nor ref', upsert({ data: undefined }), /^invalid change event: an upsert carries data or ref$/],
    ['a delete with data', upsert({ op: 'delete' }), /^invalid change event: a delete carries neither data nor ref$/],
    ['a delete with a ref', upsert({ op: 'delete', data: undefined, ref: REF }), /a delete carries neither/],
    ['a delete with a contentType', upsert({ op: 'delete', data: undefined, contentType: 'a/b' }), /Unrecognized key/],
    ['a missing ts', upsert({ ts: undefined }), /^invalid change event: ts: /],
    [
      'a ts without a zone',
      upsert({ ts: '2024-05-01T10:00:00' }),
      /^invalid change event: ts: expected an RFC 3339 date-time with seconds and a zone, or integer epoch milliseconds$/,
    ],
    ['a ts without seconds', upsert({ ts: '2024-05-01T10:00Z' }), /ts: /],
    ['a ts with a space', upsert({ ts: '2024-05-01 10:00:00Z' }), /ts: /],
    ['a ts on 30 February', upsert({ ts: '2024-02-30T10:00:00Z' }), /ts: /],
    ['a ts in words', upsert({ ts: 'yesterday' }), /ts: /],
    ['a negative ts', upsert({ ts: -1 }), /ts: /],
    ['a fractional ts', upsert({ ts: 1.5 }), /ts: /],
    ['a ts in seconds as text', upsert({ ts: '1714557600' }), /ts: /],
    ['a ts past year 9999', upsert({ ts: 253402300800000 }), /ts: after 9999-12-31T23:59:59.999Z$/],
    ['a ts beyond any double', upsert({ ts: big('1e400') }), /ts: /],
    ['a ts before 1970', upsert({ ts: '1969-12-31T23:59:59Z' }), /ts: 1969-12-31T23:59:59Z is outside 1970/],
    ['an unknown dataEncoding', upsert({ dataEncoding: 'hex' }), /dataEncoding: expected "json" or "base64"/],
    ['base64 without padding', upsert({ dataEncoding: 'base64', data: 'aGk' }), /data: standard base64/],
    ['url-safe base64', upsert({ dataEncoding: 'base64', data: '-_8=' }), /data: standard base64/],
    ['base64 data that is not a string', upsert({ dataEncoding: 'base64' }), /data: .*expected string/],
    ['JSON data as text/plain', upsert({ contentType: 'text/plain' }), /contentType: application\/json or/],
    [
      'an upper-case media type',
      upsert({ data: undefined, ref: REF, contentType: 'Text/CSV' }),
      /contentType: a media/,
    ],
    ['a contentType of 256', upsert({ contentType: `application/${'x'.repeat(240)}+json` }), /contentType: Too big/],
    ['dataEncoding with a ref', upsert({ data: undefined, ref: REF, dataEncoding: 'json' }), /Unrecognized key/],
    ['an unknown field', upsert({ partition: 1 }), /^invalid change event: \(root\): Unrecognized key: "partition"/],
    ['version 2', upsert({ v: 2 }), /^invalid change event: v: unsupported version 2 \(this build reads 1\)$/],
    ['version "1"', upsert({ v: '1' }), /v: unsupported version "1"/],
  ])('%s', (_what, value, expected) => {
    expect(reason(message(value))).toMatch(expected);
  });

  it.each([
    ['a dot-dot segment', { key: 'staging/a/../../blocks/x' }, /ref\.key: an object key below staging\//],
    ['a dot segment', { key: 'staging/./x' }, /ref\.key/],
    ['a key outside staging/', { key: 'blocks/ab/abcd' }, /ref\.key/],
    ['an empty segment', { key: 'staging//x' }, /ref\.key/],
    ['staging/ itself', { key: 'staging/' }, /ref\.key/],
    ['a space', { key: 'staging/a b' }, /ref\.key/],
    ['a key of 1025 bytes', { key: `staging/${'k'.repeat(1017)}` }, /ref\.key: Too big/],
    ['an upper-case sha256', { sha256: HASH.toUpperCase() }, /ref\.sha256: a lower-case hex SHA-256/],
    ['a negative size', { size: -1 }, /ref\.size: /],
    ['a size above 5 TiB', { size: 5 * 1024 ** 4 + 1 }, /ref\.size: Too big/],
    ['a missing size', { size: undefined }, /ref\.size: /],
    ['an extra field', { bucket: 'other' }, /ref: Unrecognized key: "bucket"/],
  ])('a ref with %s', (_what, overrides, expected) => {
    const ref: Record<string, unknown> = { ...REF, ...overrides };
    for (const [k, v] of Object.entries(overrides)) if (v === undefined) delete ref[k];
    expect(reason(message(upsert({ data: undefined, ref })))).toMatch(expected);
  });

  it('accepts ref keys with dots that are not . or .. segments', () => {
    for (const key of ['staging/.hidden', 'staging/.../x', 'staging/a..b/c.d', "staging/(x)!*'_-.v1"]) {
      expect(parse(message(upsert({ data: undefined, ref: { ...REF, key } }))).payload).toMatchObject({ key });
    }
  });

  it('refuses a value larger than maxValueBytes before parsing it', () => {
    const value = JSON.stringify(upsert({ data: 'x'.repeat(200) }));
    expect(reason(message(value), { maxValueBytes: 100 })).toBe(
      `the value is ${value.length} bytes, more than 100: stage large payloads and send a ref`,
    );
    expect(parse(message(value), { maxValueBytes: value.length }).op).toBe('upsert');
  });

  it('refuses a record key that differs from the event key, naming both', () => {
    expect(reason(message(upsert(), '43'))).toBe(
      'key mismatch: the record key is "43", the event\'s key "42" (versions of one key must share a partition to keep their order)',
    );
    expect(reason(message(upsert({ key: '{"id":1}' }), '{"id":2}'))).toMatch(/^key mismatch/);
    expect(reason(message(upsert(), ''))).toBe('the record key is empty');
    expect(reason(message(upsert(), Buffer.from([0xc3])))).toMatch(/^the record key is not UTF-8 text/);
  });

  it('refuses a bs-source header that differs from the source, or is no source name', () => {
    expect(reason(message(upsert(), '42', { 'bs-source': 'billing' }))).toBe(
      'source mismatch: header bs-source says "billing", the event "crm.customers"',
    );
    expect(reason(message(upsert(), '42', { 'bs-source': 'a b' }))).toMatch(/^header bs-source: \(root\): letters/);
  });
});

describe('tombstones', () => {
  const tombstone = (key: string | null = '42', headers?: Record<string, string>, timestamp: string = String(TS)) =>
    message(null, key, headers, { timestamp });

  it('delete the record key, at the record timestamp, for the source in bs-source', () => {
    const record = parse(tombstone('42', { 'bs-source': 'crm.customers' }));
    expect(withoutCoordinates(record)).toEqual({
      source: 'crm.customers',
      key: '42',
      op: 'delete',
      tsMs: TS,
      payload: null,
      id: changeId(record),
      format: 'tombstone',
    });
  });

  it('take the configured source, which the header beats', () => {
    expect(parse(tombstone(), { source: 'crm.orders' }).source).toBe('crm.orders');
    expect(parse(tombstone('42', { 'bs-source': 'crm.customers' }), { source: 'crm.orders' }).source).toBe(
      'crm.customers',
    );
  });

  it('canonicalise a structured key, and a Connect envelope with a null payload is one too', () => {
    const key = '{"schema":{"type":"struct"},"payload":{"id":1001}}';
    expect(parse(tombstone(key), { source: 's' }).key).toBe('{"id":1001}');
    const wrapped = parse(message({ schema: null, payload: null }, key, undefined, { timestamp: TS }), { source: 's' });
    expect(wrapped).toMatchObject({ format: 'tombstone', op: 'delete', key: '{"id":1001}', tsMs: TS });
  });

  it('are refused without a source, a key or a timestamp', () => {
    expect(reason(tombstone())).toBe(
      'a tombstone without a source: set header bs-source or configure a source for topic crm.changes',
    );
    expect(reason(tombstone(null), { source: 's' })).toBe('a tombstone without a record key: nothing to delete');
    for (const timestamp of ['-1', '', '1e3', '253402300800000']) {
      expect(reason(tombstone('42', undefined, timestamp), { source: 's' })).toBe(
        `a tombstone without a usable record timestamp (${timestamp})`,
      );
    }
  });

  it('raise a ConfigError, not a dead letter, when the configured source is invalid', () => {
    expect(() => parse(tombstone(), { source: 'not valid' })).toThrow(ConfigError);
  });
});

describe('Debezium envelopes', () => {
  const KEY = '{"id":1001}';
  const AFTER = '{"email":"sally.thomas@acme.com","first_name":"Sally","id":1001,"last_name":"Thomas"}';

  it('a create: key from the record key, source name.db.table, ts from source.ts_ms, after as JSON data', () => {
    const record = parse(message(debezium(), '{ "id": 1001 }'));
    expect(withoutCoordinates(record)).toEqual({
      source: 'dbserver1.inventory.customers',
      key: KEY,
      op: 'upsert',
      tsMs: TS,
      payload: {
        kind: 'inline',
        encoding: 'json',
        contentType: 'application/json',
        size: AFTER.length,
        sha256: sha256(AFTER),
        bytes: Buffer.from(AFTER),
      },
      id: changeId(record),
      format: 'debezium',
    });
  });

  it('reads the schema/payload wrapper of JsonConverter (schemas.enable=true) on key and value alike', () => {
    const plain = parse(message(debezium(), KEY));
    const wrapped = parse(
      message(withSchema(debezium()), JSON.stringify({ schema: DEBEZIUM_KEY_SCHEMA, payload: { id: 1001 } })),
    );
    expect(withoutCoordinates(wrapped)).toEqual(withoutCoordinates(plain));
    expect(wrapped.format).toBe('debezium');
  });

  it.each(['c', 'r', 'u'])('op %s is an upsert', (op) => {
    const before = op === 'u' ? { id: 1001, first_name: 'S' } : null;
    expect(parse(message(debezium({ op, before }), KEY)).op).toBe('upsert');
  });

  it('op d is a delete of the record key; before is not kept', () => {
    const value = debezium({ op: 'd', before: debezium().after, after: null });
    expect(parse(message(value, KEY))).toMatchObject({ op: 'delete', payload: null, key: KEY, tsMs: TS });
  });

  it('takes ts_ms when source.ts_ms is absent or zero', () => {
    const noSourceTs = debezium({ source: { name: 'dbserver1', db: 'inventory', table: 'customers' } });
    expect(parse(message(noSourceTs, KEY)).tsMs).toBe(TS + 2000);
    const zero = debezium({ source: { name: 'dbserver1', db: 'inventory', table: 'customers', ts_ms: 0 } });
    expect(parse(message(zero, KEY)).tsMs).toBe(TS + 2000);
  });

  it('derives name.db.schema.table for PostgreSQL and name.db.collection for MongoDB (whose after is a string)', () => {
    const pg = { connector: 'postgresql', name: 'pg1', db: 'shop', schema: 'public', table: 'orders', ts_ms: TS };
    expect(parse(message(debezium({ source: pg }), KEY)).source).toBe('pg1.shop.public.orders');
    const mongo = { connector: 'mongodb', name: 'm1', db: 'shop', collection: 'carts', ts_ms: TS };
    const after = '{"_id": {"$oid": "66321a"}, "items": 3}';
    const record = parse(message(debezium({ source: mongo, after }), '{"id":"66321a"}'));
    expect(record.source).toBe('m1.shop.carts');
    expect(record.payload?.kind === 'inline' && JSON.parse(record.payload.bytes.toString())).toBe(after);
  });

  it('prefers the configured source, and the bs-source header over both', () => {
    expect(parse(message(debezium(), KEY), { source: 'crm.customers' }).source).toBe('crm.customers');
    const headers = { 'bs-source': 'legacy.customers' };
    expect(parse(message(debezium(), KEY, headers), { source: 'crm.customers' }).source).toBe('legacy.customers');
  });

  it('keeps keys apart that differ only beyond 2^53', () => {
    const a = parse(message(debezium(), '{"id":9007199254740993}'));
    const b = parse(message(debezium(), '{"id":9007199254740992}'));
    expect([a.key, b.key]).toEqual(['{"id":9007199254740993}', '{"id":9007199254740992}']);
  });

  it.each([
    [
      'a truncate',
      debezium({ op: 't', before: undefined, after: undefined }),
      KEY,
      /truncate events \(op "t"\) are not accepted/,
    ],
    ['a message', debezium({ op: 'm', after: undefined }), KEY, /message events \(op "m"\)/],
    ['an unknown op', debezium({ op: 'x' }), KEY, /^invalid Debezium event: unknown op "x", expected c, r, u or d$/],
    ['no op', debezium({ op: undefined }), KEY, /^invalid Debezium event: op: required/],
    ['a create without after', debezium({ after: null }), KEY, /^invalid Debezium event: op "c" without after$/],
    ['no record key', debezium(), null, /^a Debezium event without a record key/],
    [
      'no ts at all',
      debezium({ ts_ms: undefined, source: { name: 'n', db: 'd', table: 't' } }),
      KEY,
      /no source.ts_ms and no ts_ms/,
    ],
    [
      'a before without a source block',
      { before: null, after: {}, op: 'c', ts_ms: TS },
      KEY,
      /^invalid Debezium event: source: /,
    ],
    [
      'a source block without names',
      debezium({ source: { ts_ms: TS } }),
      KEY,
      /no source name in its source block: configure a source for topic crm.changes/,
    ],
  ])('refuses %s', (_what, value, key, expected) => {
    expect(reason(message(value, key))).toMatch(expected);
  });

  it('refuses a derived source name that is not a valid source, with the way out', () => {
    const source = { name: 'db server', db: 'inventory', table: 'customers', ts_ms: TS };
    expect(reason(message(debezium({ source }), KEY))).toBe(
      'Debezium event: the source name "db server.inventory.customers" derived from its source block is invalid ((root): letters, digits and . _ : @ / -): configure a source for topic crm.changes or set header bs-source',
    );
    expect(parse(message(debezium({ source }), KEY), { source: 'inventory.customers' }).source).toBe(
      'inventory.customers',
    );
  });
});

describe('canonicalKey', () => {
  it.each([
    ['42', '42'],
    ['customer-42', 'customer-42'],
    [' {"b": 2, "a": [1.0, {"d": 1, "c": 0}]} ', '{"a":[1,{"c":0,"d":1}],"b":2}'],
    ['{"schema":{"type":"struct"},"payload":{"id":1}}', '{"id":1}'],
    ['{"schema":null,"payload":{"id":1}}', '{"id":1}'],
    ['{"schema":{"type":"string"},"payload":"abc"}', '"abc"'],
    ['{"schema":"x","payload":{"id":1}}', '{"payload":{"id":1},"schema":"x"}'],
    ['"abc"', '"abc"'],
    ['{not json', '{not json'],
    ['{"a":1,"a":2}', '{"a":1,"a":2}'],
    ['{"id":12345678901234567890}', '{"id":12345678901234567890}'],
  ])('%j → %j', (text, key) => {
    expect(canonicalKey(text)).toBe(key);
  });

  it('refuses an empty key, a too long one and a Connect envelope with a null payload', () => {
    expect(rejection(() => canonicalKey('')).message).toBe('the key is empty');
    expect(rejection(() => canonicalKey('k'.repeat(4097))).message).toBe('the key has 4097 characters, more than 4096');
    expect(canonicalKey('k'.repeat(4096))).toHaveLength(4096);
    expect(rejection(() => canonicalKey('{"schema":null,"payload":null}')).message).toMatch(/null payload/);
  });
});

describe('changeId', () => {
  const idOf = (value: unknown, key: string | null = '42', coordinates = {}): string =>
    parse(message(value, key, undefined, coordinates)).id;
  const base = idOf(upsert());

  it('is stable across releases (a change here breaks dedupe of stored versions)', () => {
    expect(base).toBe(
      changeId({
        source: 'crm.customers',
        key: '42',
        op: 'upsert',
        tsMs: TS,
        payload: {
          kind: 'ref',
          key: 'staging/any',
          contentType: 'application/json',
          size: 40,
          sha256: sha256('{"email":"ada@example.com","name":"Ada"}'),
        },
      }),
    );
    const payloadHash = sha256('{"email":"ada@example.com","name":"Ada"}');
    const fields = ['backstream.change.v1', 'crm.customers', '42', 'upsert', TS, 'application/json', payloadHash, 40];
    expect(base).toBe(sha256(JSON.stringify(fields)));
    expect(base).toBe('036a3bd79d00217f762ace1a3d86ca8b3e3bf8054ea1f55719da78b2f2a8ffff');
  });

  it('is the same for a re-published event: other coordinates, key order, whitespace, ts form, inline or ref', () => {
    expect(idOf(upsert(), '42', { topic: 'other', partition: 0, offset: '1' })).toBe(base);
    expect(idOf(upsert(), null)).toBe(base);
    expect(idOf(upsert({ ts: TS }))).toBe(base);
    expect(idOf(upsert({ ts: '2024-05-01T12:00:00.123+02:00' }))).toBe(base);
    expect(
      idOf(` { "data": {"name": "Ada", "email": "ada@example.com"}, "op": "upsert", "ts": ${TS},
      "key": "42", "source": "crm.customers", "v": 1 } `),
    ).toBe(base);
    const bytes = '{"email":"ada@example.com","name":"Ada"}';
    const ref = { key: 'staging/x', size: bytes.length, sha256: sha256(bytes) };
    expect(idOf(upsert({ data: undefined, ref, contentType: 'application/json' }))).toBe(base);
    const b64 = upsert({
      dataEncoding: 'base64',
      data: Buffer.from(bytes).toString('base64'),
      contentType: 'application/json',
    });
    expect(idOf(b64)).toBe(base);
  });

  it('differs when anything restore shows differs', () => {
    const others = [
      idOf(upsert({ source: 'crm.leads' })),
      idOf(upsert({ key: '43' }), '43'),
      idOf(upsert({ ts: TS + 1 })),
      idOf(upsert({ data: { name: 'Ada', email: 'ada@example.org' } })),
      idOf(upsert({ contentType: 'application/merge-patch+json' })),
      idOf(upsert({ op: 'delete', data: undefined })),
    ];
    expect(new Set([base, ...others]).size).toBe(others.length + 1);
  });

  it('does not depend on the format: a native delete, a tombstone and a Debezium delete of one key agree', () => {
    const native = parse(message({ source: 's', key: '{"id":1}', op: 'delete', ts: TS }, null));
    const tombstone = parse(message(null, '{"id": 1}', undefined, { timestamp: TS }), { source: 's' });
    const dbz = parse(message(debezium({ op: 'd', after: null }), '{"id":1}'), { source: 's' });
    expect(new Set([native.id, tombstone.id, dbz.id]).size).toBe(1);
  });
});
