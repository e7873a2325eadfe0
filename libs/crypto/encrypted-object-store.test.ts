import { createHash, randomBytes } from 'node:crypto';
import { BlockDecoder, BlockEncoder } from '../blocks';
import type { BackstreamError } from '../errors';
import { fileEntries, readContentObject, writeSegment, type SnapshotManifest } from '../manifest';
import { storeChunk, verifyStoredChunk } from '../pipeline';
import {
  MemoryObjectStore,
  ObjectNotFoundError,
  StoreError,
  blockKey,
  fileListKey,
  snapshotManifestKey,
  type ObjectInfo,
} from '../store';
import { EncryptedObjectStore } from './encrypted-object-store';
import { ENVELOPE_OVERHEAD } from './envelope';
import { ObjectDecryptError } from './errors';
import { RepositoryKeys } from './repository-keys';

const MASTER = Buffer.alloc(32, 0x3c);
const MARKER = Buffer.from('BACKSTREAM-PLAINTEXT-MARKER'.repeat(64));
const MARKER_HASH = sha256(MARKER);
const SNAPSHOT = '0123456789abcdef0123456789abcdef';

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

function setup(repositoryId = Buffer.alloc(16, 0x01)): {
  inner: MemoryObjectStore;
  store: EncryptedObjectStore;
  keys: RepositoryKeys;
} {
  const inner = new MemoryObjectStore();
  const keys = RepositoryKeys.derive(MASTER, repositoryId);
  return { inner, store: new EncryptedObjectStore(inner, keys), keys };
}

/** Everything the bucket shows: names and bytes. */
function bucketText(inner: MemoryObjectStore): { names: string; bytes: Buffer } {
  return {
    names: [...inner.objects.keys()].join('\n'),
    bytes: Buffer.concat([...inner.objects.values()]),
  };
}

async function decryptRejection(work: Promise<unknown>, key: string): Promise<ObjectDecryptError> {
  try {
    await work;
  } catch (err) {
    expect(err).toBeInstanceOf(ObjectDecryptError);
    expect((err as ObjectDecryptError).code).toBe('OBJECT_DECRYPT_FAILED');
    expect((err as ObjectDecryptError).retriable).toBe(false);
    expect((err as ObjectDecryptError).key).toBe(key);
    return err as ObjectDecryptError;
  }
  throw new Error('expected an ObjectDecryptError');
}

describe('EncryptedObjectStore', () => {
  it.each([
    ['a block', blockKey(MARKER_HASH)],
    ['a file-list segment', fileListKey(MARKER_HASH)],
    ['a manifest', snapshotManifestKey(SNAPSHOT)],
  ])('round-trips %s and leaves neither the plaintext nor its hash in the bucket', async (_what, key) => {
    const { inner, store } = setup();
    await expect(store.put(key, MARKER)).resolves.toEqual({ created: true });
    await expect(store.get(key)).resolves.toEqual(MARKER);
    const { names, bytes } = bucketText(inner);
    expect(bytes.includes(MARKER.subarray(0, 27))).toBe(false);
    expect(bytes.includes(Buffer.from(MARKER_HASH))).toBe(false);
    expect(bytes.includes(Buffer.from(MARKER_HASH, 'hex'))).toBe(false);
    expect(names).not.toContain(MARKER_HASH);
    expect(names).not.toContain(MARKER_HASH.slice(0, 16));
  });

  it('renames content addresses to HMAC names and keeps manifest names', () => {
    const { store, keys } = setup();
    const name = keys.objectName(MARKER_HASH);
    expect(store.storedKey(blockKey(MARKER_HASH))).toBe(`blocks/${name.slice(0, 2)}/${name}`);
    expect(store.storedKey(fileListKey(MARKER_HASH))).toBe(`filelists/${name}`);
    expect(store.storedKey(snapshotManifestKey(SNAPSHOT))).toBe(`snapshots/${SNAPSHOT}.json`);
  });

  it('names deterministically within a repository and differently across repositories under one master key', async () => {
    const a1 = setup(Buffer.alloc(16, 0x01));
    const a2 = setup(Buffer.alloc(16, 0x01));
    const b = setup(Buffer.alloc(16, 0x02));
    for (const s of [a1, a2, b]) await s.store.put(blockKey(MARKER_HASH), MARKER);
    const [n1] = a1.inner.objects.keys();
    const [n2] = a2.inner.objects.keys();
    const [n3] = b.inner.objects.keys();
    expect(n1).toBe(n2);
    expect(n1).not.toBe(n3);
  });

  it('stores keys/, ledger/ and staging/ objects as they are', async () => {
    const { inner, store } = setup();
    for (const key of [
      'keys/repository.json',
      'ledger/checkpoints/00000000000000000001.json',
      `staging/crm/${MARKER_HASH}`,
    ]) {
      await store.put(key, MARKER);
      expect(inner.objects.get(key)).toEqual(MARKER);
      await expect(store.get(key)).resolves.toEqual(MARKER);
    }
  });

  it('head gives the logical key and the stored size; absent objects are undefined / ObjectNotFoundError by logical key', async () => {
    const { store } = setup();
    const key = blockKey(MARKER_HASH);
    await store.put(key, MARKER);
    await expect(store.head(key)).resolves.toEqual({ key, size: MARKER.length + ENVELOPE_OVERHEAD });
    const absent = blockKey('ff'.repeat(32));
    await expect(store.head(absent)).resolves.toBeUndefined();
    const err = await store.get(absent).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ObjectNotFoundError);
    expect((err as ObjectNotFoundError).key).toBe(absent);
  });

  it('keeps create-only puts create-only, and delete removes the stored object', async () => {
    const { inner, store } = setup();
    const key = fileListKey(MARKER_HASH);
    await store.put(key, MARKER, { ifNoneMatch: true });
    const first = [...inner.objects.values()][0];
    await expect(store.put(key, MARKER, { ifNoneMatch: true })).resolves.toEqual({ created: false });
    expect([...inner.objects.values()]).toEqual([first]);
    // A plain put (a repair) overwrites, with a fresh salt.
    await expect(store.put(key, MARKER)).resolves.toEqual({ created: true });
    expect([...inner.objects.values()][0]?.equals(first!)).toBe(false);
    await store.delete(key);
    expect(inner.objects.size).toBe(0);
  });

  it('seals the same plaintext to different stored bytes', async () => {
    const a = setup();
    const b = setup();
    await a.store.put(blockKey(MARKER_HASH), MARKER);
    await b.store.put(blockKey(MARKER_HASH), MARKER);
    expect([...a.inner.objects.values()][0]?.equals([...b.inner.objects.values()][0]!)).toBe(false);
  });

  it('refuses, naming the logical key, a stored object with any single byte flipped', async () => {
    const { inner, store } = setup();
    const key = snapshotManifestKey(SNAPSHOT);
    await store.put(key, Buffer.from('{"manifest":true}'));
    const stored = store.storedKey(key);
    const good = inner.objects.get(stored)!;
    for (let at = 0; at < good.length; at++) {
      const bad = Buffer.from(good);
      bad[at] = (bad[at] as number) ^ 0x80;
      inner.objects.set(stored, bad);
      await decryptRejection(store.get(key), key);
    }
  });

  it('refuses an object copied to another name (block to block, manifest to manifest)', async () => {
    const { inner, store } = setup();
    const other = randomBytes(100);
    const [keyA, keyB] = [blockKey(MARKER_HASH), blockKey(sha256(other))];
    await store.put(keyA, MARKER);
    await store.put(keyB, other);
    inner.objects.set(store.storedKey(keyB), inner.objects.get(store.storedKey(keyA))!);
    const err = await decryptRejection(store.get(keyB), keyB);
    expect(err.message).toContain(keyB);

    const [m1, m2] = [snapshotManifestKey('1'.repeat(32)), snapshotManifestKey('2'.repeat(32))];
    await store.put(m1, Buffer.from('one'));
    inner.objects.set(m2, inner.objects.get(m1)!);
    await decryptRejection(store.get(m2), m2);
  });

  it('refuses objects of another repository under the same master key', async () => {
    const a = setup(Buffer.alloc(16, 0x01));
    const b = setup(Buffer.alloc(16, 0x02));
    const key = snapshotManifestKey(SNAPSHOT);
    await a.store.put(key, MARKER);
    b.inner.objects.set(key, a.inner.objects.get(key)!);
    await decryptRejection(b.store.get(key), key);
  });

  it('refuses a plaintext object where an encrypted one belongs (mixed repository)', async () => {
    const { inner, store } = setup();
    const key = snapshotManifestKey(SNAPSHOT);
    inner.objects.set(key, new BlockEncoder(3).encode(MARKER));
    const err = await decryptRejection(store.get(key), key);
    expect(err.message).toContain('not an encrypted object');
  });

  it.each([
    'blocks/ab/test',
    `blocks/00/${MARKER_HASH}`,
    `blocks/${MARKER_HASH.slice(0, 2)}/${MARKER_HASH.toUpperCase()}`,
    'filelists/x',
  ])('refuses a key under a renamed prefix that is not a content address: %s', async (key) => {
    const { inner, store } = setup();
    const err = await store.put(key, MARKER).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect((err as StoreError).retriable).toBe(false);
    expect(inner.objects.size).toBe(0);
    await expect(store.get(key)).rejects.toBeInstanceOf(StoreError);
  });

  it.each(['', 'b', 'blocks/', `blocks/${MARKER_HASH.slice(0, 2)}/`, 'f', 'filelists/'])(
    'refuses to list %j: HMAC names do not map back to logical keys',
    async (prefix) => {
      const { store } = setup();
      await store.put(blockKey(MARKER_HASH), MARKER);
      const listing = async (): Promise<ObjectInfo[]> => {
        const out: ObjectInfo[] = [];
        for await (const o of store.list(prefix)) out.push(o);
        return out;
      };
      const err = await listing().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StoreError);
      expect((err as BackstreamError).retriable).toBe(false);
    },
  );

  it('lists prefixes whose names are kept, names unchanged and sizes as stored', async () => {
    const { store } = setup();
    const manifest = snapshotManifestKey(SNAPSHOT);
    const checkpoint = 'ledger/checkpoints/00000000000000000001.json';
    await store.put(manifest, MARKER);
    await store.put(checkpoint, Buffer.from('{}'));
    await store.put(blockKey(MARKER_HASH), MARKER);
    const listed = async (prefix: string): Promise<ObjectInfo[]> => {
      const out: ObjectInfo[] = [];
      for await (const o of store.list(prefix)) out.push(o);
      return out;
    };
    await expect(listed('snapshots/')).resolves.toEqual([{ key: manifest, size: MARKER.length + ENVELOPE_OVERHEAD }]);
    await expect(listed('ledger/checkpoints/')).resolves.toEqual([{ key: checkpoint, size: 2 }]);
  });

  it('passes keepLocked the stored name', async () => {
    const { inner, store } = setup();
    const calls: ObjectInfo[] = [];
    inner.keepLocked = (info) => {
      calls.push(info);
      return Promise.resolve();
    };
    const key = blockKey(MARKER_HASH);
    await store.put(key, MARKER);
    const info = (await store.head(key))!;
    const retainUntil = new Date('2030-01-01T00:00:00Z');
    await store.keepLocked({ ...info, retainUntil });
    expect(calls).toEqual([{ key: store.storedKey(key), size: info.size, retainUntil }]);
  });
});

describe('EncryptedObjectStore under the libs that use the store', () => {
  it('file lists written and read back through libs/manifest', async () => {
    const { inner, store } = setup();
    const marker = 'BACKSTREAM-PLAINTEXT-MARKER';
    const entry = {
      snapshotId: SNAPSHOT,
      path: `${marker}/dir`,
      kind: 'dir',
      mode: 0o755,
      mtimeMs: 0,
      size: 0,
      part: 0,
      last: true,
      chunks: [],
    };
    const segment = await writeSegment(store, new BlockEncoder(3), [JSON.stringify(entry)]);
    expect(segment.key).toBe(fileListKey(segment.sha256));
    const { names, bytes } = bucketText(inner);
    expect(names).not.toContain(segment.sha256);
    expect(bytes.includes(Buffer.from(marker))).toBe(false);
    // readContentObject still proves the decrypted content by the recorded hash.
    const decoder = new BlockDecoder(1024 * 1024);
    await expect(readContentObject(store, decoder, segment, 'segment')).resolves.toEqual(
      Buffer.from(JSON.stringify(entry) + '\n'),
    );
    const manifest = { segments: [segment] } as unknown as SnapshotManifest;
    const entries: unknown[] = [];
    for await (const e of fileEntries(store, decoder, manifest)) entries.push(e);
    expect(entries).toEqual([entry]);
  });

  it('a chunk stored by the chunk-worker is verified by the verifier', async () => {
    const { store } = setup();
    const data = Buffer.concat([MARKER, randomBytes(64)]);
    const hash = sha256(data);
    const stored = await storeChunk(
      { meta: { snapshotId: SNAPSHOT, source: 'test', seq: 0, hash, size: data.length }, data },
      { store, encoder: new BlockEncoder(3) },
    );
    expect(stored.key).toBe(blockKey(hash));
    const outcome = await verifyStoredChunk(stored, { store, decoder: new BlockDecoder(1024 * 1024) });
    expect(outcome).toHaveProperty('verified');
  });
});
