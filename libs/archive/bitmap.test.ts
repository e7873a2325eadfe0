import { Bitmap, MAX_SEQ } from './bitmap';

describe('Bitmap', () => {
  it('sets and tests seqs, counting each once', () => {
    const b = new Bitmap();
    for (const n of [0, 7, 8, 65535, 65536, 1_000_000]) expect(b.set(n)).toBe(true);
    expect(b.set(7)).toBe(false);
    expect(b.size).toBe(6);
    for (const n of [0, 7, 8, 65535, 65536, 1_000_000]) expect(b.has(n)).toBe(true);
    for (const n of [1, 9, 65537, 999_999]) expect(b.has(n)).toBe(false);
  });

  it('costs one page for one huge seq, not a bitmap up to it', () => {
    const b = new Bitmap();
    b.set(MAX_SEQ);
    b.set(3_000_000_000);
    expect(b.bytes).toBeLessThanOrEqual(2 * 8192);
    expect(b.has(MAX_SEQ)).toBe(true);
  });

  it('never aliases a seq of 2^32 or more with a small one', () => {
    const b = new Bitmap();
    expect(() => b.set(2 ** 32 + 5)).toThrow(RangeError);
    expect(() => b.set(-1)).toThrow(RangeError);
    expect(() => b.set(1.5)).toThrow(RangeError);
    expect(b.has(5)).toBe(false);
    b.set(5);
    expect(b.has(2 ** 32 + 5)).toBe(false);
  });
});
