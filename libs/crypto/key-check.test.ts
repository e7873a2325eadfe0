import { BackstreamError, ConfigError } from '../errors';
import { MemoryObjectStore } from '../store';
import { RepositoryKeyError, RepositoryKeysInvalidError } from './errors';
import { KEY_CHECK_OBJECT, initRepositoryKeys, openRepository } from './key-check';
import { RepositoryKeys } from './repository-keys';

const KEY = Buffer.alloc(32, 0x11);
const OTHER_KEY = Buffer.alloc(32, 0x22);

async function rejection(work: Promise<unknown>): Promise<BackstreamError> {
  try {
    await work;
  } catch (err) {
    expect(err).toBeInstanceOf(BackstreamError);
    expect((err as BackstreamError).retriable).toBe(false);
    return err as BackstreamError;
  }
  throw new Error('expected a rejection');
}

/** A key error: a ConfigError (CLI exit 2) with this code. */
async function keyError(work: Promise<unknown>, code: string): Promise<RepositoryKeyError> {
  const err = await rejection(work);
  expect(err).toBeInstanceOf(RepositoryKeyError);
  expect(err).toBeInstanceOf(ConfigError);
  expect(err.code).toBe(code);
  return err as RepositoryKeyError;
}

function storedKeyObject(store: MemoryObjectStore): Record<string, unknown> {
  return JSON.parse(store.objects.get(KEY_CHECK_OBJECT)!.toString('utf8')) as Record<string, unknown>;
}

describe('openRepository', () => {
  it('an empty repository without a key is unencrypted', async () => {
    await expect(openRepository(new MemoryObjectStore(), undefined)).resolves.toEqual({ encrypted: false });
  });

  it('a key on a repository never initialised for it: ENCRYPTION_NOT_INITIALISED', async () => {
    const err = await keyError(openRepository(new MemoryObjectStore(), KEY), 'ENCRYPTION_NOT_INITIALISED');
    expect(err.hint).toContain('backstream init');
  });

  it('opens an initialised repository with its key', async () => {
    const store = new MemoryObjectStore();
    await expect(initRepositoryKeys(store, KEY)).resolves.toBe('created');
    const opened = await openRepository(store, KEY);
    expect(opened.encrypted).toBe(true);
    if (!opened.encrypted) throw new Error('unreachable');
    expect(opened.keys.repositoryId).toBe(storedKeyObject(store).repositoryId);
  });

  it('no key on an encrypted repository: ENCRYPTION_KEY_REQUIRED', async () => {
    const store = new MemoryObjectStore();
    await initRepositoryKeys(store, KEY);
    const err = await keyError(openRepository(store, undefined), 'ENCRYPTION_KEY_REQUIRED');
    expect(err.message).toBe('the repository is encrypted: set encryption.masterKey or encryption.masterKeyFile');
  });

  it('another key: WRONG_KEY', async () => {
    const store = new MemoryObjectStore();
    await initRepositoryKeys(store, KEY);
    const err = await keyError(openRepository(store, OTHER_KEY), 'WRONG_KEY');
    expect(err.message).toBe('the master key does not match this repository');
  });

  it('a key-check object whose repository id was changed: WRONG_KEY', async () => {
    const store = new MemoryObjectStore();
    await initRepositoryKeys(store, KEY);
    const object = storedKeyObject(store);
    object.repositoryId = 'ff'.repeat(16);
    store.objects.set(KEY_CHECK_OBJECT, Buffer.from(JSON.stringify(object)));
    await keyError(openRepository(store, KEY), 'WRONG_KEY');
  });

  it.each<[string, (o: Record<string, unknown>) => unknown, RegExp]>([
    ['not JSON', () => undefined, /is not JSON/],
    ['JSON null', () => null, /not a backstream key-check object/],
    ['a missing check', (o) => ({ ...o, check: undefined }), /check/],
    ['a check that is not base64 of 32 bytes', (o) => ({ ...o, check: 'AAAA' }), /check: must be base64 of 32 bytes/],
    ['a short repository id', (o) => ({ ...o, repositoryId: 'abcd' }), /repositoryId: must be 32 hex digits/],
    ['another cipher', (o) => ({ ...o, cipher: 'chacha20-poly1305' }), /cipher/],
    ['an unknown field', (o) => ({ ...o, extra: 1 }), /extra/],
    ['a newer version', (o) => ({ ...o, version: 2 }), /version 2, this backstream reads version 1/],
  ])('a key-check object with %s: REPOSITORY_KEYS_INVALID (not a setting: exit 1)', async (_what, edit, message) => {
    const store = new MemoryObjectStore();
    await initRepositoryKeys(store, KEY);
    const edited = edit(storedKeyObject(store));
    store.objects.set(
      KEY_CHECK_OBJECT,
      Buffer.from(edited === undefined ? '{"format": "backstream-keys",' : JSON.stringify(edited)),
    );
    for (const key of [KEY, undefined]) {
      const err = await rejection(openRepository(store, key));
      expect(err).toBeInstanceOf(RepositoryKeysInvalidError);
      expect(err).not.toBeInstanceOf(ConfigError);
      expect(err.code).toBe('REPOSITORY_KEYS_INVALID');
      expect(err.message).toMatch(message);
    }
  });
});

describe('initRepositoryKeys', () => {
  it('writes the documented plaintext key-check object', async () => {
    const store = new MemoryObjectStore();
    await initRepositoryKeys(store, KEY);
    const object = storedKeyObject(store);
    expect(Object.keys(object)).toEqual(['format', 'version', 'repositoryId', 'kdf', 'cipher', 'check']);
    expect(object).toMatchObject({ format: 'backstream-keys', version: 1, kdf: 'hkdf-sha256', cipher: 'aes-256-gcm' });
    expect(object.repositoryId).toMatch(/^[0-9a-f]{32}$/);
    const keys = RepositoryKeys.derive(KEY, Buffer.from(object.repositoryId as string, 'hex'));
    expect(object.check).toBe(keys.keyCheck());
  });

  it('is idempotent with the same key and refuses another', async () => {
    const store = new MemoryObjectStore();
    await initRepositoryKeys(store, KEY);
    const before = store.objects.get(KEY_CHECK_OBJECT);
    await expect(initRepositoryKeys(store, KEY)).resolves.toBe('exists');
    await keyError(initRepositoryKeys(store, OTHER_KEY), 'WRONG_KEY');
    expect(store.objects.get(KEY_CHECK_OBJECT)).toEqual(before);
  });

  it('gives every repository its own id, even under one master key', async () => {
    const a = new MemoryObjectStore();
    const b = new MemoryObjectStore();
    await initRepositoryKeys(a, KEY);
    await initRepositoryKeys(b, KEY);
    expect(storedKeyObject(a).repositoryId).not.toBe(storedKeyObject(b).repositoryId);
  });

  it('two concurrent inits agree on one repository id; with different keys one gets WRONG_KEY', async () => {
    const store = new MemoryObjectStore();
    const results = await Promise.all([initRepositoryKeys(store, KEY), initRepositoryKeys(store, KEY)]);
    expect(results.sort()).toEqual(['created', 'exists']);

    const contested = new MemoryObjectStore();
    const settled = await Promise.allSettled([
      initRepositoryKeys(contested, KEY),
      initRepositoryKeys(contested, OTHER_KEY),
    ]);
    expect(settled.filter((s) => s.status === 'fulfilled')).toHaveLength(1);
    const failed = settled.find((s) => s.status === 'rejected');
    expect((failed as PromiseRejectedResult).reason).toMatchObject({ code: 'WRONG_KEY' });
  });

  it.each(['blocks/ab/' + 'ab'.repeat(32), 'filelists/' + 'cd'.repeat(32), 'snapshots/x.json'])(
    'refuses a repository that holds unencrypted data (%s): REPOSITORY_NOT_EMPTY',
    async (key) => {
      const store = new MemoryObjectStore();
      store.objects.set(key, Buffer.from('plaintext'));
      const err = await keyError(initRepositoryKeys(store, KEY), 'REPOSITORY_NOT_EMPTY');
      expect(err.message).toContain(key);
      expect(store.objects.has(KEY_CHECK_OBJECT)).toBe(false);
    },
  );

  it('ledger and staging objects (never encrypted) do not make a repository non-empty', async () => {
    const store = new MemoryObjectStore();
    store.objects.set('ledger/checkpoints/00000000000000000001.json', Buffer.from('{}'));
    store.objects.set('staging/crm/' + 'ef'.repeat(32), Buffer.from('payload'));
    await expect(initRepositoryKeys(store, KEY)).resolves.toBe('created');
  });

  it('an encrypted repository with data is "exists", not "not empty"', async () => {
    const store = new MemoryObjectStore();
    await initRepositoryKeys(store, KEY);
    store.objects.set('snapshots/x.json', Buffer.from('sealed'));
    await expect(initRepositoryKeys(store, KEY)).resolves.toBe('exists');
  });
});
