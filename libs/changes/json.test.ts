import { ExactNumber, canonicalJson, parseJson } from './json';

describe('parseJson', () => {
  it.each([
    '{"a":[1,-2.5,3e2,0,-0,true,false,null,"x"],"b":{}}',
    ' [ ] ',
    '"\\u00e9\\n\\"\\\\\\/ \\ud83d\\ude00 é"',
    '0.1',
    '-1.5e-7',
    '9007199254740991',
    '1.0',
    '{"__proto__":{"polluted":true}}',
  ])('reads %s as JSON.parse does', (text) => {
    expect(parseJson(text)).toEqual(JSON.parse(text));
  });

  it('keeps "__proto__" as an own property and leaves the prototype alone', () => {
    const value = parseJson('{"__proto__":{"polluted":true}}') as Record<string, unknown>;
    expect(Object.keys(value)).toEqual(['__proto__']);
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it.each([
    ['9007199254740993', '9007199254740993'],
    // 2^53 is a double, but not a safe integer: the next integer would read as the same double.
    ['9007199254740992', '9007199254740992'],
    ['12345678901234567890', '12345678901234567890'],
    ['-9223372036854775807', '-9223372036854775807'],
    ['0.10000000000000000555', '0.10000000000000000555'],
    ['1e400', '1e400'],
    ['1e-400', '1e-400'],
  ])('keeps %s, which no double holds, as its text', (text, kept) => {
    const value = parseJson(`[${text}]`) as unknown[];
    expect(value[0]).toEqual(new ExactNumber(kept));
  });

  it.each([
    ['1.50', 1.5],
    ['150e-2', 1.5],
    ['1E2', 100],
    ['0.000', 0],
    ['-0', -0],
  ])('reads %s as a plain number: the double writes back as the same decimal', (text, number) => {
    expect(parseJson(text)).toBe(number);
  });

  it.each([
    '',
    '{',
    '{"a":1,}',
    '[1 2]',
    '{"a":1}x',
    '{"a":1,"a":2}',
    '"a\u0001b"',
    '"\\x"',
    '"abc',
    '01',
    '-',
    '.5',
    'tru',
    'NaN',
    '\ufeff{}',
    '{a:1}',
  ])('refuses %j with a SyntaxError naming the position', (text) => {
    expect(() => parseJson(text)).toThrow(SyntaxError);
    expect(() => parseJson(text)).toThrow(/position \d+/);
  });

  it('names a key repeated with another value', () => {
    expect(() => parseJson('{"a":1,"a":2}')).toThrow(/Duplicate key 'a'/);
  });

  it('refuses nesting too deep for the parser as a SyntaxError, not a crash', () => {
    const nested = (n: number): string => '['.repeat(n) + ']'.repeat(n);
    expect(parseJson(nested(256))).toBeInstanceOf(Array);
    expect(() => parseJson(nested(200_000))).toThrow(SyntaxError);
  });
});

describe('canonicalJson', () => {
  it('sorts keys by UTF-16 code units, drops whitespace and writes numbers as JSON.stringify does', () => {
    const text = '{ "b": [1.0, 2e1, -0, "x"], "a": { "z": null, "é": true, "10": 1, "9": 2, "A": 0 } }';
    expect(canonicalJson(parseJson(text))).toBe('{"a":{"10":1,"9":2,"A":0,"z":null,"é":true},"b":[1,20,0,"x"]}');
  });

  it('writes an ExactNumber as it was written, so big numbers survive', () => {
    const text = '{"id":12345678901234567890,"ratio":0.10000000000000000555,"n":9007199254740993}';
    expect(canonicalJson(parseJson(text))).toBe(
      '{"id":12345678901234567890,"n":9007199254740993,"ratio":0.10000000000000000555}',
    );
  });

  it('escapes strings as JSON.stringify does, lone surrogates included', () => {
    expect(canonicalJson(parseJson('"\\u00e9\\u2028\\u0001\\ud800"'))).toBe('"é\u2028\\u0001\\ud800"');
  });

  it('is a fixed point: canonical text parses back to the same canonical text', () => {
    const text = '{"k":[{"y":1,"x":[true,{"b":"\\"q\\"","a":1e-7}]}],"big":-12345678901234567890}';
    const once = canonicalJson(parseJson(text));
    expect(canonicalJson(parseJson(once))).toBe(once);
  });

  it('refuses numbers JSON cannot write', () => {
    expect(() => canonicalJson(Number.NaN)).toThrow(TypeError);
    expect(() => canonicalJson(Infinity)).toThrow(TypeError);
  });
});
