import { BlockDecoder, BlockEncoder } from '../blocks';
import { EncryptedObjectStore, RepositoryKeys } from '../crypto';
import type { BackstreamError } from '../errors';
import type { ObjectRef } from '../events';
import { MemoryObjectStore, type ObjectStore } from '../store';
import {
  buildManifest,
  fileEntries,
  readChangeBatchManifest,
  readManifest,
  sha256Hex,
  writeManifest,
  writeSegment,
  type SnapshotManifest,
} from './manifest';
import { contentKeyProblem } from './object-keys';

const ID = '0123456789abcdef0123456789abcdef';
const OTHER = 'fedcba9876543210fedcba9876543210';
const encoder = new BlockEncoder(3);
const decoder = new BlockDecoder(1024 * 1024);
const sealed = {
  snapshotId: ID,
  source: 'src',
  host: 'h',
  root: '/r',
  parent: null,
  startedAt: '2026-01-01T00:00:00.000Z',
  finishedAt: '2026-01-01T00:00:01.000Z',
  chunkCount: 0,
  fileEventCount: 1,
  files: 0,
  dirs: 1,
  symlinks: 0,
  totalBytes: 0,
  sentBytes: 0,
};
const dirLine = JSON.stringify({
  snapshotId: ID,
  path: 'forged',
  kind: 'dir',
  mode: 0o755,
  mtimeMs: 0,
  size: 0,
  ino: 1,
  part: 0,
  last: true,
  chunks: [],
});

/** Puts a block-encoded object under any key, as a writer of the bucket (or of staging/) can. */
async function placed(store: ObjectStore, key: string, content: Buffer): Promise<ObjectRef> {
  const block = encoder.encode(content);
  await store.put(key, block);
  return { key, sha256: sha256Hex(content), size: block.length };
}

async function refusal(p: Promise<unknown>): Promise<BackstreamError> {
  try {
    await p;
  } catch (err) {
    return err as BackstreamError;
  }
  throw new Error('expected a refusal');
}

describe('manifest and segment keys', () => {
  it.each([
    ['staging/src/ab', 'manifest'],
    ['ledger/checkpoints/00000000000000000001.json', 'manifest'],
    ['keys/repository.json', 'manifest'],
    [`snapshots/${ID}.json.bak`, 'manifest'],
    [`snapshots/../staging/${ID}.json`, 'manifest'],
    [`filelists/${'a'.repeat(64)}`, 'manifest'],
    [`snapshots/${ID}.json`, 'segment'],
    [`filelists/${'b'.repeat(64)}`, 'segment'],
    [`staging/src/${'a'.repeat(64)}`, 'segment'],
  ] as const)('refuses %s as a %s', (key, kind) => {
    expect(contentKeyProblem({ key, sha256: 'a'.repeat(64), size: 1 }, kind)).toContain('refused');
  });

  it('accepts the shapes the archiver writes', () => {
    expect(contentKeyProblem({ key: `snapshots/${ID}.json`, sha256: 'a'.repeat(64), size: 1 }, 'manifest')).toBe(
      undefined,
    );
    expect(contentKeyProblem({ key: `filelists/${'a'.repeat(64)}`, sha256: 'a'.repeat(64), size: 1 }, 'segment')).toBe(
      undefined,
    );
  });

  it('readManifest refuses a manifest outside snapshots/ before reading it, and one naming another snapshot', async () => {
    const store = new MemoryObjectStore();
    const manifest: SnapshotManifest = buildManifest(sealed, [], 0);
    const content = Buffer.from(JSON.stringify(manifest));
    const staged = await placed(store, `staging/src/${sha256Hex(content)}`, content);
    const err = await refusal(readManifest(store, decoder, staged));
    expect(err.code).toBe('BLOCK_CORRUPT');
    expect(err.message).toContain('snapshots/<snapshot id>.json');
    const elsewhere = await placed(store, `snapshots/${OTHER}.json`, content);
    expect((await refusal(readManifest(store, decoder, elsewhere))).message).toContain(`holds the manifest of ${ID}`);
    await expect(readManifest(store, decoder, await writeManifest(store, encoder, manifest))).resolves.toEqual(
      manifest,
    );
  });

  it('fileEntries refuses a segment that is not filelists/<its sha256>', async () => {
    const store = new MemoryObjectStore();
    const content = Buffer.from(`${dirLine}\n`);
    const staged = await placed(store, `staging/src/${sha256Hex(content)}`, content);
    const manifest = buildManifest(sealed, [staged], 1);
    const read = async (): Promise<unknown[]> => {
      const out: unknown[] = [];
      for await (const e of fileEntries(store, decoder, manifest)) out.push(e);
      return out;
    };
    expect((await refusal(read())).message).toContain('is not a file-list segment key');
    const real = buildManifest(sealed, [await writeSegment(store, encoder, [dirLine])], 1);
    const out: unknown[] = [];
    for await (const e of fileEntries(store, decoder, real)) out.push(e);
    expect(out).toHaveLength(1);
  });

  it('an encrypted repository never opens a plaintext manifest: staging/ is stored unsealed, and refused', async () => {
    const inner = new MemoryObjectStore();
    const store = new EncryptedObjectStore(inner, RepositoryKeys.derive(Buffer.alloc(32, 7), Buffer.alloc(16, 1)));
    const content = Buffer.from(JSON.stringify(buildManifest(sealed, [], 0)));
    // A publisher's s3:PutObject on staging/* is enough to place this: no key needed.
    const staged = await placed(inner, `staging/src/${sha256Hex(content)}`, content);
    expect((await refusal(readManifest(store, decoder, staged))).message).toContain('refused');
    expect((await refusal(readChangeBatchManifest(store, decoder, staged))).message).toContain('refused');
    // Under its own name a plaintext object does not authenticate either.
    const bare = await placed(inner, `snapshots/${ID}.json`, content);
    expect((await refusal(readManifest(store, decoder, bare))).code).toBe('OBJECT_DECRYPT_FAILED');
  });
});
