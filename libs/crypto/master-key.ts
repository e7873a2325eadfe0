import { randomBytes } from 'node:crypto';
import type { BackstreamConfig } from '../config';
import { ConfigError } from '../errors';
import { readKeyFile, type ReadFile } from './key-file';

/** Length in bytes of a repository master key. */
export const MASTER_KEY_BYTES = 32;

const SETTING = {
  inline: 'encryption.masterKey (BACKSTREAM_ENCRYPTION_MASTER_KEY)',
  file: 'encryption.masterKeyFile (BACKSTREAM_ENCRYPTION_MASTER_KEY_FILE)',
} as const;

const FORM = `must be ${MASTER_KEY_BYTES} bytes as 64 hex digits or base64 (44 characters)`;
const GENERATE_HINT = 'generate one with `backstream key generate`';

/**
 * The repository master key of the encryption settings, or undefined when both are empty
 * (an unencrypted repository). Accepts 64 hex digits or base64 of 32 bytes, surrounding
 * whitespace ignored, inline or as the whole content of masterKeyFile. Every error names
 * the setting and never the key text (it ends up in logs and terminals).
 */
export function loadMasterKey(settings: BackstreamConfig['encryption'], readFile?: ReadFile): Buffer | undefined {
  const { masterKey, masterKeyFile } = settings;
  if (masterKey !== '' && masterKeyFile !== '') {
    throw new ConfigError(`${SETTING.inline} and ${SETTING.file} are both set`, {
      key: 'encryption.masterKey',
      hint: 'set only one of them',
    });
  }
  if (masterKey !== '') {
    return parseMasterKey(masterKey, (why) => `invalid setting ${SETTING.inline}: ${why}`, 'encryption.masterKey');
  }
  if (masterKeyFile === '') return undefined;
  const text = readKeyFile(masterKeyFile, 'encryption.masterKeyFile', readFile);
  return parseMasterKey(
    text,
    (why) => `invalid setting ${SETTING.file}: the content of ${masterKeyFile} ${why}`,
    'encryption.masterKeyFile',
  );
}

/** 32 fresh random bytes as base64, the form `backstream key generate` prints. */
export function generateMasterKey(): string {
  return randomBytes(MASTER_KEY_BYTES).toString('base64');
}

function parseMasterKey(raw: string, message: (why: string) => string, key: string): Buffer {
  const text = raw.trim();
  const bytes = decodeKeyText(text);
  if (bytes === undefined) {
    throw new ConfigError(message(`${FORM}; it has ${text.length} characters (not shown)`), {
      key,
      hint: GENERATE_HINT,
    });
  }
  // A placeholder, not a secret: refuse it rather than encrypt under a key everyone knows.
  if (bytes.every((b) => b === 0)) {
    throw new ConfigError(message('is all zeros, which is no secret'), { key, hint: GENERATE_HINT });
  }
  return bytes;
}

/**
 * 32 bytes written as 64 hex digits or canonical base64 (standard or URL-safe, padding
 * optional); undefined for anything else. The one reader of key text: master keys and the
 * ledger's raw Ed25519 keys.
 */
export function decodeKeyText(text: string): Buffer | undefined {
  if (/^[0-9a-fA-F]{64}$/.test(text)) return Buffer.from(text, 'hex');
  // Standard or URL-safe alphabet, padding optional. Buffer.from(…, 'base64') skips
  // characters it does not know, so the form is checked first and the decoding re-encoded:
  // only the canonical text of 32 bytes is a key.
  if (!/^[A-Za-z0-9+/_-]{43}=?$/.test(text)) return undefined;
  const standard = text.replace(/-/g, '+').replace(/_/g, '/').replace(/=$/, '');
  const bytes = Buffer.from(standard, 'base64');
  if (bytes.length !== MASTER_KEY_BYTES || bytes.toString('base64').replace(/=$/, '') !== standard) return undefined;
  return bytes;
}
