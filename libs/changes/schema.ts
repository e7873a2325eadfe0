import { z } from 'zod';

/**
 * The native change event, version 1: what an upstream system publishes on a change topic
 * (docs/change-events.md). The record key is the entity key; the value is one JSON object:
 *
 *   {"source": "crm.customers", "key": "42", "op": "upsert", "ts": "2024-05-01T10:00:00Z", "data": {...}}
 *
 * An upsert carries its payload in exactly one way: `data` (any JSON value), `data` with
 * `"dataEncoding": "base64"` (bytes), or `ref` (a claim check: an object staged in the
 * bucket). A delete carries none. Unknown fields are contract violations. The JSON Schema
 * for publishers in other languages is generated from this one (write-json-schema.ts).
 */
export const CHANGE_EVENT_VERSION = 1;

/** Limits of the contract; the JSON Schema states those it can express. */
export const CHANGE_LIMITS = {
  /** Characters of `source` (as backup source names). */
  sourceLength: 200,
  /** Characters of an entity key, after canonicalisation (see canonicalKey). */
  keyLength: 4096,
  contentTypeLength: 255,
  /** S3's limit for an object key; staged keys are ASCII, so characters are bytes. */
  refKeyLength: 1024,
  /** S3's largest object: 5 TiB. */
  refSize: 5 * 1024 ** 4,
  /** Default limit of a record value (parse option maxValueBytes): larger payloads go by ref. */
  valueBytes: 4 * 1024 * 1024,
  /** 9999-12-31T23:59:59.999Z: the last instant RFC 3339 can write. */
  tsMs: 253_402_300_799_999,
} as const;

/** Where publishers stage claim-check payloads, below s3.prefix in the backstream bucket. */
export const STAGING_PREFIX = 'staging/';

export const DEFAULT_CONTENT_TYPE = { json: 'application/json', bytes: 'application/octet-stream' } as const;

/** The same rule as the source names of file backups (libs/events): they share the ledger. */
export const sourceNameSchema = z
  .string()
  .min(1)
  .max(CHANGE_LIMITS.sourceLength)
  .regex(/^[A-Za-z0-9._:@/-]+$/, 'letters, digits and . _ : @ / -')
  .meta({
    id: 'ChangeSource',
    description:
      'The upstream system and collection, e.g. "crm.customers": letters, digits and . _ : @ / -. Versions are kept per (source, key).',
  });

const key = z.string().min(1).max(CHANGE_LIMITS.keyLength).meta({
  id: 'ChangeKey',
  description:
    'The entity key. It must equal the Kafka record key when the record has one. Text that is a JSON object is compared in canonical JSON (keys sorted, no whitespace).',
});

const TS_FORMS = 'expected an RFC 3339 date-time with seconds and a zone, or integer epoch milliseconds';
const ts = z
  .union(
    [
      z.iso.datetime({ offset: true, error: TS_FORMS }),
      z
        .int({ error: TS_FORMS })
        .min(0, { error: TS_FORMS })
        .max(CHANGE_LIMITS.tsMs, { error: 'after 9999-12-31T23:59:59.999Z' }),
    ],
    { error: TS_FORMS },
  )
  .meta({
    id: 'ChangeTimestamp',
    description:
      'When the change happened upstream: an RFC 3339 date-time with seconds and a zone (Z or ±hh:mm), or integer milliseconds since 1970-01-01T00:00:00Z. Kept to the millisecond.',
  });

const version = z
  .literal(CHANGE_EVENT_VERSION, { error: `unsupported version: this build reads ${CHANGE_EVENT_VERSION}` })
  .optional()
  .meta({ description: 'Version of this contract; absent means 1.' });

const TOKEN = '[a-z0-9][a-z0-9!#$&^_.+-]*';
const PARAMETERS = ' *(?:;[ -~]*)?';
const contentType = z
  .string()
  .max(CHANGE_LIMITS.contentTypeLength)
  .regex(new RegExp(`^${TOKEN}/${TOKEN}${PARAMETERS}$`), 'a media type, type/subtype in lower case')
  .meta({
    id: 'ChangeContentType',
    description: 'Media type of the payload bytes. Default: application/octet-stream.',
  });

const jsonContentType = z
  .string()
  .max(CHANGE_LIMITS.contentTypeLength)
  .regex(
    new RegExp(`^application/(?:${TOKEN}\\+)?json${PARAMETERS}$`),
    'application/json or application/*+json: JSON data is stored as JSON text (send other types in base64)',
  )
  .meta({ description: 'A JSON media type: application/json (the default) or application/*+json.' });

// A key segment of S3's safe characters that is not "." or ".." (no lookahead: Go and Rust
// regex engines, which JSON Schema validators there use, have none).
const SAFE = "[A-Za-z0-9!_.*'()-]";
const SAFE_NOT_DOT = "[A-Za-z0-9!_*'()-]";
const SEGMENT = `(?:${SAFE_NOT_DOT}${SAFE}*|\\.${SAFE_NOT_DOT}${SAFE}*|\\.\\.${SAFE}+)`;

const sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'a lower-case hex SHA-256');

export const changeRefSchema = z
  .strictObject({
    key: z
      .string()
      .max(CHANGE_LIMITS.refKeyLength)
      .regex(
        new RegExp(`^${STAGING_PREFIX}(?:${SEGMENT}/)*${SEGMENT}$`),
        "an object key below staging/ of letters, digits and ! _ . * ' ( ) -, without . or .. segments",
      )
      .meta({ description: 'The staged object, below s3.prefix in the backstream bucket.' }),
    size: z.int().min(0).max(CHANGE_LIMITS.refSize).meta({ description: 'Its length in bytes.' }),
    sha256: sha256.meta({ description: 'The lower-case hex SHA-256 of its bytes.' }),
  })
  .meta({
    id: 'ChangeRef',
    description: 'A claim check: the payload was staged in object storage. The ingest checks its size and SHA-256.',
  });
export type ChangeRef = z.infer<typeof changeRefSchema>;

const common = { v: version, source: sourceNameSchema, key, ts };
const upsert = z.literal('upsert', { error: 'expected "upsert" or "delete"' });

export const upsertJsonSchema = z
  .strictObject({
    ...common,
    op: upsert,
    contentType: jsonContentType.optional(),
    dataEncoding: z
      .literal('json', { error: 'expected "json" or "base64"' })
      .optional()
      .meta({ description: 'How `data` carries the payload; absent means json.' }),
    data: z
      .unknown()
      .nonoptional('data is required')
      .meta({ description: 'The payload: any JSON value (null included), stored as canonical JSON text.' }),
  })
  .meta({ title: 'upsert with JSON data' });

export const upsertBase64Schema = z
  .strictObject({
    ...common,
    op: upsert,
    contentType: contentType.optional(),
    dataEncoding: z.literal('base64'),
    data: z
      .string()
      .regex(/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/, 'standard base64 with padding')
      .meta({ description: 'The payload bytes in base64 (RFC 4648, padded).', contentEncoding: 'base64' }),
  })
  .meta({ title: 'upsert with bytes in base64' });

export const upsertRefSchema = z
  .strictObject({ ...common, op: upsert, contentType: contentType.optional(), ref: changeRefSchema })
  .meta({ title: 'upsert by claim check' });

export const deleteSchema = z
  .strictObject({ ...common, op: z.literal('delete', { error: 'expected "upsert" or "delete"' }) })
  .meta({ title: 'delete' });

export const changeEventSchema = z.union([upsertJsonSchema, upsertBase64Schema, upsertRefSchema, deleteSchema]).meta({
  title: 'backstream change event',
  description:
    'The value of a record on a backstream change topic (version 1); the record key is the entity key. A null value (tombstone) deletes the key. See docs/change-events.md.',
});
export type ChangeEvent = z.infer<typeof changeEventSchema>;

/** Where the generated JSON Schema is committed, relative to the repository root. */
export const CHANGE_EVENT_SCHEMA_FILE = 'docs/schemas/change-event.schema.json';

/** The JSON Schema (draft 2020-12) of the native change event, for publishers in other languages. */
export function changeEventJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(changeEventSchema, { target: 'draft-2020-12' });
}
