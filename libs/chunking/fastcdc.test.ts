import { ConfigError } from '../errors';
import {
  chunkingMasks,
  cutPoints,
  FastCdcChunker,
  findCutPoint,
  setWordLoadsForTesting,
  validateChunkingParams,
  type ChunkingParams,
} from './fastcdc';
import { createGearTable, defaultGearTable, GearTable } from './gear';
import { pseudoRandomBytes } from './pseudo-random';

const KiB = 1024;
const MiB = 1024 * KiB;
const SMALL: ChunkingParams = { minSize: 2 * KiB, avgSize: 8 * KiB, maxSize: 64 * KiB };

/**
 * The cut rule written as literally as possible (see the head of fastcdc.ts): hash every
 * byte from the chunk start, one byte a step, no skipping, no word loads. The optimised
 * chunker must agree with it everywhere.
 */
function referenceCuts(buf: Uint8Array, params: ChunkingParams, gear: GearTable = defaultGearTable()): number[] {
  const { maskS, maskL } = chunkingMasks(params);
  const cuts: number[] = [];
  let start = 0;
  let h = 0;
  for (let p = 0; p < buf.length; p++) {
    h = ((h << 1) + gear.gear[buf[p]!]!) | 0;
    const length = p - start + 1;
    const cut =
      length >= params.minSize && (length === params.maxSize || (h & (length < params.avgSize ? maskS : maskL)) === 0);
    if (cut) {
      cuts.push(p + 1);
      start = p + 1;
      h = 0;
    }
  }
  if (start < buf.length) cuts.push(buf.length);
  return cuts;
}

/** Chunk lengths from chunk ends. */
function lengths(cuts: number[]): number[] {
  return cuts.map((end, i) => end - (i === 0 ? 0 : cuts[i - 1]!));
}

function popcount(x: number): number {
  let n = 0;
  for (let v = x >>> 0; v !== 0; v >>>= 1) n += v & 1;
  return n;
}

/** Random data with long runs of zeros (no content cut: chunks hit maxSize) and a repeated block. */
function mixedData(seed: number): Buffer {
  const random = pseudoRandomBytes(200 * KiB, seed);
  return Buffer.concat([random.subarray(0, 70 * KiB), Buffer.alloc(150 * KiB), random.subarray(70 * KiB), random]);
}

describe('validateChunkingParams', () => {
  it('accepts the default sizes and returns a frozen copy', () => {
    const params = validateChunkingParams({ minSize: 512 * KiB, avgSize: 1 * MiB, maxSize: 8 * MiB });
    expect(params).toEqual({ minSize: 512 * KiB, avgSize: 1 * MiB, maxSize: 8 * MiB });
    expect(Object.isFrozen(params)).toBe(true);
  });

  it.each([
    [{ minSize: 8 * KiB, avgSize: 8 * KiB, maxSize: 64 * KiB }, 'chunking.avgSize', /minSize < chunking.avgSize/],
    [{ minSize: 2 * KiB, avgSize: 64 * KiB, maxSize: 64 * KiB }, 'chunking.avgSize', /avgSize < chunking.maxSize/],
    [{ minSize: 2 * KiB, avgSize: 10000, maxSize: 64 * KiB }, 'chunking.avgSize', /power of two/],
    [{ minSize: 16, avgSize: 32, maxSize: 64 }, 'chunking.avgSize', /power of two from 64 B/],
    [{ minSize: 1, avgSize: 2 ** 30, maxSize: 2 ** 31 }, 'chunking.avgSize', /to 512 MiB/],
    [{ minSize: 1 * MiB, avgSize: 2 * MiB, maxSize: 2 * 2 ** 30 }, 'chunking.maxSize', /at most 1024 MiB/],
    [{ minSize: 0, avgSize: 8 * KiB, maxSize: 64 * KiB }, 'chunking.minSize', /positive integer/],
    [{ minSize: -1, avgSize: 8 * KiB, maxSize: 64 * KiB }, 'chunking.minSize', /positive integer/],
    [{ minSize: 2048.5, avgSize: 8 * KiB, maxSize: 64 * KiB }, 'chunking.minSize', /positive integer/],
    [{ minSize: 2 * KiB, avgSize: NaN, maxSize: 64 * KiB }, 'chunking.avgSize', /positive integer/],
    [{ minSize: 2 * KiB, avgSize: 8 * KiB, maxSize: Infinity }, 'chunking.maxSize', /positive integer/],
  ])('refuses %j with a ConfigError on %s', (params, key, message) => {
    let thrown: unknown;
    try {
      validateChunkingParams(params);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(ConfigError);
    expect((thrown as ConfigError).key).toBe(key);
    expect((thrown as ConfigError).message).toMatch(message);
    expect(() => new FastCdcChunker(params)).toThrow(ConfigError);
    expect(() => findCutPoint(Buffer.alloc(10), 0, 10, params)).toThrow(ConfigError);
  });
});

describe('chunkingMasks', () => {
  it('has log2(avg) ± 2 one-bits, the highest at bit 30, maskL inside maskS', () => {
    const { maskS, maskL } = chunkingMasks({ minSize: 512 * KiB, avgSize: 1 * MiB, maxSize: 8 * MiB });
    expect(popcount(maskS)).toBe(22);
    expect(popcount(maskL)).toBe(18);
    expect(maskS >>> 0).toBe(0x7ffffe00);
    expect(maskL >>> 0).toBe(0x7fffe000);
    expect(maskS & maskL).toBe(maskL);
  });
});

describe('FastCdcChunker', () => {
  const inputs: Array<[string, Buffer]> = [
    ['random', pseudoRandomBytes(512 * KiB, 1)],
    ['zeros and random', mixedData(2)],
  ];

  describe.each([
    ['word loads', true],
    ['byte loop', false],
  ])('with the %s', (_name, wordLoads) => {
    beforeAll(() => setWordLoadsForTesting(wordLoads));
    afterAll(() => setWordLoadsForTesting(true));

    it.each(inputs)('cuts %s data exactly where the literal rule does', (_what, data) => {
      expect(cutPoints(data, SMALL)).toEqual(referenceCuts(data, SMALL));
    });

    it.each([
      ['minSize below the hash window', { minSize: 16, avgSize: 64, maxSize: 200 }],
      ['minSize 1', { minSize: 1, avgSize: 64, maxSize: 65 }],
      ['odd sizes', { minSize: 1001, avgSize: 4096, maxSize: 9999 }],
    ])('agrees with the literal rule for %s', (_what, params) => {
      const data = mixedData(3).subarray(0, 64 * KiB);
      expect(cutPoints(data, params)).toEqual(referenceCuts(data, params));
    });

    it('does not depend on where the bytes sit in memory (alignment)', () => {
      const data = mixedData(4);
      const expected = referenceCuts(data.subarray(3), SMALL);
      for (let shift = 0; shift < 4; shift++) {
        const copy = Buffer.alloc(data.length - 3 + shift);
        data.copy(copy, shift, 3);
        expect(cutPoints(copy.subarray(shift), SMALL)).toEqual(expected);
      }
    });
  });

  it('gives the same cuts whatever pieces the bytes arrive in', () => {
    const data = mixedData(5);
    const expected = cutPoints(data, SMALL);
    for (const piece of [1, 3, 4093, 64 * KiB]) {
      const chunker = new FastCdcChunker(SMALL);
      const cuts: number[] = [];
      for (let at = 0; at < data.length; at += piece) {
        const end = Math.min(at + piece, data.length);
        for (let from = at; ;) {
          const cut = chunker.next(data, from, end);
          if (cut < 0) break;
          cuts.push(cut);
          from = cut;
        }
      }
      if (chunker.pendingLength > 0) cuts.push(data.length);
      expect(cuts).toEqual(expected);
    }
  });

  it('is deterministic and its cut points are stable (they are part of the repository format)', () => {
    const data = pseudoRandomBytes(256 * KiB, 1);
    expect(pseudoRandomBytes(8, 1).toString('hex')).toBe('386608513f5326e4');
    expect(cutPoints(data, SMALL)).toEqual(cutPoints(Buffer.from(data), SMALL));
    // Recorded once; a change here means every existing chunk would be cut differently.
    expect(cutPoints(data, SMALL)).toEqual([
      8460, 17422, 27392, 38283, 48770, 57401, 66614, 76627, 86548, 96299, 101935, 111617, 123303, 132582, 141309,
      149555, 158564, 169606, 178151, 187025, 196870, 201833, 210488, 221403, 229942, 242840, 251255, 259675, 262144,
    ]);
  });

  it('keeps every chunk within [minSize, maxSize], except a shorter last one', () => {
    const data = mixedData(6);
    const sizes = lengths(cutPoints(data, SMALL));
    expect(sizes.length).toBeGreaterThan(10);
    for (const size of sizes.slice(0, -1)) {
      expect(size).toBeGreaterThanOrEqual(SMALL.minSize);
      expect(size).toBeLessThanOrEqual(SMALL.maxSize);
    }
    expect(sizes).toContain(SMALL.maxSize); // the run of zeros has no content cut
    expect(sizes.at(-1)).toBeLessThanOrEqual(SMALL.maxSize);
  });

  it('cuts data without any content cut at exactly maxSize', () => {
    expect(cutPoints(Buffer.alloc(3 * 64 * KiB + 5), SMALL)).toEqual([64 * KiB, 128 * KiB, 192 * KiB, 192 * KiB + 5]);
  });

  it('averages within 25% of avgSize on random data', () => {
    const data = pseudoRandomBytes(8 * MiB, 7);
    const cuts = cutPoints(data, SMALL);
    const average = data.length / cuts.length;
    expect(average).toBeGreaterThan(0.75 * SMALL.avgSize);
    expect(average).toBeLessThan(1.25 * SMALL.avgSize);
  });

  it('cuts elsewhere with another key, and the same with the same key', () => {
    const data = pseudoRandomBytes(512 * KiB, 8);
    const key = Buffer.alloc(32, 7);
    const keyed = cutPoints(data, SMALL, createGearTable(key));
    expect(cutPoints(data, SMALL, createGearTable(Buffer.from(key)))).toEqual(keyed);
    const unkeyed = new Set(cutPoints(data, SMALL));
    const shared = keyed.slice(0, -1).filter((cut) => unkeyed.has(cut)).length;
    expect(shared).toBeLessThan(keyed.length / 4);
  });
});

describe('findCutPoint', () => {
  const data = mixedData(9);

  it('returns the end of the first chunk, from any start', () => {
    const cuts = cutPoints(data, SMALL);
    expect(findCutPoint(data, 0, data.length, SMALL)).toBe(cuts[0]);
    expect(findCutPoint(data, cuts[0]!, data.length, SMALL)).toBe(cuts[1]);
    expect(findCutPoint(data, cuts[4]!, data.length, SMALL)).toBe(cuts[5]);
  });

  it('takes everything left when it is shorter than minSize or holds no cut', () => {
    expect(findCutPoint(data, 100, 100 + SMALL.minSize - 1, SMALL)).toBe(100 + SMALL.minSize - 1);
    expect(findCutPoint(data, 5, 5, SMALL)).toBe(5);
    const first = findCutPoint(data, 0, data.length, SMALL);
    expect(findCutPoint(data, 0, first - 1, SMALL)).toBe(first - 1);
  });

  it('refuses a range outside the buffer', () => {
    expect(() => findCutPoint(data, 10, 5, SMALL)).toThrow(RangeError);
    expect(() => findCutPoint(data, 0, data.length + 1, SMALL)).toThrow(RangeError);
  });
});

describe('GearTable', () => {
  it('derives 256 values from the key, deterministically', () => {
    const a = GearTable.fromKey(Buffer.alloc(32, 1)).values();
    expect(a).toHaveLength(256);
    expect(GearTable.fromKey(Buffer.alloc(32, 1)).values()).toEqual(a);
    expect(GearTable.fromKey(Buffer.alloc(32, 2)).values()).not.toEqual(a);
    expect(new Set(a).size).toBeGreaterThan(250);
    // The built-in key's table, recorded: changing it moves every cut point.
    expect(Array.from(defaultGearTable().values().subarray(0, 4), (v) => v.toString(16))).toEqual([
      '666d4e94',
      'eea9c40a',
      '4457eb45',
      'a3d4ee3c',
    ]);
  });

  it('refuses a key that is not 32 bytes', () => {
    expect(() => GearTable.fromKey(Buffer.alloc(31))).toThrow(ConfigError);
    expect(() => createGearTable(Buffer.alloc(33))).toThrow(/32 bytes, got 33 bytes/);
  });
});
