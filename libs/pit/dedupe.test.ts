import { AdjacentDedupe, dedupeAdjacent, distinctVersions, timeOrder } from './dedupe';

const v = (key: string, id: string, source = 's') => ({ source, key, id });

describe('AdjacentDedupe', () => {
  it("drops a version whose id is its key's latest", () => {
    expect(dedupeAdjacent([v('k', 'A'), v('k', 'A'), v('k', 'B'), v('k', 'B'), v('k', 'B')])).toEqual([
      v('k', 'A'),
      v('k', 'B'),
    ]);
  });

  it('keeps A, B, A: only the adjacent version is compared, not every id seen', () => {
    expect(dedupeAdjacent([v('k', 'A'), v('k', 'B'), v('k', 'A')])).toHaveLength(3);
  });

  it("compares per key and per source: other keys' versions in between do not separate copies", () => {
    const d = new AdjacentDedupe();
    expect(d.accept(v('k1', 'A'))).toBe(true);
    expect(d.accept(v('k2', 'B'))).toBe(true);
    expect(d.accept(v('k1', 'A', 'other'))).toBe(true);
    expect(d.accept(v('k1', 'A'))).toBe(false);
    expect(d.accept(v('k2', 'B'))).toBe(false);
    expect(d.dropped).toBe(2);
  });

  it('in time order, a copy delivered long after its original (newer versions in between) sits next to it and is dropped', () => {
    const t = (key: string, id: string, tsMs: number) => ({ ...v(key, id), tsMs });
    const log = [t('k', 'A', 1), t('k', 'B', 2), t('k', 'C', 3), t('k', 'A', 1), t('k', 'B', 2)];
    expect(distinctVersions(log).map((x) => x.id)).toEqual(['A', 'B', 'C']);
    // Equal times keep their log order: A, B, A within one millisecond stays three versions.
    const sameMs = [t('k', 'A', 5), t('k', 'B', 5), t('k', 'A', 5)];
    expect(distinctVersions(sameMs).map((x) => x.id)).toEqual(['A', 'B', 'A']);
    expect(timeOrder([t('k', 'x', 2), t('k', 'y', 1), t('k', 'z', 2)]).map((x) => x.id)).toEqual(['y', 'x', 'z']);
  });
});
