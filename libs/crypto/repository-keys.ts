import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import { ConfigError } from '../errors';
import { openEnvelope, sealEnvelope } from './envelope';
import { MASTER_KEY_BYTES } from './master-key';

/** Length in bytes of a repository id (the HKDF salt, stored in keys/repository.json). */
export const REPOSITORY_ID_BYTES = 16;

/** One HKDF info label per use, so no derived key ever serves two purposes. */
const INFO = {
  objectEncryption: 'backstream/v1/object-encryption',
  objectNames: 'backstream/v1/object-names',
  chunkerGear: 'backstream/v1/chunker-gear',
  keyCheck: 'backstream/v1/key-check',
} as const;

const KEY_CHECK_MESSAGE = 'backstream key check v1';

function derive(masterKey: Uint8Array, repositoryId: Uint8Array, info: string): Buffer {
  return Buffer.from(hkdfSync('sha256', masterKey, repositoryId, info, 32));
}

/**
 * The keys of one repository, derived from the master key with HKDF-SHA256 salted with the
 * repository id: two repositories under one master key share no key, object name or cut
 * point. The derived keys live in private fields, out of reach of loggers and inspect().
 */
export class RepositoryKeys {
  /** The repository id, 32 hex digits. Not secret. */
  readonly repositoryId: string;
  readonly #encryptionKey: Buffer;
  readonly #nameKey: Buffer;
  readonly #gearKey: Buffer;
  readonly #checkKey: Buffer;

  private constructor(masterKey: Uint8Array, repositoryId: Uint8Array) {
    this.repositoryId = Buffer.from(repositoryId).toString('hex');
    this.#encryptionKey = derive(masterKey, repositoryId, INFO.objectEncryption);
    this.#nameKey = derive(masterKey, repositoryId, INFO.objectNames);
    this.#gearKey = derive(masterKey, repositoryId, INFO.chunkerGear);
    this.#checkKey = derive(masterKey, repositoryId, INFO.keyCheck);
  }

  static derive(masterKey: Uint8Array, repositoryId: Uint8Array): RepositoryKeys {
    if (masterKey.length !== MASTER_KEY_BYTES) {
      throw new ConfigError(`a master key must be ${MASTER_KEY_BYTES} bytes, got ${masterKey.length}`);
    }
    if (repositoryId.length !== REPOSITORY_ID_BYTES) {
      throw new ConfigError(`a repository id must be ${REPOSITORY_ID_BYTES} bytes, got ${repositoryId.length}`);
    }
    return new RepositoryKeys(masterKey, repositoryId);
  }

  /** The 32-byte key of this repository's gear table (GearTable.fromKey); a copy. */
  get gearKey(): Buffer {
    return Buffer.from(this.#gearKey);
  }

  /**
   * The stored name of a content address: HMAC-SHA256(nameKey, hashHex) as hex. Deterministic
   * within the repository (deduplication and create-only writes still work), and no longer
   * the plaintext's SHA-256, which would let anyone who can list the bucket confirm that it
   * holds a file they know.
   */
  objectName(hashHex: string): string {
    return createHmac('sha256', this.#nameKey).update(hashHex, 'utf8').digest('hex');
  }

  seal(logicalKey: string, plaintext: Buffer): Buffer {
    return sealEnvelope(this.#encryptionKey, logicalKey, plaintext);
  }

  /** Throws ObjectDecryptError (non-retriable, naming the key) unless the object opens. */
  open(logicalKey: string, sealed: Buffer): Buffer {
    return openEnvelope(this.#encryptionKey, logicalKey, sealed);
  }

  /** The key-check value stored in keys/repository.json: base64 HMAC-SHA256(keyCheckKey, message). */
  keyCheck(): string {
    return createHmac('sha256', this.#checkKey).update(KEY_CHECK_MESSAGE, 'utf8').digest('base64');
  }

  /** Whether a stored key-check value is this key's, compared in constant time. */
  matchesKeyCheck(check: string): boolean {
    const expected = Buffer.from(this.keyCheck(), 'base64');
    const actual = Buffer.from(check, 'base64');
    return actual.length === expected.length && timingSafeEqual(actual, expected);
  }
}
