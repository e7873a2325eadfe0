import { pseudoRandomBytes } from '../chunking/pseudo-random';
import {
  changeVersionSchema,
  changesCommitSchema,
  type ChangesCommitRecord,
  type FileEvent,
  type SnapshotCommitRecord,
} from '../events';
import {
  buildChangeBatchManifest,
  changeVersions,
  fileEntries,
  readChangeBatchManifest,
  readManifest,
  writeManifest,
  writeSegment,
} from '../manifest';
import { Repo as ChangeRepo, remove, upsert } from '../pit/test-fixtures';
import { type MemoryObjectStore, StoreError, blockKey, type ObjectStore } from '../store';
import {
  CountingStore,
  SnapshotRepo,
  blockDecoder,
  copyOf,
  decoder,
  type EntrySpec,
  type Committed,
} from './data-check-fixtures';
import { RepositoryDataChecker, USED_BY_CAP, type DataCheckStats, type DataFinding } from './data-check';

const TEXT = Buffer.from('the same words, again and again, in two files. '.repeat(30));
const TREE: EntrySpec[] = [
  { path: 'data', kind: 'dir' },
  // About 4000 chunks: two file-event parts.
  { path: 'data/big.bin', content: pseudoRandomBytes(256 * 1024, 1) },
  { path: 'data/empty', content: Buffer.alloc(0) },
  { path: 'data/mid.bin', content: pseudoRandomBytes(5000, 2) },
  { path: 'docs', kind: 'dir' },
  { path: 'docs/a.txt', content: TEXT },
  { path: 'docs/copy-of-a.txt', content: TEXT },
  { path: 'docs/link', kind: 'symlink' },
];
const FILES = TREE.filter((e) => (e.kind ?? 'file') === 'file').length;

let repo: SnapshotRepo;
let first: Committed;
let second: Committed;

function checker(
  store: ObjectStore,
  options: { deep?: boolean; concurrency?: number; onProgress?(stats: DataCheckStats): void } = {},
): RepositoryDataChecker {
  return new RepositoryDataChecker({
    store,
    decoder,
    blockDecoder,
    deep: options.deep ?? false,
    concurrency: options.concurrency ?? 4,
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
  });
}

const check = (store: ObjectStore, record: SnapshotCommitRecord, deep = false): Promise<DataFinding[]> =>
  checker(store, { deep }).checkSnapshot(7, '42', record);

/** The chunk references of one path, parts in order. */
const chunksOf = (c: Committed, path: string) => c.events.filter((e) => e.path === path).flatMap((e) => e.chunks);
/** A block that only `path` uses (in `c`). */
function blockOnlyOf(c: Committed, path: string): string {
  const others = new Set(c.events.filter((e) => e.path !== path).flatMap((e) => e.chunks.map((r) => r.hash)));
  const hash = chunksOf(c, path).find((r) => !others.has(r.hash))?.hash;
  if (!hash) throw new Error(`no block of ${path} alone`);
  return hash;
}
/** An asymmetric matcher, typed for a string field of an expected object. */
const containing = (text: string): string => expect.stringContaining(text) as string;
const flipLastByte = (store: MemoryObjectStore, key: string): void => {
  const body = store.objects.get(key)!;
  body[body.length - 1] = (body[body.length - 1] as number) ^ 0x01;
};
const storedSize = (store: MemoryObjectStore, key: string): number => store.objects.get(key)!.length;
const segmentKeys = async (record: SnapshotCommitRecord): Promise<string[]> =>
  (await readManifest(repo.store, decoder, record.manifest)).segments.map((s) => s.key);

beforeAll(async () => {
  repo = new SnapshotRepo();
  first = await repo.commit('first', TREE);
  // The next day: mid.bin changed, the rest did not (their blocks are shared).
  second = await repo.commit('second', [
    ...TREE.filter((e) => e.path !== 'data/mid.bin'),
    { path: 'data/mid.bin', content: pseudoRandomBytes(5000, 3) },
  ]);
}, 60_000);

describe('the snapshot fixture', () => {
  it('has several segments, a file in two parts, files sharing blocks', async () => {
    expect((await segmentKeys(first.record)).length).toBeGreaterThan(2);
    expect(first.events.filter((e) => e.path === 'data/big.bin').length).toBe(2);
    expect(chunksOf(first, 'docs/a.txt').length).toBeGreaterThan(1);
    expect(chunksOf(first, 'docs/copy-of-a.txt')).toEqual(chunksOf(first, 'docs/a.txt'));
    const manifest = await readManifest(repo.store, decoder, first.record.manifest);
    const stored: FileEvent[] = [];
    for await (const e of fileEntries(repo.store, decoder, manifest)) stored.push(e);
    expect(stored).toEqual(first.events);
  });
});

describe('a clean repository', () => {
  it('gives no findings; without deep every block is HEADed once and none is read', async () => {
    const store = new CountingStore(repo.store);
    const c = checker(store);
    expect(await c.checkSnapshot(0, '0', first.record)).toEqual([]);
    const refs = first.events.flatMap((e) => e.chunks);
    const distinct = new Set(refs.map((r) => r.hash));
    const metadataBytes = [first.record.manifest.key, ...(await segmentKeys(first.record))]
      .map((k) => storedSize(repo.store, k))
      .reduce((a, b) => a + b, 0);
    expect(c.stats).toEqual({
      records: 1,
      files: FILES,
      versions: 0,
      blocks: refs.length,
      blocksRead: distinct.size,
      bytesRead: metadataBytes,
    });
    expect([...store.gets.keys()].filter((k) => k.startsWith('blocks/'))).toEqual([]);
    expect(store.heads.size).toBe(distinct.size);
    expect(Math.max(...store.heads.values())).toBe(1);
  });

  it('gives no findings with deep, which reads every block once and checks whole files', async () => {
    const store = new CountingStore(repo.store);
    const c = checker(store, { deep: true });
    expect(await c.checkSnapshot(0, '0', first.record)).toEqual([]);
    const distinct = [...new Set(first.events.flatMap((e) => e.chunks.map((r) => r.hash)))];
    const bytes = [first.record.manifest.key, ...(await segmentKeys(first.record)), ...distinct.map(blockKey)]
      .map((k) => storedSize(repo.store, k))
      .reduce((a, b) => a + b, 0);
    expect(c.stats).toMatchObject({ records: 1, files: FILES, blocksRead: distinct.length, bytesRead: bytes });
    expect(store.heads.size).toBe(0);
    for (const hash of distinct) expect(store.gets.get(blockKey(hash))).toBe(1);
  });

  it('reads a block shared by two snapshots once with deep', async () => {
    const store = new CountingStore(repo.store);
    const c = checker(store, { deep: true });
    expect(await c.checkSnapshot(0, '0', first.record)).toEqual([]);
    expect(await c.checkSnapshot(1, '1', second.record)).toEqual([]);
    const shared = chunksOf(second, 'docs/a.txt')[0]!.hash;
    expect(store.gets.get(blockKey(shared))).toBe(1);
    const all = new Set([...first.events, ...second.events].flatMap((e) => e.chunks.map((r) => r.hash)));
    expect(c.stats.blocksRead).toBe(all.size);
    expect(Math.max(...[...store.gets].filter(([k]) => k.startsWith('blocks/')).map(([, n]) => n))).toBe(1);
    expect(c.stats.records).toBe(2);
    expect(c.stats.files).toBe(2 * FILES);
  });

  it('never has more than `concurrency` requests in flight', async () => {
    for (const deep of [false, true]) {
      const store = new CountingStore(repo.store);
      const c = checker(store, { deep, concurrency: 3 });
      expect(await c.checkSnapshot(0, undefined, first.record)).toEqual([]);
      expect(await c.checkSnapshot(1, undefined, second.record)).toEqual([]);
      expect(store.maxInFlight).toBe(3);
      expect(store.inFlight).toBe(0);
    }
  });

  it('reports progress at most every 250 ms', async () => {
    let now = 1_000_000;
    const spy = jest.spyOn(Date, 'now').mockImplementation(() => (now += 7));
    try {
      const seen: Array<{ at: number; stats: DataCheckStats }> = [];
      const c = checker(repo.store, { onProgress: (stats) => seen.push({ at: now, stats }) });
      await c.checkSnapshot(0, undefined, first.record);
      expect(seen.length).toBeGreaterThan(5);
      for (let i = 1; i < seen.length; i++) expect(seen[i]!.at - seen[i - 1]!.at).toBeGreaterThanOrEqual(250);
      // Copies, growing, never past the end.
      const blocks = seen.map((s) => s.stats.blocks);
      expect(blocks).toEqual([...blocks].sort((a, b) => a - b));
      expect(blocks[blocks.length - 1]!).toBeLessThanOrEqual(c.stats.blocks);
      expect(seen[0]!.stats).not.toBe(c.stats);
    } finally {
      spy.mockRestore();
    }
  });
});

describe('missing and corrupt blocks', () => {
  it('a deleted block shared by two files: one finding naming both, with and without deep', async () => {
    const store = copyOf(repo.store);
    const hash = chunksOf(first, 'docs/a.txt')[1]!.hash;
    store.objects.delete(blockKey(hash));
    for (const deep of [false, true]) {
      expect(await check(store, first.record, deep)).toEqual([
        {
          kind: 'block-missing',
          seq: 7,
          offset: '42',
          snapshotId: first.record.snapshotId,
          objectKey: blockKey(hash),
          blockHash: hash,
          usedBy: ['docs/a.txt', 'docs/copy-of-a.txt'],
          usedByCount: 2,
          message: containing(`block ${blockKey(hash)} is missing`),
        },
      ]);
    }
  });

  it('a flipped byte is found by deep only', async () => {
    const store = copyOf(repo.store);
    const hash = blockOnlyOf(first, 'data/mid.bin');
    flipLastByte(store, blockKey(hash));
    expect(await check(store, first.record)).toEqual([]);
    const findings = await check(store, first.record, true);
    expect(findings).toHaveLength(1);
    expect(findings[0]).toMatchObject({
      kind: 'block-corrupt',
      objectKey: blockKey(hash),
      blockHash: hash,
      usedBy: ['data/mid.bin'],
      usedByCount: 1,
    });
    expect(findings[0]!.message).toContain(blockKey(hash));
  });

  it('a block too short to be one is corrupt even without deep', async () => {
    const store = copyOf(repo.store);
    const hash = blockOnlyOf(first, 'data/mid.bin');
    store.objects.set(blockKey(hash), Buffer.alloc(0));
    expect(await check(store, first.record)).toEqual([
      expect.objectContaining({ kind: 'block-corrupt', blockHash: hash, usedBy: ['data/mid.bin'] }),
    ]);
  });

  it('a block found bad by an earlier record is checked once and reported for each record using it', async () => {
    const store = new CountingStore(copyOf(repo.store));
    const hash = chunksOf(first, 'docs/a.txt')[0]!.hash;
    await (store.inner as MemoryObjectStore).delete(blockKey(hash));
    const c = checker(store);
    const one = await c.checkSnapshot(0, '10', first.record);
    const two = await c.checkSnapshot(1, '11', second.record);
    expect(store.heads.get(blockKey(hash))).toBe(1);
    for (const [findings, record, offset] of [
      [one, first.record, '10'],
      [two, second.record, '11'],
    ] as const) {
      expect(findings).toEqual([
        expect.objectContaining({
          kind: 'block-missing',
          offset,
          snapshotId: record.snapshotId,
          blockHash: hash,
          usedBy: ['docs/a.txt', 'docs/copy-of-a.txt'],
        }),
      ]);
    }
  });

  it('names at most USED_BY_CAP users and counts them all', async () => {
    const many = new SnapshotRepo();
    const files = Array.from({ length: 25 }, (_, i) => ({ path: `f${String(i).padStart(2, '0')}`, content: TEXT }));
    const { record, events } = await many.commit('many', files);
    const hash = events[0]!.chunks[0]!.hash;
    await many.store.delete(blockKey(hash));
    const findings = await check(many.store, record);
    expect(findings).toHaveLength(1);
    expect(findings[0]!.usedBy).toEqual(files.slice(0, USED_BY_CAP).map((f) => f.path));
    expect(findings[0]!.usedByCount).toBe(25);
    expect(findings[0]!.message).toContain('used by 25 files');
  });

  it('a file of the same block over and over names the file once', async () => {
    const same = new SnapshotRepo();
    // Zeros cut into max-size chunks: one block, many times.
    const { record, events } = await same.commit('zeros', [{ path: 'zeros', content: Buffer.alloc(4096) }]);
    const hashes = new Set(events[0]!.chunks.map((r) => r.hash));
    expect(hashes.size).toBe(1);
    await same.store.delete(blockKey([...hashes][0]!));
    expect(await check(same.store, record, true)).toEqual([
      expect.objectContaining({ kind: 'block-missing', usedBy: ['zeros'], usedByCount: 1 }),
    ]);
  });
});

describe('missing and corrupt manifests and segments', () => {
  it('a deleted manifest', async () => {
    const store = copyOf(repo.store);
    store.objects.delete(first.record.manifest.key);
    expect(await check(store, first.record, true)).toEqual([
      expect.objectContaining({
        kind: 'manifest-missing',
        objectKey: first.record.manifest.key,
        usedBy: [],
        usedByCount: 0,
      }),
    ]);
  });

  it('a corrupt manifest', async () => {
    const store = copyOf(repo.store);
    flipLastByte(store, first.record.manifest.key);
    expect(await check(store, first.record)).toEqual([
      expect.objectContaining({ kind: 'manifest-corrupt', objectKey: first.record.manifest.key }),
    ]);
  });

  it("another snapshot's manifest", async () => {
    const findings = await check(repo.store, { ...first.record, snapshotId: second.record.snapshotId });
    expect(findings).toEqual([expect.objectContaining({ kind: 'manifest-corrupt' })]);
    expect(findings[0]!.message).toContain(`of snapshot ${first.record.snapshotId}`);
  });

  it('a deleted segment is reported and the other segments are still checked', async () => {
    const store = copyOf(repo.store);
    const segments = await segmentKeys(first.record);
    store.objects.delete(segments[0]!);
    // A block in a later segment (the text files come last in the list).
    const hash = blockOnlyOf(first, 'data/mid.bin');
    store.objects.delete(blockKey(hash));
    const c = checker(store);
    const findings = await c.checkSnapshot(3, '9', first.record);
    expect(findings).toEqual([
      expect.objectContaining({ kind: 'segment-missing', objectKey: segments[0], usedBy: [], usedByCount: 0 }),
      expect.objectContaining({ kind: 'block-missing', blockHash: hash, usedBy: ['data/mid.bin'] }),
    ]);
    expect(c.stats.blocks).toBeGreaterThan(0);
    expect(c.stats.blocks).toBeLessThan(first.events.flatMap((e) => e.chunks).length);
  });

  it('a corrupt segment', async () => {
    const store = copyOf(repo.store);
    const segments = await segmentKeys(first.record);
    flipLastByte(store, segments[1]!);
    expect(await check(store, first.record)).toEqual([
      expect.objectContaining({ kind: 'segment-corrupt', objectKey: segments[1] }),
    ]);
  });
});

describe('whole files, with deep', () => {
  it('a content hash its (intact) chunks do not give: the segment is wrong, named with the file', async () => {
    const bad = new SnapshotRepo();
    const wrong = 'f'.repeat(64);
    const { record } = await bad.commit('wrong-hash', TREE, (events) =>
      events.map((e) => (e.path === 'data/big.bin' && e.last ? { ...e, contentHash: wrong } : e)),
    );
    expect(await check(bad.store, record)).toEqual([]);
    const findings = await check(bad.store, record, true);
    const manifest = await readManifest(bad.store, decoder, record.manifest);
    expect(findings).toEqual([
      expect.objectContaining({ kind: 'segment-corrupt', usedBy: ['data/big.bin'], usedByCount: 1 }),
    ]);
    expect(manifest.segments.map((s) => s.key)).toContain(findings[0]!.objectKey);
    expect(findings[0]!.message).toContain(wrong);
  });

  it('an unchanged file of a later snapshot is checked whole without reading its blocks again', async () => {
    const two = new SnapshotRepo();
    const wrong = 'f'.repeat(64);
    const a = await two.commit('one', TREE);
    const b = await two.commit('two', TREE, (events) =>
      events.map((e) => (e.path === 'data/big.bin' && e.last ? { ...e, contentHash: wrong } : e)),
    );
    const store = new CountingStore(two.store);
    const c = checker(store, { deep: true });
    expect(await c.checkSnapshot(0, undefined, a.record)).toEqual([]);
    expect(await c.checkSnapshot(1, undefined, b.record)).toEqual([
      expect.objectContaining({ kind: 'segment-corrupt', snapshotId: b.record.snapshotId, usedBy: ['data/big.bin'] }),
    ]);
    for (const ref of chunksOf(b, 'data/big.bin')) expect(store.gets.get(blockKey(ref.hash))).toBe(1);
  });

  it('a file whose last part never came (restore would fail on it)', async () => {
    const bad = new SnapshotRepo();
    const { record } = await bad.commit('cut', TREE, (events) =>
      events.filter((e) => !(e.path === 'data/big.bin' && e.last)),
    );
    for (const deep of [false, true]) {
      expect(await check(bad.store, record, deep)).toEqual([
        expect.objectContaining({ kind: 'segment-corrupt', usedBy: ['data/big.bin'] }),
      ]);
    }
  });
});

describe('store failures', () => {
  it('are thrown, not reported, and nothing is left in flight', async () => {
    for (const deep of [false, true]) {
      const store = new CountingStore(repo.store);
      const failure = new StoreError('S3 GET failed: connection reset', { retriable: true });
      if (deep) store.failBlockGets = failure;
      else store.head = () => Promise.reject(failure);
      await expect(check(store, first.record, deep)).rejects.toBe(failure);
      expect(store.inFlight).toBe(0);
    }
  });
});

describe('change batches', () => {
  const payload = (seed: number) => ({ text: pseudoRandomBytes(300, seed).toString('hex') });
  let changes: ChangeRepo;
  let batch: ChangesCommitRecord;
  let replay: ChangesCommitRecord;

  beforeAll(async () => {
    changes = new ChangeRepo();
    batch = (await changes.commitBatch(
      'batch-1',
      [upsert('k1', 1, payload(10)), upsert('k2', 2, payload(11)), remove('k1', 3), upsert('k3', 4, payload(12))],
      { firstOffset: 0 },
    ))!;
    // Published again after a crash, with other payloads at the offsets committed already
    // (so that their blocks are theirs alone), and two new records.
    replay = (await changes.commitBatch(
      'batch-2',
      [
        upsert('k1', 1, payload(20)),
        upsert('k2', 2, payload(21)),
        remove('k1', 3),
        upsert('k3', 4, payload(22)),
        upsert('k4', 5, payload(23)),
        upsert('k5', 6, payload(24)),
      ],
      { firstOffset: 0 },
    ))!;
  }, 60_000);

  async function versionsOf(record: ChangesCommitRecord) {
    const manifest = await readChangeBatchManifest(changes.store, decoder, record.manifest);
    const all = [];
    for await (const v of changeVersions(changes.store, decoder, manifest)) all.push(v);
    return all;
  }

  it('the fixture: the replayed batch commits only its new offsets', () => {
    expect(replay.fromOffset).toBe('4');
    expect(replay.toOffset).toBe('5');
    expect(replay.versions).toBe(2);
  });

  it('a clean batch gives no findings', async () => {
    for (const deep of [false, true]) {
      const c = checker(changes.store, { deep });
      expect(await c.checkChangeBatch(0, '0', batch)).toEqual([]);
      expect(await c.checkChangeBatch(1, '1', replay)).toEqual([]);
      const refs = [...(await versionsOf(batch)), ...(await versionsOf(replay)).slice(4)].flatMap((v) => v.chunks);
      expect(c.stats).toMatchObject({
        records: 2,
        files: 0,
        versions: batch.versions + replay.versions,
        blocks: refs.length,
        blocksRead: new Set(refs.map((r) => r.hash)).size,
      });
    }
  });

  it('a deleted payload block names key@offset', async () => {
    const store = copyOf(changes.store);
    const versions = await versionsOf(batch);
    const k2 = versions.find((v) => v.key === 'k2')!;
    const hash = k2.chunks[1]!.hash;
    store.objects.delete(blockKey(hash));
    for (const deep of [false, true]) {
      expect(await checker(store, { deep }).checkChangeBatch(5, undefined, batch)).toEqual([
        {
          kind: 'block-missing',
          seq: 5,
          snapshotId: batch.snapshotId,
          objectKey: blockKey(hash),
          blockHash: hash,
          usedBy: [`k2@${k2.offset}`],
          usedByCount: 1,
          message: containing('used by 1 version of change batch'),
        },
      ]);
    }
  });

  it('versions outside [fromOffset, toOffset] are not checked', async () => {
    const store = new CountingStore(copyOf(changes.store));
    const outside = (await versionsOf(replay)).filter((v) => BigInt(v.offset) < BigInt(replay.fromOffset));
    const hashes = outside.flatMap((v) => v.chunks.map((r) => r.hash));
    expect(hashes.length).toBeGreaterThan(0);
    for (const hash of hashes) await store.inner.delete(blockKey(hash));
    for (const deep of [false, true]) {
      const c = checker(store, { deep });
      expect(await c.checkChangeBatch(1, '1', replay)).toEqual([]);
      expect(c.stats.versions).toBe(2);
    }
    for (const hash of hashes) {
      expect(store.heads.get(blockKey(hash))).toBeUndefined();
      expect(store.gets.get(blockKey(hash))).toBeUndefined();
    }
  });

  it('with deep, a payload its chunks do not give (size or hash) is found', async () => {
    const versions = await versionsOf(batch);
    const k3 = versions.find((v) => v.key === 'k3')!;
    const lines = [
      JSON.stringify(changeVersionSchema.parse({ ...k3, sha256: 'e'.repeat(64) })),
      JSON.stringify(changeVersionSchema.parse({ ...k3, offset: '4', size: k3.size! + 1 })),
    ];
    const store = copyOf(changes.store);
    const manifest = await readChangeBatchManifest(changes.store, decoder, batch.manifest);
    const segment = await writeSegment(store, changes.encoder, lines);
    const id = 'ab'.repeat(16);
    const ref = await writeManifest(
      store,
      changes.encoder,
      buildChangeBatchManifest(
        { ...manifest, snapshotId: id, firstOffset: '3', lastOffset: '4', versionCount: 2 },
        [segment],
        2,
      ),
    );
    const record = changesCommitSchema.parse({
      ...batch,
      snapshotId: id,
      fromOffset: '3',
      toOffset: '4',
      manifest: ref,
    });
    expect(await checker(store).checkChangeBatch(0, undefined, record)).toEqual([]);
    const findings = await checker(store, { deep: true }).checkChangeBatch(0, undefined, record);
    expect(findings).toEqual([
      expect.objectContaining({ kind: 'segment-corrupt', objectKey: segment.key, usedBy: ['k3@3'] }),
      expect.objectContaining({ kind: 'segment-corrupt', objectKey: segment.key, usedBy: ['k3@4'] }),
    ]);
  });

  it('a snapshot manifest where a change-batch manifest should be', async () => {
    const store = copyOf(repo.store);
    const record = changesCommitSchema.parse({ ...batch, manifest: first.record.manifest });
    expect(await checker(store).checkChangeBatch(0, undefined, record)).toEqual([
      expect.objectContaining({ kind: 'manifest-corrupt', objectKey: first.record.manifest.key }),
    ]);
  });
});
