import { PlanCheck, checkPlan, describeProblems, pathProblem, type PlanEntry } from './plan-check';

const e = (path: string, kind: PlanEntry['kind'] = 'file', extra: Partial<PlanEntry> = {}): PlanEntry => ({
  path,
  kind,
  part: 0,
  last: true,
  ...(kind === 'symlink' ? { target: 'somewhere' } : {}),
  ...extra,
});

async function problems(entries: PlanEntry[]): Promise<string> {
  return describeProblems(await checkPlan(entries));
}

describe('pathProblem', () => {
  it.each(['.', 'a', 'a/b', 'ünï/.hidden', '...', 'a/..b', 'a b/c\td'])('accepts %j', (path) => {
    expect(pathProblem(path)).toBeUndefined();
  });
  it.each([
    ['', 'empty name'],
    ['/etc/passwd', 'absolute'],
    ['a//b', 'empty name'],
    ['x/', 'empty name'],
    ['a/./b', '"." component'],
    ['./a', '"." component'],
    ['..', '".." component'],
    ['a/../../b', '".." component'],
    ['a\0b', 'NUL'],
  ])('refuses %j', (path, reason) => {
    expect(pathProblem(path)).toContain(reason);
  });
});

describe('checkPlan', () => {
  it('accepts a list in walk order, parts included', async () => {
    expect(
      await problems([
        e('.', 'dir'),
        e('a', 'dir'),
        e('a/b', 'dir'),
        e('a/b/c', 'file', { last: false }),
        e('a/b/c', 'file', { part: 1 }),
        e('a/b.txt'),
        e('a.txt'),
        e('l', 'symlink'),
        e('z', 'dir'),
      ]),
    ).toBe('');
  });

  it('accepts a list without the root entry', async () => {
    expect(await problems([e('a', 'dir'), e('a/f')])).toBe('');
  });

  it('refuses a duplicate path, naming its two kinds', async () => {
    expect(await problems([e('.', 'dir'), e('f'), e('f', 'dir')])).toBe('"f" appears twice (file, then dir)');
    expect(await problems([e('.', 'dir'), e('.', 'dir')])).toBe('"." appears twice (dir, then dir)');
  });

  it('refuses a kind change after the entries below it (dir x, x/f, then symlink x)', async () => {
    expect(await problems([e('x', 'dir'), e('x/f'), e('x', 'symlink')])).toBe('"x" appears twice (dir, then symlink)');
  });

  it('refuses an entry below a symlink or a file', async () => {
    expect(await problems([e('l', 'symlink'), e('l/f')])).toBe('"l/f" is below "l", a symlink');
    expect(await problems([e('f'), e('f/g', 'dir')])).toBe('"f/g" is below "f", a file');
  });

  it('refuses an entry whose directory is not listed before it', async () => {
    expect(await problems([e('a', 'dir'), e('b/c')])).toBe('"b/c" has no directory "b" listed before it');
    expect(await problems([e('a', 'dir'), e('a/b/c')])).toBe('"a/b/c" has no directory "a/b" listed before it');
  });

  it('refuses entries out of order', async () => {
    expect(await problems([e('b'), e('a')])).toBe('"a" is out of order (after "b")');
    expect(await problems([e('a', 'dir'), e('a/x'), e('.', 'dir')])).toBe('"." is out of order (after "a/x")');
  });

  it('refuses a root that is not a directory', async () => {
    expect(await problems([e('.', 'file')])).toBe('"." is the root but a file, not a directory');
  });

  it('refuses degenerate and escaping paths', async () => {
    expect(await problems([e('a', 'dir'), e('a//b'), e('a/./c'), e('../x'), e('/abs'), e('')])).toBe(
      [
        '"a//b" has an empty name (a leading, doubled or trailing "/")',
        '"a/./c" has a "." component',
        '"../x" has a ".." component',
        '"/abs" is absolute',
        '"" has an empty name (a leading, doubled or trailing "/")',
      ].join('; '),
    );
  });

  it('refuses a symlink with an empty target or a NUL in it', async () => {
    expect(await problems([e('l', 'symlink', { target: '' })])).toContain('"l" has an empty symlink target');
    expect(await problems([e('l', 'symlink', { target: 'a\0b' })])).toContain('"l" has an empty symlink target');
  });

  it('refuses parts that do not follow each other, and a file without its last part', async () => {
    expect(await problems([e('a', 'file', { part: 1 })])).toBe('"a" part 1 does not follow part 0 of the same entry');
    expect(await problems([e('a', 'file', { last: false }), e('b')])).toBe('"a" has no last part');
    expect(await problems([e('a', 'file', { last: false })])).toBe('"a" has no last part');
    expect(await problems([e('a', 'file', { last: false }), e('a', 'dir', { part: 1 })])).toBe(
      '"a" part 1 does not follow part 0 of the same entry',
    );
  });

  it('goes on after a bad entry, and stops reading after maxProblems', async () => {
    expect(await problems([e('a', 'dir'), e('a/../x'), e('a/f'), e('a/f')])).toBe(
      '"a/../x" has a ".." component; "a/f" appears twice (file, then file)',
    );
    let read = 0;
    function* many(): Generator<PlanEntry> {
      for (;;) {
        read += 1;
        yield e('../x');
      }
    }
    expect(await checkPlan(many(), 3)).toHaveLength(3);
    expect(read).toBe(3);
  });

  it('holds only the directory chain: a wide flat list keeps the chain at one entry', () => {
    const check = new PlanCheck();
    check.add(e('.', 'dir'));
    for (let i = 0; i < 10_000; i++) check.add(e(`f${String(i).padStart(5, '0')}`));
    check.finish();
    expect(check.problems).toEqual([]);
    expect((check as unknown as { chain: unknown[] }).chain).toHaveLength(1);
  });
});
