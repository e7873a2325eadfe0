import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto';
import type { BackstreamConfig } from '../config';
import { decodeKeyText, readKeyFile, type ReadFile } from '../crypto';
import { ConfigError } from '../errors';

// DER prefixes that turn a raw 32-byte Ed25519 seed / public key into PKCS#8 / SPKI (RFC 8410).
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

function rawPublicKey(key: KeyObject): Buffer {
  return key.export({ format: 'der', type: 'spki' }).subarray(SPKI_PREFIX.length);
}

/** The key id auditors see: the first 8 bytes of the SHA-256 of the raw public key, hex. */
export function keyIdOf(publicKey: KeyObject): string {
  return createHash('sha256').update(rawPublicKey(publicKey)).digest('hex').slice(0, 16);
}

/** Checks Ed25519 signatures made by the ledger sequencer. */
export class LedgerVerifyingKey {
  readonly keyId: string;

  constructor(readonly key: KeyObject) {
    this.keyId = keyIdOf(key);
  }

  /** The raw 32-byte public key, base64: what `ledger keygen` prints for auditors. */
  get base64(): string {
    return rawPublicKey(this.key).toString('base64');
  }

  verify(data: Buffer, signatureBase64: string | undefined): boolean {
    if (signatureBase64 === undefined) return false;
    const signature = Buffer.from(signatureBase64, 'base64');
    if (signature.length !== 64 || signature.toString('base64') !== signatureBase64) return false;
    return verify(null, data, this.key, signature);
  }

  /** Parses SPKI PEM or 32 raw bytes as hex or base64; `what` names the setting in errors. */
  static parse(text: string, what: string): LedgerVerifyingKey {
    const trimmed = text.trim();
    if (trimmed.includes('PRIVATE KEY')) {
      // Never take a secret for the public key: it would be shown by config dumps and handed to auditors.
      throw new ConfigError(
        `${what} holds a private key; give the public key (\`backstream ledger keygen\` prints it)`,
      );
    }
    const raw = decodeKeyText(trimmed);
    let key: KeyObject;
    try {
      key = raw
        ? createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: 'der', type: 'spki' })
        : createPublicKey(trimmed);
    } catch {
      // Not the parser's message: what it quotes of the text could be a private key put in the wrong place.
      throw new ConfigError(`${what} is not an Ed25519 public key (SPKI PEM, or 32 bytes as hex or base64)`);
    }
    if (key.asymmetricKeyType !== 'ed25519') {
      throw new ConfigError(
        `${what} is not an Ed25519 public key (SPKI PEM, or 32 bytes as hex or base64): it is a ${key.asymmetricKeyType} key`,
      );
    }
    return new LedgerVerifyingKey(key);
  }
}

/** Signs ledger records and checkpoints. Ed25519 signatures are deterministic: a replay signs the same bytes the same way. */
export class LedgerSigningKey {
  readonly verifying: LedgerVerifyingKey;

  constructor(private readonly key: KeyObject) {
    this.verifying = new LedgerVerifyingKey(createPublicKey(key));
  }

  sign(data: Buffer): string {
    return sign(null, data, this.key).toString('base64');
  }

  /** The 32-byte seed, base64: the form `ledger keygen` prints. */
  exportSeed(): string {
    return this.key.export({ format: 'der', type: 'pkcs8' }).subarray(PKCS8_PREFIX.length).toString('base64');
  }

  static generate(): LedgerSigningKey {
    return new LedgerSigningKey(generateKeyPairSync('ed25519').privateKey);
  }

  /** Parses PKCS#8 PEM or a 32-byte seed as hex or base64. The error never echoes the key. */
  static parse(text: string, what: string): LedgerSigningKey {
    const trimmed = text.trim();
    const raw = decodeKeyText(trimmed);
    let key: KeyObject;
    try {
      key = raw
        ? createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, raw]), format: 'der', type: 'pkcs8' })
        : createPrivateKey(trimmed);
    } catch {
      throw new ConfigError(`${what} is not an Ed25519 private key (PKCS#8 PEM, or a 32-byte seed as hex or base64)`);
    }
    if (key.asymmetricKeyType !== 'ed25519') {
      throw new ConfigError(`${what} is a ${key.asymmetricKeyType} key; the ledger needs an Ed25519 key`);
    }
    return new LedgerSigningKey(key);
  }
}

/** A setting given inline or as a file (a mounted secret), never both. */
function inlineOrFile(
  inline: string,
  file: string,
  names: [string, string],
  read: ReadFile | undefined,
): { text: string; what: string } | undefined {
  if (inline !== '' && file !== '') throw new ConfigError(`set ${names[0]} or ${names[1]}, not both`);
  if (inline !== '') return { text: inline, what: names[0] };
  if (file === '') return undefined;
  return { text: readKeyFile(file, names[1], read), what: `${names[1]} (${file})` };
}

/** The signing key from config; undefined when none is set. */
export function loadSigningKey(config: BackstreamConfig['ledger'], read?: ReadFile): LedgerSigningKey | undefined {
  const found = inlineOrFile(
    config.signingKey,
    config.signingKeyFile,
    ['ledger.signingKey', 'ledger.signingKeyFile'],
    read,
  );
  return found && LedgerSigningKey.parse(found.text, found.what);
}

/**
 * The key signatures are checked against: ledger.publicKey(File), or the public half of
 * the signing key. Undefined when neither is set.
 */
export function loadVerifyingKey(config: BackstreamConfig['ledger'], read?: ReadFile): LedgerVerifyingKey | undefined {
  const found = inlineOrFile(
    config.publicKey,
    config.publicKeyFile,
    ['ledger.publicKey', 'ledger.publicKeyFile'],
    read,
  );
  if (found) return LedgerVerifyingKey.parse(found.text, found.what);
  return loadSigningKey(config, read)?.verifying;
}
