import {
  KafkaJSNonRetriableError,
  KafkaJSNumberOfRetriesExceeded,
  KafkaJSProtocolError,
  KafkaJSRequestTimeoutError,
  type Message,
  type Producer,
  type ProducerRecord,
  type RecordMetadata,
} from 'kafkajs';
import { ExactNumber, changeId, parseChangeRecord, type ChangeRecord } from '../changes';
import { TS, TS_TEXT, sha256 } from '../changes/test-fixtures';
import { BackstreamError, ConfigError, InvalidEventError } from '../errors';
import { MemoryObjectStore, StoreError } from '../store';
import {
  ChangePublisher,
  DEFAULT_INLINE_LIMIT,
  stagingPrefixOf,
  type ChangePublisherOptions,
} from './change-publisher';
import { PublishError } from './errors';

const TOPIC = 'crm.changes';
const SOURCE = 'crm.customers';

/** A kafkajs Producer that records what it is sent; `answer` decides how each send settles. */
function fakeProducer(answer: (record: ProducerRecord) => Promise<RecordMetadata[]> = () => Promise.resolve([])): {
  producer: Producer;
  sent: ProducerRecord[];
} {
  const sent: ProducerRecord[] = [];
  const send = jest.fn((record: ProducerRecord) => {
    sent.push(record);
    return answer(record);
  });
  return { producer: { send } as unknown as Producer, sent };
}

function setup(options: Partial<ChangePublisherOptions> = {}, answer?: Parameters<typeof fakeProducer>[0]) {
  const { producer, sent } = fakeProducer(answer);
  const store = new MemoryObjectStore();
  const publisher = new ChangePublisher(producer, store, { topic: TOPIC, source: SOURCE, ...options });
  const messages = (): Message[] => sent.flatMap((r) => r.messages);
  return { publisher, store, sent, messages };
}

/** A sent message as the ingest reads it. */
function read(m: Message | undefined): ChangeRecord {
  if (m === undefined) throw new Error('no message');
  return parseChangeRecord({
    topic: TOPIC,
    partition: 0,
    offset: '7',
    timestamp: m.timestamp ?? String(Date.now()),
    key: m.key === null || m.key === undefined ? null : Buffer.from(m.key),
    value: m.value === null || m.value === undefined ? null : Buffer.from(m.value),
    ...(m.headers ? { headers: m.headers } : {}),
  });
}

const valueOf = (m: Message | undefined): Record<string, unknown> =>
  JSON.parse(String(m?.value)) as Record<string, unknown>;

async function rejection<E extends BackstreamError>(promise: Promise<unknown>, type: new (...args: never[]) => E) {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(type);
  return err as E;
}

describe('ChangePublisher', () => {
  it('publishes an upsert as a native event the ingest parses to the same change', async () => {
    const { publisher, sent, messages } = setup();
    const published = await publisher.upsert('42', { name: 'Ada', n: 1.0 }, { ts: TS });
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({ topic: TOPIC, acks: -1 });
    const m = messages()[0]!;
    expect(m.key).toBe('42');
    expect(m.headers).toEqual({ 'bs-source': SOURCE });
    // The record timestamp stays the producer's: an old ts must not meet time-based retention.
    expect(m.timestamp).toBeUndefined();
    expect(valueOf(m)).toEqual({
      source: SOURCE,
      key: '42',
      op: 'upsert',
      ts: TS_TEXT,
      contentType: 'application/json',
      data: { n: 1, name: 'Ada' },
    });
    const record = read(m);
    expect(record.format).toBe('native');
    expect(record.id).toBe(published.id);
    expect(published.id).toBe(changeId(published));
    expect(published).toMatchObject({ source: SOURCE, key: '42', op: 'upsert', tsMs: TS });
    expect(record.payload).toEqual(published.payload);
    expect(published.payload?.kind === 'inline' && published.payload.bytes.toString()).toBe('{"n":1,"name":"Ada"}');
  });

  it('keys a structured key by its canonical JSON, given as text or as an object', async () => {
    const { publisher, messages } = setup();
    await publisher.upsert('{ "b": 2, "a": 1 }', null, { ts: TS });
    await publisher.upsert({ b: 2, a: 1 }, null, { ts: TS });
    await publisher.delete('{"schema":{"type":"struct"},"payload":{"a":1,"b":2}}', { ts: TS });
    for (const m of messages()) {
      expect(m.key).toBe('{"a":1,"b":2}');
      expect(read(m).key).toBe('{"a":1,"b":2}');
    }
  });

  it('sends a Buffer in base64 (application/octet-stream unless told)', async () => {
    const { publisher, messages } = setup();
    const bytes = Buffer.from([0, 1, 2, 250, 255]);
    const published = await publisher.upsert('avatar-1', bytes, { ts: TS, contentType: 'image/png' });
    await publisher.upsert('avatar-2', new Uint8Array([9, 8]), { ts: TS });
    const [png, other] = messages();
    expect(valueOf(png)).toMatchObject({
      contentType: 'image/png',
      dataEncoding: 'base64',
      data: bytes.toString('base64'),
    });
    expect(read(png).payload).toMatchObject({ kind: 'inline', encoding: 'base64', bytes, sha256: sha256(bytes) });
    expect(read(png).id).toBe(published.id);
    expect(read(other).payload).toMatchObject({ contentType: 'application/octet-stream', bytes: Buffer.from([9, 8]) });
  });

  it('stages a payload over the inline limit under staging/<source>/<sha256>, then sends a ref', async () => {
    const { publisher, store, messages } = setup({ inlineLimit: 1024 });
    const bytes = Buffer.alloc(5000, 7);
    const published = await publisher.upsert('C-7', bytes, { ts: TS, contentType: 'application/pdf' });
    const key = `staging/crm.customers/${sha256(bytes)}`;
    expect([...store.objects.keys()]).toEqual([key]);
    expect(store.objects.get(key)).toEqual(bytes);
    const m = messages()[0]!;
    expect(valueOf(m)).toEqual({
      source: SOURCE,
      key: 'C-7',
      op: 'upsert',
      ts: TS_TEXT,
      contentType: 'application/pdf',
      ref: { key, size: 5000, sha256: sha256(bytes) },
    });
    expect(read(m).id).toBe(published.id);
    expect(published.payload).toEqual({
      kind: 'ref',
      key,
      size: 5000,
      sha256: sha256(bytes),
      contentType: 'application/pdf',
    });
  });

  it('gives a change the same identity inline or staged, JSON data included', async () => {
    const data = { text: 'x'.repeat(3000), id: 12345678901234567890n, r: new ExactNumber('0.10000000000000000555') };
    const small = setup({ inlineLimit: 1024 });
    const large = setup();
    const staged = await small.publisher.upsert('42', data, { ts: TS });
    const inline = await large.publisher.upsert('42', data, { ts: TS });
    expect(staged.payload?.kind).toBe('ref');
    expect(inline.payload?.kind).toBe('inline');
    expect(staged.id).toBe(inline.id);
    const [object] = [...small.store.objects.values()];
    expect(object?.toString()).toBe(
      `{"id":12345678901234567890,"r":0.10000000000000000555,"text":"${'x'.repeat(3000)}"}`,
    );
    expect(staged.payload?.contentType).toBe('application/json');
  });

  it('stages by the size of the record value, not only of the payload', async () => {
    // 900 bytes of payload fit in 1024, but base64 makes the value larger.
    const { publisher, store } = setup({ inlineLimit: 1024 });
    const published = await publisher.upsert('k', Buffer.alloc(900), { ts: TS });
    expect(published.payload?.kind).toBe('ref');
    expect(store.objects.size).toBe(1);
  });

  it('sends the event only once the staged object is in the store', async () => {
    let staged: boolean | undefined;
    const store = new MemoryObjectStore();
    const { producer } = fakeProducer(() => {
      staged = store.objects.size === 1;
      return Promise.resolve([]);
    });
    const publisher = new ChangePublisher(producer, store, { topic: TOPIC, source: SOURCE, inlineLimit: 10 });
    await publisher.upsert('k', Buffer.alloc(100), { ts: TS });
    expect(staged).toBe(true);
  });

  it('sends nothing when staging fails, and passes the store error on', async () => {
    const { publisher, store, sent } = setup({ inlineLimit: 10 });
    jest.spyOn(store, 'put').mockRejectedValue(new StoreError('S3 PUT failed (HTTP 503)', { retriable: true }));
    const err = await rejection(publisher.upsert('k', Buffer.alloc(100), { ts: TS }), StoreError);
    expect(err.retriable).toBe(true);
    expect(sent).toHaveLength(0);
  });

  it('encodes : @ / of a source name in its staging prefix, which the contract accepts', async () => {
    expect(stagingPrefixOf('crm.customers')).toBe('staging/crm.customers/');
    expect(stagingPrefixOf('svc:db@host/t')).toBe('staging/svc!3adb!40host!2ft/');
    expect(stagingPrefixOf('..')).toBe('staging/!2e!2e/');
    const { publisher, messages } = setup({ source: 'svc:db@host/t', inlineLimit: 0 });
    await publisher.upsert('k', 'text', { ts: TS });
    expect(read(messages()[0]).payload).toMatchObject({
      kind: 'ref',
      key: expect.stringMatching(/^staging\/svc!3adb!40host!2ft\//) as unknown,
    });
  });

  it('publishes a delete event, or a tombstone whose record timestamp is the ts', async () => {
    const { publisher, messages } = setup();
    const deleted = await publisher.delete('42', { ts: TS_TEXT });
    const tombstone = await publisher.delete('42', { ts: TS, tombstone: true });
    const [event, nullValue] = messages();
    expect(valueOf(event)).toEqual({ source: SOURCE, key: '42', op: 'delete', ts: TS_TEXT });
    expect(nullValue).toEqual({ key: '42', value: null, headers: { 'bs-source': SOURCE }, timestamp: String(TS) });
    expect(read(event)).toMatchObject({ format: 'native', op: 'delete', payload: null, id: deleted.id });
    expect(read(nullValue)).toMatchObject({ format: 'tombstone', op: 'delete', source: SOURCE, id: tombstone.id });
    // The identity leaves out how the delete travelled.
    expect(tombstone.id).toBe(deleted.id);
  });

  it.each([
    [TS, TS],
    [new Date(TS), TS],
    [TS_TEXT, TS],
    ['2024-05-01T12:00:00.123456+02:00', TS],
    [0, 0],
  ])('takes ts %p as epoch ms %p', async (ts, tsMs) => {
    const { publisher, messages } = setup();
    expect((await publisher.upsert('k', 1, { ts })).tsMs).toBe(tsMs);
    expect(read(messages()[0]).tsMs).toBe(tsMs);
  });

  it('stamps a change with the current time when no ts is given', async () => {
    const { publisher } = setup();
    const before = Date.now();
    const { tsMs } = await publisher.delete('k');
    expect(tsMs).toBeGreaterThanOrEqual(before);
    expect(tsMs).toBeLessThanOrEqual(Date.now());
  });

  it('publishes a batch in one acks=all request, in order', async () => {
    const { publisher, sent, store } = setup({ inlineLimit: 300 });
    const big = Buffer.alloc(400, 1);
    const published = await publisher.publishMany([
      { op: 'upsert', key: '1', data: { a: 1 }, ts: TS },
      { op: 'upsert', key: '2', data: big, ts: TS + 1 },
      { op: 'upsert', key: '3', data: big, ts: TS + 2 },
      { op: 'delete', key: '1', ts: TS + 3 },
    ]);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.acks).toBe(-1);
    const records = sent[0]!.messages.map(read);
    expect(records.map((r) => [r.key, r.op, r.payload?.kind ?? null])).toEqual([
      ['1', 'upsert', 'inline'],
      ['2', 'upsert', 'ref'],
      ['3', 'upsert', 'ref'],
      ['1', 'delete', null],
    ]);
    expect(records.map((r) => r.id)).toEqual(published.map((p) => p.id));
    expect(store.objects.size).toBe(1);
    expect(await publisher.publishMany([])).toEqual([]);
    expect(sent).toHaveLength(1);
  });

  describe('refuses what the contract refuses, before anything is staged or sent', () => {
    const cases: [string, (p: ChangePublisher) => Promise<unknown>, RegExp][] = [
      ['an empty key', (p) => p.upsert('', 1, { ts: TS }), /the key is empty/],
      ['a key too long', (p) => p.delete('k'.repeat(4097), { ts: TS }), /more than 4096/],
      ['a key neither text nor object', (p) => p.delete(42 as unknown as string, { ts: TS }), /key: expected/],
      ['a ts without a zone', (p) => p.upsert('k', 1, { ts: '2024-05-01T10:00:00' }), /ts: expected an RFC 3339/],
      ['a ts with a space', (p) => p.upsert('k', 1, { ts: '2024-05-01 10:00:00Z' }), /ts: expected an RFC 3339/],
      ['a ts before 1970', (p) => p.upsert('k', 1, { ts: '1969-12-31T23:59:59Z' }), /ts: .* is outside/],
      ['a negative ts', (p) => p.delete('k', { ts: -1 }), /ts: expected/],
      ['a fractional ts', (p) => p.delete('k', { ts: 1.5 }), /ts: expected/],
      ['an invalid Date', (p) => p.delete('k', { ts: new Date('nope') }), /ts: expected/],
      ['a ts after 9999', (p) => p.delete('k', { ts: 253_402_300_800_000 }), /ts: after 9999/],
      ['undefined data', (p) => p.upsert('k', undefined, { ts: TS }), /data: a undefined is not a JSON value/],
      ['NaN in data', (p) => p.upsert('k', { a: [NaN] }, { ts: TS }), /data\.a\[0\]: NaN is not a JSON number/],
      ['a Map in data', (p) => p.upsert('k', { m: new Map() }, { ts: TS }), /data\.m: a Map/],
      [
        'JSON data labelled non-JSON',
        (p) => p.upsert('k', { a: 1 }, { ts: TS, contentType: 'text/plain' }),
        /contentType: application\/json or/,
      ],
      [
        'JSON data labelled non-JSON, staged',
        (p) => p.upsert('k', 'x'.repeat(2000), { ts: TS, contentType: 'text/plain' }),
        /contentType/,
      ],
      [
        'bytes with a bad media type',
        (p) => p.upsert('k', Buffer.from('x'), { ts: TS, contentType: 'Image/PNG' }),
        /contentType: a media type/,
      ],
      [
        'bytes with a bad media type, staged',
        (p) => p.upsert('k', Buffer.alloc(2000), { ts: TS, contentType: 'png' }),
        /contentType: a media type/,
      ],
      [
        'an unknown op',
        (p) => p.publishMany([{ op: 'insert', key: 'k' } as never]),
        /change 0: op: unknown op "insert"/,
      ],
      [
        'one bad change of a batch',
        (p) =>
          p.publishMany([
            { op: 'upsert', key: 'k', data: Buffer.alloc(2000), ts: TS },
            { op: 'delete', key: '', ts: TS },
          ]),
        /change 1: the key is empty/,
      ],
    ];
    it.each(cases)('%s', async (_what, call, reason) => {
      const { publisher, sent, store } = setup({ inlineLimit: 1024 });
      const err = await rejection(call(publisher), InvalidEventError);
      expect(err.message).toMatch(reason);
      expect(err.retriable).toBe(false);
      expect(sent).toHaveLength(0);
      expect(store.objects.size).toBe(0);
    });

    it('a circular reference in data', async () => {
      const { publisher } = setup();
      const loop: Record<string, unknown> = {};
      loop.self = loop;
      expect((await rejection(publisher.upsert('k', loop, { ts: TS }), InvalidEventError)).message).toMatch(/circular/);
    });
  });

  it('writes data as JSON.stringify would (toJSON, undefined members), bigint exactly', async () => {
    const { publisher } = setup();
    const data = { at: new Date(TS), gone: undefined, list: [undefined, 1], big: 2n ** 64n };
    const published = await publisher.upsert('k', data, { ts: TS });
    expect(published.payload?.kind === 'inline' && published.payload.bytes.toString()).toBe(
      `{"at":"${TS_TEXT}","big":18446744073709551616,"list":[null,1]}`,
    );
    const proto = await publisher.upsert('k', JSON.parse('{"__proto__":{"a":1}}'), { ts: TS });
    expect(proto.payload?.kind === 'inline' && proto.payload.bytes.toString()).toBe('{"__proto__":{"a":1}}');
  });

  describe('errors of the send', () => {
    const fail = (err: Error) => () => Promise.reject(err);

    it('a broker timeout is retriable', async () => {
      const timeout = new KafkaJSRequestTimeoutError('Request Produce(key: 0, version: 7) timed out');
      for (const err of [timeout, new KafkaJSNumberOfRetriesExceeded(timeout, { retryCount: 5, retryTime: 1000 })]) {
        const { publisher } = setup({}, fail(err));
        const e = await rejection(publisher.delete('k', { ts: TS }), PublishError);
        expect(e).toMatchObject({ code: 'KAFKA_UNAVAILABLE', retriable: true, topic: TOPIC, cause: err });
        expect(e.message).toMatch(/timed out/);
      }
    });

    it('a record the broker refuses is not retriable', async () => {
      const tooLarge = new KafkaJSProtocolError({
        type: 'MESSAGE_TOO_LARGE',
        code: 10,
        retriable: false,
        message: 'The request included a message larger than the max message size the server will accept',
      } as unknown as Error);
      const { publisher } = setup({}, fail(new KafkaJSNonRetriableError(tooLarge)));
      const e = await rejection(publisher.upsert('k', 1, { ts: TS }), PublishError);
      expect(e.retriable).toBe(false);
      expect(e.message).toMatch(/larger than the max message size/);
    });

    it('no acknowledgement within timeoutMs is a retriable TIMEOUT', async () => {
      const { publisher } = setup({ timeoutMs: 20 }, () => new Promise<RecordMetadata[]>(() => undefined));
      const e = await rejection(publisher.delete('k', { ts: TS }), BackstreamError);
      expect(e).toMatchObject({ code: 'TIMEOUT', retriable: true });
    });
  });

  it('refuses invalid options with a ConfigError', () => {
    const { producer } = fakeProducer();
    const make = (o: Partial<ChangePublisherOptions>) => () =>
      new ChangePublisher(producer, new MemoryObjectStore(), { topic: TOPIC, source: SOURCE, ...o });
    expect(make({})().inlineLimit).toBe(DEFAULT_INLINE_LIMIT);
    for (const o of [
      { topic: '' },
      { source: 'crm customers' },
      { source: '' },
      { inlineLimit: 4 * 1024 * 1024 + 1 },
      { inlineLimit: -1 },
      { stagingPrefix: 'blocks/' },
      { stagingPrefix: 'staging/crm' },
      { stagingPrefix: 'staging/../' },
      { timeoutMs: 0 },
      { stagingConcurrency: 0 },
    ]) {
      expect(make(o)).toThrow(ConfigError);
    }
    expect(make({ stagingPrefix: 'staging/crm/customers/' })().stagingPrefix).toBe('staging/crm/customers/');
  });
});
