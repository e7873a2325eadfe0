import {
  ObjectNotFoundError,
  StoreError,
  type GetOptions,
  type ObjectInfo,
  type ObjectStore,
  type PutOptions,
} from '../store';
import { ENVELOPE_OVERHEAD } from './envelope';
import type { RepositoryKeys } from './repository-keys';

/**
 * Prefixes stored as they are, name and bytes:
 *   keys/     the key-check object, read before any key is known;
 *   ledger/   the ledger mirror: public, signed records auditors read without the key;
 *   staging/  claim-check payloads of change publishers, which hold no key (they need only
 *             s3:PutObject on staging/*) and are read by the ingest straight from S3
 *             (libs/ingest S3StagedObjects), not through an ObjectStore. They stay
 *             plaintext until the staging/ lifecycle rule expires them.
 */
export const PLAINTEXT_PREFIXES = ['keys/', 'ledger/', 'staging/'] as const;

/**
 * Content addresses whose names are the plaintext's SHA-256 (libs/store/keys.ts); stored
 * under HMAC names instead. Snapshot manifests are named by snapshot id (random) and keep
 * their names.
 */
const RENAMED = [
  { prefix: 'blocks/', pattern: /^blocks\/([0-9a-f]{2})\/([0-9a-f]{64})$/, form: 'blocks/<aa>/<sha256>' },
  { prefix: 'filelists/', pattern: /^filelists\/()([0-9a-f]{64})$/, form: 'filelists/<sha256>' },
] as const;

/**
 * An ObjectStore that encrypts a repository at rest, over any ObjectStore (S3, memory).
 * Callers keep using logical keys (blockKey(hash), fileListKey(sha256), …); this store
 *   - renames content addresses: blocks/<aa>/<sha256> → blocks/<hmac[0..2]>/<hmac>,
 *     filelists/<sha256> → filelists/<hmac>, hmac = keys.objectName(sha256);
 *   - seals every body (envelope.ts, bound to the logical key) except under PLAINTEXT_PREFIXES;
 *   - reports sizes as stored (envelope included: ENVELOPE_OVERHEAD bytes more than put).
 * Create-only puts keep their meaning: one logical key always maps to one stored name.
 *
 * list(): HMAC names cannot be mapped back to logical keys, so listing a prefix that
 * covers blocks/ or filelists/ (including '') throws a non-retriable StoreError; other
 * prefixes are listed unchanged (their names are not renamed). Nothing in libs or services
 * lists; a future check or garbage collector can list the underlying store and compare the
 * names with storedKey() of the keys it references.
 */
export class EncryptedObjectStore implements ObjectStore {
  constructor(
    private readonly inner: ObjectStore,
    private readonly keys: RepositoryKeys,
  ) {}

  /** The name under which the underlying store holds `key`. */
  storedKey(key: string): string {
    for (const { prefix, pattern, form } of RENAMED) {
      if (!key.startsWith(prefix)) continue;
      const match = pattern.exec(key);
      const hash = match?.[2];
      if (match === null || hash === undefined || (match[1] !== '' && match[1] !== hash.slice(0, 2))) {
        // Any other name here would be stored as it is, and could carry what renaming hides.
        throw new StoreError(`object key ${key} is not of the form ${form}, the only names allowed under ${prefix}`, {
          retriable: false,
        });
      }
      const name = this.keys.objectName(hash);
      return prefix === 'blocks/' ? `blocks/${name.slice(0, 2)}/${name}` : `${prefix}${name}`;
    }
    return key;
  }

  private static sealed(key: string): boolean {
    return !PLAINTEXT_PREFIXES.some((p) => key.startsWith(p));
  }

  // async throughout: a refused key rejects the promise, as a store failure would, instead of throwing.
  async put(key: string, body: Buffer, options?: PutOptions): Promise<{ created: boolean }> {
    const stored = this.storedKey(key);
    return await this.inner.put(stored, EncryptedObjectStore.sealed(key) ? this.keys.seal(key, body) : body, options);
  }

  /** options.maxBytes bounds the plaintext: the sealed object may be ENVELOPE_OVERHEAD bytes more. */
  async get(key: string, options: GetOptions = {}): Promise<Buffer> {
    const sealed = EncryptedObjectStore.sealed(key);
    const { maxBytes } = options;
    let body: Buffer;
    try {
      body = await this.inner.get(
        this.storedKey(key),
        sealed && maxBytes !== undefined ? { maxBytes: maxBytes + ENVELOPE_OVERHEAD } : options,
      );
    } catch (err) {
      // Callers name objects by their logical keys (restore: "block … is missing").
      if (err instanceof ObjectNotFoundError) throw new ObjectNotFoundError(key);
      throw err;
    }
    return sealed ? this.keys.open(key, body) : body;
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    const info = await this.inner.head(this.storedKey(key));
    return info && { ...info, key };
  }

  async delete(key: string): Promise<void> {
    await this.inner.delete(this.storedKey(key));
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    const renamed = RENAMED.find((r) => r.prefix.startsWith(prefix) || prefix.startsWith(r.prefix));
    if (renamed) {
      throw new StoreError(
        `cannot list ${prefix === '' ? 'the whole repository' : prefix} through the encrypted store: names under ${renamed.prefix} are keyed hashes that do not map back to logical keys`,
        { retriable: false },
      );
    }
    yield* this.inner.list(prefix);
  }

  async keepLocked(info: ObjectInfo): Promise<void> {
    await this.inner.keepLocked({ ...info, key: this.storedKey(info.key) });
  }
}
