import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import {
  chmod,
  lstat,
  lutimes,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  symlink,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeTree, type TreeFacts } from '../../test/support/tree';
import { ArchiverPartition } from '../archive/archiver-partition';
import { walkTree } from '../backup/walk';
import type { BlockEncoder } from '../blocks';
import { chunkStream, type ChunkingParams } from '../chunking';
import { pseudoRandomBytes } from '../chunking/pseudo-random';
import {
  FILE_PART_MAX_CHUNKS,
  fileSchema,
  snapshotCommitSchema,
  type ChunkRef,
  type ChunkVerifiedEvent,
  type FileEvent,
  type ProgressEvent,
  type SnapshotCommitRecord,
} from '../events';
import { createLogger } from '../log';
import { fileEntries, metadataDecoder, readManifest } from '../manifest';
import { storeChunk, verifyStoredChunk } from '../pipeline';
import { SNAP, chunk, flipByte, setup } from '../pipeline/test-fixtures';
import { MemoryObjectStore, blockKey, type ObjectInfo, type ObjectStore, type PutOptions } from '../store';
import { RestoreError, restoreSnapshot, type RestoreProgress } from '.';

/**
 * restoreSnapshot against snapshots written the way the pipeline writes them, minus Kafka:
 * the source tree is walked (walkTree) and chunked (chunkStream), its blocks stored
 * (storeChunk) and verified (verifyStoredChunk), its file events cut into parts as runBackup
 * does, and the file-list segments, manifest and commit record written by ArchiverPartition.
 */

/** Tiny chunks, so small files have several and a 256 KiB file needs more than one file-event part. */
const PARAMS: ChunkingParams = { minSize: 16, avgSize: 64, maxSize: 256 };
const decoder = metadataDecoder(PARAMS.maxSize);
const T0 = Date.parse('2024-02-29T12:34:56.789Z');
const TEMP_FILE = /backstream-restore/;

interface SourceEntry {
  path: string;
  kind: 'file' | 'dir' | 'symlink';
  mode?: number;
  content?: Buffer;
  target?: string;
}

/** The source tree, in walk order. */
const TREE: SourceEntry[] = [
  { path: 'a', kind: 'dir', mode: 0o755 },
  { path: 'a/b', kind: 'dir', mode: 0o700 },
  { path: 'a/b/c', kind: 'dir', mode: 0o755 },
  { path: 'a/b/c/deep.txt', kind: 'file', mode: 0o644, content: Buffer.from('deep down\n') },
  { path: 'a/b/sibling.txt', kind: 'file', mode: 0o644, content: Buffer.from('next to c\n') },
  { path: 'data', kind: 'dir', mode: 0o750 },
  { path: 'data/empty.bin', kind: 'file', mode: 0o600, content: Buffer.alloc(0) },
  { path: 'data/huge.bin', kind: 'file', mode: 0o644, content: pseudoRandomBytes(256 * 1024, 1) },
  { path: 'data/multi.bin', kind: 'file', mode: 0o755, content: pseudoRandomBytes(5000, 2) },
  { path: 'docs', kind: 'dir', mode: 0o755 },
  { path: 'docs/readme.txt', kind: 'file', mode: 0o644, content: Buffer.from('restore me byte for byte. '.repeat(40)) },
  { path: 'docs.bak', kind: 'file', mode: 0o640, content: Buffer.from('a sibling of docs, not below it\n') },
  { path: 'links', kind: 'dir', mode: 0o755 },
  { path: 'links/absolute', kind: 'symlink', target: '/nonexistent/target' },
  { path: 'links/to-dir', kind: 'symlink', target: '../docs' },
  { path: 'links/to-readme', kind: 'symlink', target: '../docs/readme.txt' },
];
const ROOT_MODE = 0o751;
/** Whole milliseconds, a different one per entry; the root gets T0. */
const mtimeOf = (i: number): number => T0 - (i + 1) * 86_400_000 - i * 7;

async function makeSource(root: string): Promise<void> {
  await mkdir(root);
  for (const e of TREE) {
    const abs = join(root, e.path);
    if (e.kind === 'dir') await mkdir(abs);
    else if (e.kind === 'file') await writeFile(abs, e.content!);
    else await symlink(e.target!, abs);
    if (e.kind !== 'symlink') await chmod(abs, e.mode!);
  }
  await chmod(root, ROOT_MODE);
  // Directories last and deepest first: creating their entries changed their mtimes.
  for (const [i, e] of [...TREE.entries()].reverse()) {
    const at = mtimeOf(i) / 1000;
    if (e.kind === 'symlink') await lutimes(join(root, e.path), at, at);
    else await utimes(join(root, e.path), at, at);
  }
  await utimes(root, T0 / 1000, T0 / 1000);
}

interface Repo {
  store: MemoryObjectStore;
  encoder: BlockEncoder;
}

interface Scan {
  /** File events in walk order, parts as runBackup cuts them. */
  events: FileEvent[];
  /** One per seq: every distinct chunk, stored and verified. */
  verified: ChunkVerifiedEvent[];
}

/** The producer's side of runBackup without Kafka: walk, chunk, store and verify blocks, cut events into parts. */
async function scan(repo: Repo, root: string): Promise<Scan> {
  const events: FileEvent[] = [];
  const verified: ChunkVerifiedEvent[] = [];
  const seen = new Set<string>();
  const onSkip = (skip: { path: string; reason: string }): void => {
    throw new Error(`unexpected skip of ${skip.path}: ${skip.reason}`);
  };
  for await (const entry of walkTree(root, onSkip)) {
    const base = {
      snapshotId: SNAP,
      path: entry.path,
      kind: entry.kind,
      mode: entry.stat.mode & 0o7777,
      mtimeMs: entry.stat.mtimeMs,
      ino: entry.stat.ino,
      ...(entry.target !== undefined ? { target: entry.target } : {}),
    };
    if (entry.kind !== 'file') {
      events.push({ ...base, size: 0, part: 0, last: true, chunks: [] });
      continue;
    }
    const whole = createHash('sha256');
    const chunks: ChunkRef[] = [];
    for await (const c of chunkStream(createReadStream(entry.absPath) as AsyncIterable<Buffer>, PARAMS)) {
      whole.update(c.data);
      chunks.push({ hash: c.hash, size: c.length });
      if (seen.has(c.hash)) continue;
      seen.add(c.hash);
      const stored = await storeChunk(chunk(c.data, verified.length), repo);
      const outcome = await verifyStoredChunk(stored, { store: repo.store, decoder });
      if (!('verified' in outcome)) throw new Error(`block of ${entry.path} does not verify`);
      verified.push(outcome.verified);
    }
    // As runBackup: a part every FILE_PART_MAX_CHUNKS chunks, then the last part with the file's hash.
    let part = 0;
    let from = 0;
    for (; chunks.length - from >= FILE_PART_MAX_CHUNKS; from += FILE_PART_MAX_CHUNKS) {
      const slice = chunks.slice(from, from + FILE_PART_MAX_CHUNKS);
      events.push({ ...base, size: entry.stat.size, part: part++, last: false, chunks: slice });
    }
    const contentHash = whole.digest('hex');
    events.push({ ...base, size: entry.stat.size, part, last: true, chunks: chunks.slice(from), contentHash });
  }
  return { events, verified };
}

/**
 * The archiver's side: file events, verifications and the seal through ArchiverPartition,
 * which writes the file-list segments and the manifest and appends the commit record.
 * Every event is first parsed with the event schema, as a consumer would.
 */
async function commit(repo: Repo, events: FileEvent[], verified: ChunkVerifiedEvent[], id = SNAP) {
  const records: SnapshotCommitRecord[] = [];
  const archiver = new ArchiverPartition(0, {
    store: repo.store,
    encoder: repo.encoder,
    ledger: {
      isCommitted: (snapshotId) => records.some((r) => r.snapshotId === snapshotId),
      append: (record) => {
        records.push(record);
        return Promise.resolve();
      },
      changesCommittedThrough: () => undefined,
      appendChanges: () => Promise.reject(new Error('no change batches here')),
    },
    publishFailed: (failed) => Promise.reject(new Error(`snapshot failed: ${failed.reason}`)),
    now: () => new Date(T0 + 120_000),
    // Small segments: the file list spans several.
    segmentBytes: 2048,
    abandonAfterMs: 3600_000,
    maxPendingSnapshots: 4,
    logger: createLogger('silent', 'restore-test'),
  });
  const lasts = events.filter((e) => e.last);
  const items: ProgressEvent[] = [
    ...events.map((e): ProgressEvent => ({ type: 'file', event: fileSchema.parse({ ...e, snapshotId: id }) })),
    ...verified.map((v): ProgressEvent => ({ type: 'chunk-verified', event: { ...v, snapshotId: id } })),
    {
      type: 'snapshot-sealed',
      event: {
        snapshotId: id,
        source: 'test:/source',
        host: 'test',
        root: '/source',
        parent: null,
        startedAt: new Date(T0).toISOString(),
        finishedAt: new Date(T0 + 60_000).toISOString(),
        chunkCount: verified.length,
        fileEventCount: events.length,
        files: lasts.filter((e) => e.kind === 'file').length,
        dirs: lasts.filter((e) => e.kind === 'dir').length,
        symlinks: lasts.filter((e) => e.kind === 'symlink').length,
        totalBytes: lasts.reduce((n, e) => n + e.size, 0),
        sentBytes: verified.reduce((n, v) => n + v.size, 0),
      },
    },
  ];
  for (const [offset, item] of items.entries()) await archiver.apply(String(offset), T0 + offset, item);
  expect(records).toHaveLength(1);
  return snapshotCommitSchema.parse(records[0]);
}

/** A copy of the repository, to damage without touching the shared one. */
function copyOf(store: MemoryObjectStore): MemoryObjectStore {
  const copy = new MemoryObjectStore();
  for (const [key, body] of store.objects) copy.objects.set(key, Buffer.from(body));
  return copy;
}

/** An ObjectStore that counts block GETs in flight, each held for one turn of the event loop. */
class CountingStore implements ObjectStore {
  inFlight = 0;
  maxInFlight = 0;
  blockGets = 0;
  constructor(private readonly inner: ObjectStore) {}
  async get(key: string): Promise<Buffer> {
    if (!key.startsWith('blocks/')) return this.inner.get(key);
    this.blockGets += 1;
    this.inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      await new Promise((resolveLater) => setImmediate(resolveLater));
      return await this.inner.get(key);
    } finally {
      this.inFlight -= 1;
    }
  }
  put(key: string, body: Buffer, options?: PutOptions): Promise<{ created: boolean }> {
    return this.inner.put(key, body, options);
  }
  head(key: string): Promise<ObjectInfo | undefined> {
    return this.inner.head(key);
  }
  delete(key: string): Promise<void> {
    return this.inner.delete(key);
  }
  list(prefix: string): AsyncIterable<ObjectInfo> {
    return this.inner.list(prefix);
  }
  keepLocked(info: ObjectInfo): Promise<void> {
    return this.inner.keepLocked(info);
  }
}

/** Content, kind, size, mode, symlink target and mtime to the millisecond, path by path. */
function comparable(facts: Map<string, TreeFacts>, keep: (path: string) => boolean = () => true) {
  return [...facts]
    .filter(([path]) => keep(path))
    .map(([path, f]): [string, TreeFacts] => [path, { ...f, mtimeMs: Math.round(f.mtimeMs) }])
    .sort(([a], [b]) => (a < b ? -1 : 1));
}

/** Every temporary file of a restore below dir, relative paths. */
async function tempFilesUnder(dir: string): Promise<string[]> {
  const all = await readdir(dir, { recursive: true });
  return all.filter((p) => p.split('/').some((name) => TEMP_FILE.test(name))).sort();
}

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

let scratch: string;
let source: string;
let repo: Repo;
let snapshot: Scan;
let record: SnapshotCommitRecord;
let targets = 0;

/** A fresh, not yet existing target directory inside the scratch directory. */
const newTarget = (): string => join(scratch, `target-${++targets}`);

async function restore(
  target: string,
  options: { includes?: string[]; store?: ObjectStore; concurrency?: number; record?: SnapshotCommitRecord } = {},
): Promise<RestoreProgress> {
  return restoreSnapshot(
    { record: options.record ?? record, target, ...(options.includes ? { includes: options.includes } : {}) },
    { store: options.store ?? repo.store, decoder, concurrency: options.concurrency ?? 4 },
  );
}

/** The file events of one path, parts in order. */
const eventsOf = (path: string): FileEvent[] => snapshot.events.filter((e) => e.path === path);
const chunksOf = (path: string): ChunkRef[] => eventsOf(path).flatMap((e) => e.chunks);

async function expectRestoreError(promise: Promise<unknown>): Promise<RestoreError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RestoreError);
  return err as RestoreError;
}

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'backstream-restore-unit-'));
  source = join(scratch, 'source');
  await makeSource(source);
  const { store, encoder } = setup();
  repo = { store, encoder };
  snapshot = await scan(repo, source);
  record = await commit(repo, snapshot.events, snapshot.verified);
}, 60_000);

afterAll(async () => {
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

describe('the snapshot fixture', () => {
  it('is what the pipeline writes: several segments, a file split into parts, files of several chunks', async () => {
    const manifest = await readManifest(repo.store, decoder, record.manifest);
    expect(manifest.segments.length).toBeGreaterThan(1);
    const stored: FileEvent[] = [];
    for await (const e of fileEntries(repo.store, decoder, manifest)) stored.push(e);
    expect(stored).toEqual(snapshot.events);
    expect(eventsOf('data/huge.bin').map((e) => [e.part, e.last])).toEqual([
      [0, false],
      [1, true],
    ]);
    expect(chunksOf('data/multi.bin').length).toBeGreaterThan(3);
    expect(chunksOf('docs/readme.txt').length).toBeGreaterThan(1);
    expect(eventsOf('data/empty.bin')).toEqual([expect.objectContaining({ size: 0, chunks: [], last: true })]);
  });
});

describe('restoreSnapshot', () => {
  it('restores the tree byte-identical, with modes, mtimes to the ms, empty files, parts and symlinks', async () => {
    const target = newTarget();
    const progress = await restore(target);

    expect(comparable(await describeTree(target))).toEqual(comparable(await describeTree(source)));
    // The tree as written, not only as the source reports it.
    const facts = await describeTree(target);
    for (const [i, e] of TREE.entries()) {
      const f = facts.get(e.path);
      expect({ path: e.path, kind: f?.kind, mtimeMs: Math.round(f?.mtimeMs ?? NaN) }).toEqual({
        path: e.path,
        kind: e.kind,
        mtimeMs: mtimeOf(i),
      });
      if (e.kind !== 'symlink') expect({ path: e.path, mode: f?.mode }).toEqual({ path: e.path, mode: e.mode });
      if (e.kind === 'file')
        expect({ path: e.path, sha256: f?.sha256 }).toEqual({ path: e.path, sha256: sha256(e.content!) });
      if (e.kind === 'symlink') expect({ path: e.path, target: f?.target }).toEqual({ path: e.path, target: e.target });
    }
    const huge = TREE.find((e) => e.path === 'data/huge.bin')!.content!;
    expect((await readFile(join(target, 'data', 'huge.bin'))).equals(huge)).toBe(true);
    expect((await lstat(join(target, 'data', 'empty.bin'))).size).toBe(0);
    const root = await lstat(target);
    expect({ mode: root.mode & 0o7777, mtimeMs: Math.round(root.mtimeMs) }).toEqual({ mode: ROOT_MODE, mtimeMs: T0 });
    expect(await tempFilesUnder(target)).toEqual([]);

    const files = TREE.filter((e) => e.kind === 'file');
    expect(progress).toEqual({
      files: files.length,
      dirs: TREE.filter((e) => e.kind === 'dir').length + 1,
      symlinks: TREE.filter((e) => e.kind === 'symlink').length,
      bytes: files.reduce((n, e) => n + e.content!.length, 0),
      filesSkipped: 0,
      chunksVerified: snapshot.events.reduce((n, e) => n + e.chunks.length, 0),
      leftAlone: 0,
      notRestoredBelowLeftAlone: 0,
      modeBitsDropped: 0,
      elapsedMs: expect.any(Number) as number,
    });
  });

  it('resumes: a rerun skips every correct file, and rewrites only one whose content changed on disk', async () => {
    const target = newTarget();
    const first = await restore(target);
    const again = await restore(target);
    expect(again.filesSkipped).toBe(again.files);
    expect(again.files).toBe(first.files);
    expect(again.chunksVerified).toBe(0);
    expect(again.bytes).toBe(first.bytes);

    // Same size, other bytes, other mode and mtime: only the hash tells.
    const victim = join(target, 'data', 'multi.bin');
    const altered = Buffer.from(await readFile(victim));
    altered[100] = (altered[100] as number) ^ 0xff;
    await writeFile(victim, altered);
    await chmod(victim, 0o600);
    const inodes = new Map<string, number>();
    for (const e of TREE.filter((x) => x.kind === 'file')) inodes.set(e.path, (await lstat(join(target, e.path))).ino);

    const third = await restore(target);
    expect(third.filesSkipped).toBe(third.files - 1);
    expect(third.chunksVerified).toBe(chunksOf('data/multi.bin').length);
    expect(comparable(await describeTree(target))).toEqual(comparable(await describeTree(source)));
    // The skipped files were left where they were; the changed one was replaced.
    for (const [path, ino] of inodes) {
      const now = (await lstat(join(target, path))).ino;
      if (path === 'data/multi.bin') expect({ path, replaced: now !== ino }).toEqual({ path, replaced: true });
      else expect({ path, ino: now }).toEqual({ path, ino });
    }
    expect(await tempFilesUnder(target)).toEqual([]);
  });

  it('a rerun removes the temporary files of a killed restore and leaves other dot files alone', async () => {
    const target = newTarget();
    await restore(target);
    // As if killed while writing data/multi.bin: no final file, a partial temporary one.
    await rm(join(target, 'data', 'multi.bin'));
    const stale = [
      'data/.0123456789ab.backstream-restore',
      '.fedcba987654.backstream-restore',
      'a/b/c/.00000000abcd.backstream-restore',
    ];
    for (const p of stale) await writeFile(join(target, p), 'partial');
    const others = ['.env', 'data/.hidden', 'data/.backstream-restore', 'docs/.0123456789ab.backstream-restore.keep'];
    for (const p of others) await writeFile(join(target, p), `keep ${p}`);

    const rerun = await restore(target);
    for (const p of stale) expect({ p, exists: existsSync(join(target, p)) }).toEqual({ p, exists: false });
    for (const p of others)
      expect({ p, content: await readFile(join(target, p), 'utf8') }).toEqual({ p, content: `keep ${p}` });
    expect(rerun.filesSkipped).toBe(rerun.files - 1);
    expect(comparable(await describeTree(target), (p) => !others.includes(p))).toEqual(
      comparable(await describeTree(source)),
    );
  });

  describe('a damaged repository', () => {
    const victim = 'data/multi.bin';
    const keyOfVictim = (): string => blockKey(chunksOf(victim)[2]!.hash);

    it.each([
      [
        'corrupted',
        (store: MemoryObjectStore, key: string) => flipByte(store, key, store.objects.get(key)!.length - 3),
      ],
      ['missing', (store: MemoryObjectStore, key: string) => void store.objects.delete(key)],
    ])(
      'a %s block: RestoreError naming the file and the block, no file put in place, no temp left',
      async (what, damage) => {
        const store = copyOf(repo.store);
        const key = keyOfVictim();
        damage(store, key);
        const target = newTarget();
        const err = await expectRestoreError(restore(target, { store, concurrency: 2 }));
        expect(err.message).toContain(victim);
        expect(err.message).toContain(key);
        if (what === 'missing') expect(err.message).toContain('missing');
        expect(err.path).toBe(victim);
        expect(err.blockKey).toBe(key);
        expect(existsSync(join(target, victim))).toBe(false);
        expect(await tempFilesUnder(target)).toEqual([]);
      },
    );

    it('a corrupted block leaves the file already at the final path as it was', async () => {
      const target = newTarget();
      await restore(target);
      await writeFile(join(target, victim), 'the version before');
      const store = copyOf(repo.store);
      flipByte(store, keyOfVictim(), 10);
      const err = await expectRestoreError(restore(target, { store }));
      expect(err.blockKey).toBe(keyOfVictim());
      expect(await readFile(join(target, victim), 'utf8')).toBe('the version before');
      expect(await tempFilesUnder(target)).toEqual([]);
    });

    it("chunks that do not make up the file's hash: RestoreError naming the file, nothing put in place", async () => {
      const store = copyOf(repo.store);
      const events = snapshot.events.map((e) =>
        e.path === victim && e.last ? { ...e, contentHash: sha256(Buffer.from('other content')) } : e,
      );
      const bad = await commit({ store, encoder: repo.encoder }, events, snapshot.verified, 'b'.repeat(32));
      const target = newTarget();
      const err = await expectRestoreError(restore(target, { store, record: bad }));
      expect(err.path).toBe(victim);
      expect(err.message).toContain(victim);
      expect(existsSync(join(target, victim))).toBe(false);
      expect(await tempFilesUnder(target)).toEqual([]);
    });
  });

  describe('includes', () => {
    it('restores only the chosen subtree, not a sibling sharing its prefix', async () => {
      const target = newTarget();
      const progress = await restore(target, { includes: ['docs'] });
      expect((await readdir(target)).sort()).toEqual(['docs']);
      const under = (p: string): boolean => p === 'docs' || p.startsWith('docs/');
      expect(comparable(await describeTree(target))).toEqual(comparable(await describeTree(source), under));
      expect({ files: progress.files, dirs: progress.dirs, symlinks: progress.symlinks }).toEqual({
        files: 1,
        dirs: 2,
        symlinks: 0,
      });
    });

    it('restores a deep file with the directories above it (their modes and mtimes), none of their other entries', async () => {
      const target = newTarget();
      const progress = await restore(target, { includes: ['a/b/c/deep.txt'] });
      const chosen = ['a', 'a/b', 'a/b/c', 'a/b/c/deep.txt'];
      expect(comparable(await describeTree(target))).toEqual(
        comparable(await describeTree(source), (p) => chosen.includes(p)),
      );
      expect(progress.files).toBe(1);
      expect(progress.chunksVerified).toBe(chunksOf('a/b/c/deep.txt').length);
    });

    it('accepts several paths written as ./path/ and restores each', async () => {
      const target = newTarget();
      await restore(target, { includes: ['./links/', 'data/multi.bin'] });
      const chosen = (p: string): boolean =>
        p === 'links' || p.startsWith('links/') || p === 'data' || p === 'data/multi.bin';
      expect(comparable(await describeTree(target))).toEqual(comparable(await describeTree(source), chosen));
    });
    it('treats "." and "/" as the whole snapshot', async () => {
      for (const include of ['.', './', '/']) {
        const target = newTarget();
        await restore(target, { includes: [include] });
        expect({ include, tree: comparable(await describeTree(target)) }).toEqual({
          include,
          tree: comparable(await describeTree(source)),
        });
      }
    });

    it('a rerun replaces a file inside a directory whose restored mode is read-only', async () => {
      const target = newTarget();
      await restore(target);
      await chmod(join(target, 'data'), 0o500);
      await writeFile(join(target, 'data', 'multi.bin'), 'changed');
      const rerun = await restore(target);
      expect(rerun.filesSkipped).toBe(rerun.files - 1);
      expect(comparable(await describeTree(target))).toEqual(comparable(await describeTree(source)));
    });
  });

  describe('paths outside the target', () => {
    // The event schema does not judge paths, so a file list can hold these: restore must refuse them.
    it.each([
      ['file', '../evil'],
      ['file', 'a/../../evil'],
      ['dir', '../evil'],
      ['symlink', '../evil'],
      ['file', '<scratch>/evil-absolute'],
    ] as const)('refuses a %s at %s and writes nothing outside', async (kind, pattern) => {
      const evilPath = pattern.replace('<scratch>', scratch);
      const readme = eventsOf('docs/readme.txt');
      const evil: FileEvent = {
        ...readme[readme.length - 1]!,
        path: evilPath,
        kind,
        ...(kind === 'file' ? { chunks: chunksOf('docs/readme.txt') } : { chunks: [], contentHash: undefined }),
        ...(kind === 'symlink' ? { target: 'docs' } : {}),
      };
      expect(fileSchema.safeParse(evil).success).toBe(true);
      const store = copyOf(repo.store);
      const id = createHash('md5').update(`evil ${kind} ${pattern}`).digest('hex');
      const bad = await commit({ store, encoder: repo.encoder }, [...snapshot.events, evil], snapshot.verified, id);
      const target = newTarget();
      const err = await expectRestoreError(restore(target, { store, record: bad }));
      expect(err.path).toBe(evilPath);
      expect(err.message).toContain(evilPath);
      expect(existsSync(join(scratch, 'evil'))).toBe(false);
      expect(existsSync(join(scratch, 'evil-absolute'))).toBe(false);
    });

    // A crafted file list routes a file through a symlink restored just before it
    // ('out' -> '../outside', then 'out/evil.txt'); the path is lexically inside the target.
    it('refuses a file below a restored symlink that points outside the target', async () => {
      const outside = join(scratch, 'outside');
      await mkdir(outside, { recursive: true });
      const readme = eventsOf('docs/readme.txt');
      const last = readme[readme.length - 1]!;
      const link: FileEvent = {
        ...last,
        path: 'out',
        kind: 'symlink',
        target: '../outside',
        size: 0,
        chunks: [],
        contentHash: undefined,
      };
      const file: FileEvent = { ...last, path: 'out/evil.txt', chunks: chunksOf('docs/readme.txt') };
      const store = copyOf(repo.store);
      const id = createHash('md5').update('evil through a symlink').digest('hex');
      const bad = await commit(
        { store, encoder: repo.encoder },
        [...snapshot.events, link, file],
        snapshot.verified,
        id,
      );
      const err = await expectRestoreError(restore(newTarget(), { store, record: bad }));
      expect(err.code).toBe('TARGET_UNSAFE');
      expect(err.message).toContain('out/evil.txt');
      expect(await readdir(outside)).toEqual([]);
    });
  });

  describe('memory bound', () => {
    it.each([1, 2, 4])('with concurrency %i, at most that many block GETs are in flight', async (concurrency) => {
      const store = new CountingStore(repo.store);
      const target = newTarget();
      const progress = await restore(target, { store, concurrency, includes: ['data'] });
      expect(store.blockGets).toBe(progress.chunksVerified);
      expect(store.blockGets).toBeGreaterThan(2048);
      expect(store.maxInFlight).toBeLessThanOrEqual(concurrency);
      // Blocks are fetched ahead of the one being written.
      expect(store.maxInFlight).toBeGreaterThanOrEqual(Math.min(concurrency, 2));
      expect(comparable(await describeTree(target))).toEqual(
        comparable(await describeTree(source), (p) => p === 'data' || p.startsWith('data/')),
      );
    });
  });
});
