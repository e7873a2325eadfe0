import { createHash } from 'node:crypto';
import type { IHeaders } from 'kafkajs';
import type { RawChangeMessage } from './parse';
import type { ChangeRecord } from './record';

/** Shared fixtures of the change-event unit tests. */
export const sha256 = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');

/** 2024-05-01T10:00:00.123Z */
export const TS = 1714557600123;
export const TS_TEXT = '2024-05-01T10:00:00.123Z';

/** A number JSON.stringify cannot write: `json()` writes it as the bare literal. */
export const big = (literal: string): string => `#n:${literal}`;

/** JSON text of `value`, with big() strings written as number literals. */
export const json = (value: unknown): string => JSON.stringify(value).replace(/"#n:([-+.0-9eE]+)"/g, '$1');

/** A consumed record on topic "crm.changes"; a non-string value is sent as json(value). */
export function message(
  value: unknown,
  key: string | Buffer | null = '42',
  headers?: IHeaders,
  coordinates: Partial<Pick<RawChangeMessage, 'topic' | 'partition' | 'offset' | 'timestamp'>> = {},
): RawChangeMessage {
  const bytes = (v: unknown): Buffer | null =>
    v === null ? null : Buffer.isBuffer(v) ? v : Buffer.from(typeof v === 'string' ? v : json(v));
  return {
    topic: 'crm.changes',
    partition: 3,
    offset: '1207',
    timestamp: String(TS + 1000),
    ...coordinates,
    key: bytes(key),
    value: bytes(value),
    ...(headers ? { headers } : {}),
  };
}

/** A native upsert of key 42 with JSON data, with `overrides` applied (undefined removes a field). */
export function upsert(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const event: Record<string, unknown> = {
    source: 'crm.customers',
    key: '42',
    op: 'upsert',
    ts: TS_TEXT,
    data: { name: 'Ada', email: 'ada@example.com' },
    ...overrides,
  };
  for (const [k, v] of Object.entries(overrides)) if (v === undefined) delete event[k];
  return event;
}

export { rejection } from '../errors/test-fixtures';

/** A record without what depends on where it was read. */
export function withoutCoordinates(record: ChangeRecord): Omit<ChangeRecord, 'coordinates'> {
  const { coordinates: _coordinates, ...rest } = record;
  return rest;
}

export const DEBEZIUM_KEY_SCHEMA = {
  type: 'struct',
  fields: [{ type: 'int32', optional: false, field: 'id' }],
  optional: false,
  name: 'dbserver1.inventory.customers.Key',
};

/** A Debezium MySQL envelope for inventory.customers (as JsonConverter writes it with schemas.enable=false). */
export function debezium(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    before: null,
    after: { id: 1001, first_name: 'Sally', last_name: 'Thomas', email: 'sally.thomas@acme.com' },
    source: {
      version: '2.7.3.Final',
      connector: 'mysql',
      name: 'dbserver1',
      ts_ms: TS,
      snapshot: 'false',
      db: 'inventory',
      sequence: null,
      table: 'customers',
      server_id: 223344,
      gtid: null,
      file: 'mysql-bin.000003',
      pos: 154,
      row: 0,
      thread: 7,
      query: null,
    },
    op: 'c',
    ts_ms: TS + 2000,
    ts_us: (TS + 2000) * 1000,
    ts_ns: big('1714557602123000000'),
    transaction: null,
    ...overrides,
  };
}

/** The same value wrapped as JsonConverter writes it with schemas.enable=true (schema trimmed). */
export function withSchema(payload: unknown, name = 'dbserver1.inventory.customers.Envelope'): Record<string, unknown> {
  return { schema: { type: 'struct', fields: [], optional: false, name, version: 1 }, payload };
}
