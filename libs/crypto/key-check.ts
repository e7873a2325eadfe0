import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { ObjectNotFoundError, type ObjectStore } from '../store';
import { RepositoryKeyError, RepositoryKeysInvalidError } from './errors';
import { REPOSITORY_ID_BYTES, RepositoryKeys } from './repository-keys';

/**
 * keys/repository.json marks a repository as encrypted and holds what a master key needs to
 * open it: the repository id (the HKDF salt of every derived key) and a check value that
 * tells a wrong key from a right one before anything is read or written. It is plaintext
 * and holds nothing secret. Losing it loses the repository id, and so every object, even
 * with the master key: it should be under Object Lock and copied with the key.
 */
export const KEY_CHECK_OBJECT = 'keys/repository.json';
/** The key-check object is a few hundred bytes; a larger one is refused unread. */
const KEY_CHECK_MAX_BYTES = 64 * 1024;

/**
 * Where a repository's data lives (libs/store/keys.ts; change-batch manifests are under
 * snapshots/ too). Objects here without a key-check object mean an unencrypted repository.
 * ledger/ and staging/ are never encrypted, so they say nothing either way.
 */
export const DATA_PREFIXES = ['blocks/', 'filelists/', 'snapshots/'] as const;

const keyCheckSchema = z.strictObject({
  format: z.literal('backstream-keys'),
  version: z.literal(1),
  repositoryId: z.string().regex(new RegExp(`^[0-9a-f]{${REPOSITORY_ID_BYTES * 2}}$`), 'must be 32 hex digits'),
  kdf: z.literal('hkdf-sha256'),
  cipher: z.literal('aes-256-gcm'),
  check: z.string().regex(/^[A-Za-z0-9+/]{43}=$/, 'must be base64 of 32 bytes'),
});
export type KeyCheckObject = z.infer<typeof keyCheckSchema>;

export type OpenedRepository = { encrypted: false } | { encrypted: true; keys: RepositoryKeys };

/**
 * Decides, once per process, whether the repository behind `store` (the underlying store,
 * not an EncryptedObjectStore) is encrypted, and checks the master key against it:
 *   key-check object and key: the keys, or WRONG_KEY;   key-check object, no key: ENCRYPTION_KEY_REQUIRED;
 *   no key-check object, key: ENCRYPTION_NOT_INITIALISED; neither: { encrypted: false }.
 */
export async function openRepository(store: ObjectStore, masterKey: Buffer | undefined): Promise<OpenedRepository> {
  const stored = await readKeyCheckObject(store);
  if (stored === undefined) {
    if (masterKey === undefined) return { encrypted: false };
    throw new RepositoryKeyError(
      'ENCRYPTION_NOT_INITIALISED',
      `a master key is set but the repository is not encrypted (no ${KEY_CHECK_OBJECT})`,
      { hint: 'run `backstream init` with the key to encrypt a new repository, or unset the key' },
    );
  }
  if (masterKey === undefined) {
    throw new RepositoryKeyError(
      'ENCRYPTION_KEY_REQUIRED',
      'the repository is encrypted: set encryption.masterKey or encryption.masterKeyFile',
    );
  }
  return { encrypted: true, keys: verifiedKeys(stored, masterKey) };
}

/**
 * `backstream init` with a master key: makes the repository encrypted by writing its
 * key-check object (create-only, so two concurrent inits agree on one repository id), or
 * checks the key against the one already there. Refuses a repository that already holds
 * data but no key-check object: new ciphertext beside old plaintext would go unnoticed.
 * `store` is the underlying store.
 */
export async function initRepositoryKeys(store: ObjectStore, masterKey: Buffer): Promise<'created' | 'exists'> {
  const existing = await readKeyCheckObject(store);
  if (existing !== undefined) {
    verifiedKeys(existing, masterKey);
    return 'exists';
  }
  for (const prefix of DATA_PREFIXES) {
    const first = await firstObject(store, prefix);
    if (first !== undefined) {
      throw new RepositoryKeyError(
        'REPOSITORY_NOT_EMPTY',
        `cannot encrypt a repository that already holds data without ${KEY_CHECK_OBJECT} (found ${first}): unencrypted data, or an encrypted repository whose ${KEY_CHECK_OBJECT} was lost`,
        { hint: 'use a new bucket or s3.prefix for an encrypted repository, or unset the master key' },
      );
    }
  }
  const keys = RepositoryKeys.derive(masterKey, randomBytes(REPOSITORY_ID_BYTES));
  const object: KeyCheckObject = {
    format: 'backstream-keys',
    version: 1,
    repositoryId: keys.repositoryId,
    kdf: 'hkdf-sha256',
    cipher: 'aes-256-gcm',
    check: keys.keyCheck(),
  };
  const { created } = await store.put(KEY_CHECK_OBJECT, Buffer.from(JSON.stringify(object, null, 2) + '\n'), {
    ifNoneMatch: true,
  });
  if (created) return 'created';
  // Another init won the race: its repository id stands; the key must match it.
  const winner = await readKeyCheckObject(store);
  if (winner === undefined) throw new RepositoryKeysInvalidError(`${KEY_CHECK_OBJECT} vanished during init`);
  verifiedKeys(winner, masterKey);
  return 'exists';
}

/** The key-check object, undefined when there is none; RepositoryKeysInvalidError when unreadable. */
export async function readKeyCheckObject(store: ObjectStore): Promise<KeyCheckObject | undefined> {
  let body: Buffer;
  try {
    body = await store.get(KEY_CHECK_OBJECT, { maxBytes: KEY_CHECK_MAX_BYTES });
  } catch (err) {
    if (err instanceof ObjectNotFoundError) return undefined;
    throw err;
  }
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new RepositoryKeysInvalidError(`${KEY_CHECK_OBJECT} is not JSON`, { cause: err });
  }
  const version = (json as { version?: unknown } | null)?.version;
  if ((json as { format?: unknown } | null)?.format === 'backstream-keys' && version !== 1) {
    throw new RepositoryKeysInvalidError(
      `${KEY_CHECK_OBJECT} has version ${JSON.stringify(version)}, this backstream reads version 1 (a newer backstream wrote it?)`,
    );
  }
  const parsed = keyCheckSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue && issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
    throw new RepositoryKeysInvalidError(
      `${KEY_CHECK_OBJECT} is not a backstream key-check object: ${where}${issue?.message ?? 'invalid'}`,
    );
  }
  return parsed.data;
}

function verifiedKeys(stored: KeyCheckObject, masterKey: Buffer): RepositoryKeys {
  const keys = RepositoryKeys.derive(masterKey, Buffer.from(stored.repositoryId, 'hex'));
  if (!keys.matchesKeyCheck(stored.check)) {
    throw new RepositoryKeyError('WRONG_KEY', 'the master key does not match this repository', {
      hint: `check encryption.masterKey or encryption.masterKeyFile (repository ${stored.repositoryId})`,
    });
  }
  return keys;
}

async function firstObject(store: ObjectStore, prefix: string): Promise<string | undefined> {
  for await (const o of store.list(prefix)) return o.key;
  return undefined;
}
