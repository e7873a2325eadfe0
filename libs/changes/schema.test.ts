import { readFileSync } from 'node:fs';
import path from 'node:path';
import { CHANGE_EVENT_SCHEMA_FILE, changeEventJsonSchema, changeEventSchema } from './schema';
import { TS, upsert } from './test-fixtures';

const committed = path.join(__dirname, '..', '..', CHANGE_EVENT_SCHEMA_FILE);

/** Every `pattern` in a JSON Schema. */
function patterns(node: unknown): string[] {
  if (typeof node !== 'object' || node === null) return [];
  const own = 'pattern' in node && typeof node.pattern === 'string' ? [node.pattern] : [];
  return [...own, ...Object.values(node).flatMap(patterns)];
}

describe('the JSON Schema of the change event', () => {
  it(`is committed as ${CHANGE_EVENT_SCHEMA_FILE}, as the zod schema generates it`, () => {
    const file = JSON.parse(readFileSync(committed, 'utf8')) as unknown;
    // On failure: npm run build && node dist/libs/changes/write-json-schema.js
    expect(file).toEqual(changeEventJsonSchema());
  });

  it('has one alternative per kind of event, each closed to unknown fields', () => {
    const schema = changeEventJsonSchema() as { anyOf: { title: string; additionalProperties: boolean }[] };
    expect(schema.anyOf.map((a) => a.title)).toEqual([
      'upsert with JSON data',
      'upsert with bytes in base64',
      'upsert by claim check',
      'delete',
    ]);
    expect(schema.anyOf.every((a) => a.additionalProperties === false)).toBe(true);
  });

  it('uses only patterns that ECMAScript (u flag), Go and Rust regex engines all read: no lookaround', () => {
    const all = patterns(changeEventJsonSchema());
    expect(all.length).toBeGreaterThanOrEqual(5);
    for (const pattern of all) {
      expect(() => new RegExp(pattern, 'u')).not.toThrow();
      expect(pattern).not.toMatch(/\(\?<?[=!]/);
    }
  });
});

describe('changeEventSchema', () => {
  it('accepts each kind of event and nothing that mixes them', () => {
    const ref = { key: 'staging/x', size: 1, sha256: 'a'.repeat(64) };
    const ok = [
      upsert(),
      upsert({ v: 1, ts: TS, dataEncoding: 'json', data: null }),
      upsert({ dataEncoding: 'base64', data: 'AA==' }),
      upsert({ data: undefined, ref }),
      { source: 's', key: 'k', op: 'delete', ts: TS },
    ];
    for (const event of ok) expect(changeEventSchema.safeParse(event).success).toBe(true);
    const bad = [
      upsert({ ref }),
      upsert({ dataEncoding: 'base64', data: { a: 1 } }),
      upsert({ data: undefined, ref, dataEncoding: 'base64' }),
      { source: 's', key: 'k', op: 'delete', ts: TS, data: 1 },
    ];
    for (const event of bad) expect(changeEventSchema.safeParse(event).success).toBe(false);
  });
});
