import { StateBuilder } from './state';
import type { CommittedVersion } from './version';

let offset = 0;
function version(key: string, tsMs: number, op: 'upsert' | 'delete' = 'upsert', source = 'src'): CommittedVersion {
  offset += 1;
  const id = `${key}-${offset}`.padEnd(64, '0');
  const base = { offset: String(offset), id, source, key, op, tsMs, format: 'native' as const };
  const where = { topic: 't', partition: 0, batchId: 'b'.repeat(32), ledgerOffset: '0' };
  return op === 'delete'
    ? { ...base, ...where, chunks: [] }
    : { ...base, ...where, chunks: [], size: 0, sha256: 'e'.repeat(64), contentType: 'application/json' };
}

const stateAt = (atMs: number, versions: CommittedVersion[]): string[] => {
  const state = new StateBuilder(atMs);
  for (const v of versions) state.add(v);
  return state.sorted().map((v) => `${v.source}/${v.key}@${v.tsMs}`);
};

describe('StateBuilder', () => {
  it('keeps per key the version with the greatest time at or before the moment; deletes remove the key', () => {
    const log = [version('b', 10), version('a', 30), version('b', 20, 'delete'), version('b', 25), version('c', 5)];
    expect(stateAt(4, log)).toEqual([]);
    expect(stateAt(10, log)).toEqual(['src/b@10', 'src/c@5']);
    expect(stateAt(20, log)).toEqual(['src/c@5']);
    expect(stateAt(29, log)).toEqual(['src/b@25', 'src/c@5']);
    expect(stateAt(30, log)).toEqual(['src/a@30', 'src/b@25', 'src/c@5']);
  });

  it('on equal times the later version in the log wins', () => {
    expect(stateAt(10, [version('k', 10), version('k', 10, 'delete')])).toEqual([]);
    expect(stateAt(10, [version('k', 10, 'delete'), version('k', 10)])).toEqual(['src/k@10']);
  });

  it('a version later in the log with an earlier time is the state from its time until the next version', () => {
    const back = [version('k', 100), version('k', 60)];
    expect(stateAt(59, back)).toEqual([]);
    expect(stateAt(60, back)).toEqual(['src/k@60']);
    expect(stateAt(99, back)).toEqual(['src/k@60']);
    expect(stateAt(100, back)).toEqual(['src/k@100']);
    // An old version arriving after a delete does not bring the key back.
    const deleted = [version('k', 10), version('k', 20, 'delete'), version('k', 15)];
    expect(stateAt(17, deleted)).toEqual(['src/k@15']);
    expect(stateAt(20, deleted)).toEqual([]);
  });

  it('sorts by source, then key, by code units; counts versions after the moment', () => {
    const state = new StateBuilder(50);
    for (const v of [
      version('é', 1),
      version('Z', 1),
      version('a', 1, 'upsert', 'b'),
      version('a', 1),
      version('x', 99),
    ])
      state.add(v);
    expect(state.sorted().map((v) => `${v.source}/${v.key}`)).toEqual(['b/a', 'src/Z', 'src/a', 'src/é']);
    expect(state).toMatchObject({ versions: 5, later: 1, keysSeen: 4 });
  });
});
