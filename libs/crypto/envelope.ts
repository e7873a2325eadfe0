import { createCipheriv, createDecipheriv, hkdfSync, randomFillSync } from 'node:crypto';
import { ObjectDecryptError } from './errors';

/**
 * The envelope of an encrypted object:
 *   "BSE" | version 1 | algorithm (1 = AES-256-GCM) | salt (24 random bytes) | ciphertext | tag (16)
 *
 * Each object gets its own AES key and nonce, HKDF-SHA256(objectEncryptionKey, salt,
 * "backstream/v1/object-key"), so no (key, nonce) pair repeats however many objects one
 * repository holds: random 96-bit nonces under a single key would hit the birthday bound
 * (NIST caps them at 2^32 messages), 192-bit salts never do in practice.
 *
 * The additional authenticated data is the 29-byte header followed by the object's logical
 * key (UTF-8): a valid object copied or renamed to another key does not open, nor does one
 * whose header was edited.
 */
const MAGIC = Buffer.from('BSE');
const VERSION = 1;
export const ALGORITHM = { aes256gcm: 1 } as const;
const SALT_BYTES = 24;
export const HEADER_BYTES = MAGIC.length + 2 + SALT_BYTES;
const TAG_BYTES = 16;
const AES_KEY_BYTES = 32;
const NONCE_BYTES = 12;
const OBJECT_KEY_INFO = 'backstream/v1/object-key';

/** Bytes an envelope adds to the plaintext: the header and the tag (45). */
export const ENVELOPE_OVERHEAD = HEADER_BYTES + TAG_BYTES;

function objectKeyAndNonce(encryptionKey: Uint8Array, salt: Buffer): { key: Buffer; nonce: Buffer } {
  const okm = Buffer.from(hkdfSync('sha256', encryptionKey, salt, OBJECT_KEY_INFO, AES_KEY_BYTES + NONCE_BYTES));
  return { key: okm.subarray(0, AES_KEY_BYTES), nonce: okm.subarray(AES_KEY_BYTES) };
}

function additionalData(header: Buffer, logicalKey: string): Buffer {
  return Buffer.concat([header, Buffer.from(logicalKey, 'utf8')]);
}

/** Encrypts `plaintext` as the object `logicalKey`; every call gives different bytes (fresh salt). */
export function sealEnvelope(encryptionKey: Uint8Array, logicalKey: string, plaintext: Uint8Array): Buffer {
  const header = Buffer.alloc(HEADER_BYTES);
  MAGIC.copy(header, 0);
  header[MAGIC.length] = VERSION;
  header[MAGIC.length + 1] = ALGORITHM.aes256gcm;
  randomFillSync(header, MAGIC.length + 2, SALT_BYTES);
  const { key, nonce } = objectKeyAndNonce(encryptionKey, header.subarray(MAGIC.length + 2));
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(additionalData(header, logicalKey));
  const body = cipher.update(plaintext);
  const rest = cipher.final();
  return Buffer.concat([header, body, rest, cipher.getAuthTag()]);
}

/**
 * Decrypts an object sealed as `logicalKey`. Returns the plaintext only once the tag is
 * verified; anything else throws ObjectDecryptError naming the key.
 */
export function openEnvelope(encryptionKey: Uint8Array, logicalKey: string, sealed: Uint8Array): Buffer {
  const bytes = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
  if (bytes.length < ENVELOPE_OVERHEAD || !bytes.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw new ObjectDecryptError(logicalKey, 'it is not an encrypted object (no BSE envelope)');
  }
  if (bytes[MAGIC.length] !== VERSION) {
    throw new ObjectDecryptError(logicalKey, `unknown envelope version ${bytes[MAGIC.length]}`);
  }
  if (bytes[MAGIC.length + 1] !== ALGORITHM.aes256gcm) {
    throw new ObjectDecryptError(logicalKey, `unknown algorithm ${bytes[MAGIC.length + 1]}`);
  }
  const header = bytes.subarray(0, HEADER_BYTES);
  const { key, nonce } = objectKeyAndNonce(encryptionKey, header.subarray(MAGIC.length + 2));
  const decipher = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
  decipher.setAAD(additionalData(header, logicalKey));
  decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
  try {
    const body = decipher.update(bytes.subarray(HEADER_BYTES, bytes.length - TAG_BYTES));
    return Buffer.concat([body, decipher.final()]);
  } catch (err) {
    throw new ObjectDecryptError(
      logicalKey,
      'authentication failed (altered or truncated, stored under another name, or sealed with another key)',
      { cause: err },
    );
  }
}
