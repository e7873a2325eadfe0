import { createHash } from 'node:crypto';
import type { ChunkRef, FileEvent } from '../events';
import { ParentCursor } from './parent-cursor';
import { compareTreePaths } from './walk';

const SNAP = createHash('md5').update('parent').digest('hex');
const h = (s: string): string => createHash('sha256').update(s).digest('hex');
const ref = (s: string, size = 10): ChunkRef => ({ hash: h(s), size });

function dir(path: string): FileEvent {
  return { snapshotId: SNAP, path, kind: 'dir', mode: 0o40755, mtimeMs: 1, size: 0, part: 0, last: true, chunks: [] };
}

function file(path: string, chunks: ChunkRef[], extra: Partial<FileEvent> = {}): FileEvent {
  const size = chunks.reduce((n, c) => n + c.size, 0);
  return {
    snapshotId: SNAP,
    path,
    kind: 'file',
    mode: 0o100644,
    mtimeMs: 2,
    size,
    ino: 7,
    part: 0,
    last: true,
    chunks,
    contentHash: h(`content of ${path}`),
    ...extra,
  };
}

/** A file split into parts of the given chunk lists; only the last part has contentHash. */
function parts(path: string, chunkLists: ChunkRef[][]): FileEvent[] {
  const size = chunkLists.flat().reduce((n, c) => n + c.size, 0);
  return chunkLists.map((chunks, part) => {
    const last = part === chunkLists.length - 1;
    return file(path, chunks, { part, last, size, contentHash: last ? h(`whole ${path}`) : undefined });
  });
}

/** An iterator that records how far it was read. */
function source(entries: FileEvent[]): { iterator: AsyncIterator<FileEvent>; read: () => number } {
  let i = 0;
  return {
    iterator: {
      next: () =>
        Promise.resolve(i < entries.length ? { done: false, value: entries[i++]! } : { done: true, value: undefined }),
    },
    read: () => i,
  };
}

const BIG = parts('a/big.bin', [[ref('b0'), ref('b1')], [ref('b2')], [ref('b3'), ref('b4', 3)]]);
const PARENT: FileEvent[] = [
  dir('.'),
  dir('a'),
  ...BIG,
  file('a/small.txt', [ref('s0')]),
  file('a-c', [ref('ac')]),
  { ...dir('link'), kind: 'symlink', target: 'a' },
  file('z/empty', [], { size: 0 }),
];

describe('ParentCursor', () => {
  it('is given its entries in walk order (the fixture is valid)', () => {
    const paths = PARENT.map((e) => e.path);
    const unique = [...new Set(paths)];
    expect([...unique].sort(compareTreePaths)).toEqual(unique);
  });

  it('finds each entry of the parent when asked in walk order', async () => {
    const cursor = new ParentCursor(source(PARENT).iterator);
    expect(await cursor.find('.')).toEqual({ entry: PARENT[0], chunks: [], contentHash: undefined });
    expect((await cursor.find('a'))!.entry).toEqual(dir('a'));
    await cursor.find('a/big.bin');
    const small = await cursor.find('a/small.txt');
    expect(small).toEqual({ entry: PARENT[5], chunks: [ref('s0')], contentHash: h('content of a/small.txt') });
    expect((await cursor.find('a-c'))!.chunks).toEqual([ref('ac')]);
    expect((await cursor.find('link'))!.entry.target).toBe('a');
    expect(await cursor.find('z/empty')).toEqual({
      entry: PARENT[8],
      chunks: [],
      contentHash: h('content of z/empty'),
    });
    expect(await cursor.find('zz')).toBeUndefined();
  });

  it('joins a multi-part file: the first part as entry, all chunks in order, contentHash of the last part', async () => {
    const cursor = new ParentCursor(source(PARENT).iterator);
    const big = await cursor.find('a/big.bin');
    expect(big).toBeDefined();
    expect(big!.entry).toBe(BIG[0]);
    expect(big!.entry.part).toBe(0);
    expect(big!.chunks).toEqual([ref('b0'), ref('b1'), ref('b2'), ref('b3'), ref('b4', 3)]);
    expect(big!.contentHash).toBe(h('whole a/big.bin'));
    // The parts were consumed: the next entry is found.
    expect((await cursor.find('a/small.txt'))!.entry.path).toBe('a/small.txt');
  });

  it('does not let the parts of one file leak into the next file', async () => {
    const cursor = new ParentCursor(source([...parts('f', [[ref('1')], [ref('2')]]), file('f2', [ref('3')])]).iterator);
    expect((await cursor.find('f'))!.chunks).toEqual([ref('1'), ref('2')]);
    expect((await cursor.find('f2'))!.chunks).toEqual([ref('3')]);
  });

  it('returns undefined for new paths without losing the entries after them', async () => {
    const src = source(PARENT);
    const cursor = new ParentCursor(src.iterator);
    expect(await cursor.find('.')).toBeDefined();
    expect(await cursor.find('A-new')).toBeUndefined(); // 'A' < 'a': before a, consumes nothing
    expect(src.read()).toBe(2);
    expect(await cursor.find('a')).toBeDefined();
    expect(await cursor.find('a/a-new')).toBeUndefined();
    expect(await cursor.find('a/big.bin/x')).toBeUndefined(); // was a file, is a dir now: its children are new
    expect(await cursor.find('a/small.txt')).toBeDefined();
    expect(await cursor.find('a/zz-new')).toBeUndefined();
    expect(await cursor.find('a-c')).toBeDefined();
  });

  it('skips entries the new tree no longer has (a deleted multi-part file, deleted dirs)', async () => {
    const cursor = new ParentCursor(source(PARENT).iterator);
    // The new tree has no a/ at all: straight from '.' to a-c.
    expect((await cursor.find('.'))!.entry.path).toBe('.');
    expect((await cursor.find('a-c'))!.chunks).toEqual([ref('ac')]);
    expect(await cursor.find('y')).toBeUndefined();
    expect((await cursor.find('z/empty'))!.entry.path).toBe('z/empty');
  });

  it('finds a later entry first thing, and nothing once the parent is exhausted', async () => {
    const cursor = new ParentCursor(source(PARENT).iterator);
    expect((await cursor.find('link'))!.entry.kind).toBe('symlink');
    expect(await cursor.find('zzz')).toBeUndefined();
    expect(await cursor.find('zzzz')).toBeUndefined();
  });

  it('a multi-part file at the end of the list', async () => {
    const tail = parts('x', [[ref('x0')], [ref('x1')]]);
    const cursor = new ParentCursor(source([dir('.'), ...tail]).iterator);
    expect(await cursor.find('x')).toEqual({
      entry: tail[0],
      chunks: [ref('x0'), ref('x1')],
      contentHash: h('whole x'),
    });
    expect(await cursor.find('y')).toBeUndefined();
  });

  it('without a parent, finds nothing', async () => {
    const cursor = new ParentCursor(undefined);
    expect(await cursor.find('.')).toBeUndefined();
    expect(await cursor.find('a')).toBeUndefined();
  });

  it('holds one entry: it reads no further ahead than the path asked for', async () => {
    const src = source(PARENT);
    const cursor = new ParentCursor(src.iterator);
    await cursor.find('a');
    expect(src.read()).toBe(3); // '.', 'a' and the head after it
    await cursor.find('a/big.bin');
    expect(src.read()).toBe(6); // the three parts and the head after them
  });
});
