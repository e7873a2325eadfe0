import convict from 'convict';
import { sourceNameSchema } from '../changes/schema';
import { parseByteSize } from './byte-size';

/**
 * The value formats of the config schema. Each format's message is the expected form,
 * which the loader shows next to the key that failed.
 */
function fail(expected: string): never {
  throw new Error(`must be ${expected}`);
}

const BROKER = /^[A-Za-z0-9.\-[\]:]+:\d{1,5}$/;
// S3 bucket naming rules (3-63 chars, lower case, digits, dots, hyphens).
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const TOPIC = /^[A-Za-z0-9._-]{1,249}$/;

let registered = false;

/** "a, b,,c" → ["a", "b", "c"]: how a list is written in an environment variable. */
function commaList(v: unknown): unknown {
  return typeof v === 'string'
    ? v
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s.length > 0)
    : v;
}

export function registerFormats(): void {
  if (registered) return;
  registered = true;

  convict.addFormat({
    name: 'broker-list',
    coerce: commaList,
    validate: (v: unknown) => {
      if (!Array.isArray(v) || !v.every((b) => typeof b === 'string' && BROKER.test(b))) {
        fail('a comma-separated list of host:port, e.g. 127.0.0.1:19092,kafka-1:9092');
      }
    },
  });

  convict.addFormat({
    name: 'topic-list',
    coerce: commaList,
    validate: (v: unknown) => {
      if (
        !Array.isArray(v) ||
        !v.every((t) => typeof t === 'string' && TOPIC.test(t) && t !== '.' && t !== '..') ||
        new Set(v).size !== v.length
      ) {
        fail(
          'a comma-separated list of distinct Kafka topic names (1 to 249 letters, digits, ".", "_" and "-"), e.g. crm.changes,shop.orders',
        );
      }
    },
  });

  convict.addFormat({
    name: 'change-source',
    validate: (v: unknown) => {
      if (v === '') return;
      if (!sourceNameSchema.safeParse(v).success) {
        fail('empty or a source name: 1 to 200 letters, digits and . _ : @ / - (e.g. crm.customers)');
      }
    },
  });

  convict.addFormat({
    name: 'non-empty-string',
    validate: (v: unknown) => {
      if (typeof v !== 'string' || v.trim() === '') fail('a non-empty string');
    },
  });

  // For key material and passwords: convict's own `String` lets an object through (its
  // keys join the config tree), and a secret pasted as an object key would be echoed back.
  convict.addFormat({
    name: 'plain-string',
    validate: (v: unknown) => {
      if (typeof v !== 'string') fail('a string');
    },
  });

  convict.addFormat({
    name: 'topic-prefix',
    validate: (v: unknown) => {
      if (typeof v !== 'string' || !/^[A-Za-z0-9._-]{0,100}$/.test(v)) {
        fail('at most 100 characters of letters, digits, ".", "_" and "-" (Kafka topic name characters)');
      }
    },
  });

  convict.addFormat({
    name: 'positive-int',
    coerce: (v: unknown) => (typeof v === 'string' && /^\s*\d+\s*$/.test(v) ? Number(v) : v),
    validate: (v: unknown) => {
      if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) fail('a positive integer');
    },
  });

  convict.addFormat({
    name: 'replication-factor',
    coerce: (v: unknown) => (typeof v === 'string' && /^\s*-?\d+\s*$/.test(v) ? Number(v) : v),
    validate: (v: unknown) => {
      if (typeof v !== 'number' || !Number.isInteger(v) || (v < 1 && v !== -1))
        fail('-1 (broker default) or a positive integer');
    },
  });

  convict.addFormat({
    name: 'ratio',
    coerce: (v: unknown) => (typeof v === 'string' && /^\s*\d*\.?\d+\s*$/.test(v) ? Number(v) : v),
    validate: (v: unknown) => {
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > 1) fail('a number from 0 to 1');
    },
  });

  convict.addFormat({
    name: 'zstd-level',
    coerce: (v: unknown) => (typeof v === 'string' && /^\s*\d+\s*$/.test(v) ? Number(v) : v),
    validate: (v: unknown) => {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 19) fail('an integer from 1 to 19');
    },
  });

  convict.addFormat({
    name: 'byte-size',
    coerce: (v: unknown) => parseByteSize(v) ?? v,
    validate: (v: unknown) => {
      if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) {
        fail('a positive byte count: an integer, optionally with KiB, MiB or GiB (e.g. 512KiB, 8MiB)');
      }
    },
  });

  convict.addFormat({
    name: 'optional-url',
    validate: (v: unknown) => {
      if (v === '') return;
      let url: URL | undefined;
      try {
        url = typeof v === 'string' ? new URL(v) : undefined;
      } catch {
        url = undefined;
      }
      if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
        fail('empty or an http(s) URL, e.g. http://127.0.0.1:19000');
      }
    },
  });

  convict.addFormat({
    name: 'bucket-name',
    validate: (v: unknown) => {
      if (v === '') return;
      if (typeof v !== 'string' || !BUCKET.test(v)) {
        fail('an S3 bucket name: 3 to 63 lower-case letters, digits, dots and hyphens');
      }
    },
  });

  convict.addFormat({
    name: 'key-prefix',
    validate: (v: unknown) => {
      if (typeof v !== 'string' || v.startsWith('/') || v.length > 512) {
        fail('an object key prefix not starting with "/", at most 512 characters');
      }
    },
  });
}

const BOUNDED_BASES = {
  'positive-int': {
    coerce: (v: unknown) => (typeof v === 'string' && /^\s*\d+\s*$/.test(v) ? Number(v) : v),
    expected: 'a positive integer',
  },
  'byte-size': {
    coerce: (v: unknown) => parseByteSize(v) ?? v,
    expected: 'a positive byte count (an integer, optionally with KiB, MiB or GiB)',
  },
} as const;
const boundedNames = new Set<string>();

/**
 * The name of a format: a positive integer or byte size of at most `max`, registered on
 * first use. Every setting that sizes a batch, a buffer or a fan-out has one, so that no
 * setting can make a service allocate without bound (docs/security.md).
 */
export function atMost(base: keyof typeof BOUNDED_BASES, max: number): string {
  const name = `${base} <= ${max}`;
  if (boundedNames.has(name)) return name;
  boundedNames.add(name);
  const { coerce, expected } = BOUNDED_BASES[base];
  convict.addFormat({
    name,
    coerce,
    validate: (v: unknown) => {
      if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0 || v > max) fail(`${expected} of at most ${max}`);
    },
  });
  return name;
}
