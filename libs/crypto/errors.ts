import { BackstreamError, BlockError, ConfigError } from '../errors';

/**
 * The master key does not fit the repository (missing, wrong, not initialised, or the
 * repository holds unencrypted data). A ConfigError, so the CLI exits 2: the fix is a
 * setting, and no retry can succeed.
 */
export class RepositoryKeyError extends ConfigError {
  constructor(
    code: 'ENCRYPTION_KEY_REQUIRED' | 'WRONG_KEY' | 'ENCRYPTION_NOT_INITIALISED' | 'REPOSITORY_NOT_EMPTY',
    message: string,
    options: { hint?: string } = {},
  ) {
    super(message, { key: 'encryption.masterKey', code, hint: options.hint });
  }
}

/**
 * keys/repository.json exists but is not a key-check object this version understands:
 * damaged data, not a setting (exit 1). Never retriable.
 */
export class RepositoryKeysInvalidError extends BackstreamError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('REPOSITORY_KEYS_INVALID', message, {
      retriable: false,
      hint: 'restore keys/repository.json from a copy: without its repository id no object can be decrypted',
      cause: options.cause,
    });
  }
}

/**
 * A sealed object does not open: altered, truncated, stored under another name, or not an
 * encrypted object at all. A BlockError, so readers that already treat a corrupt block as
 * corrupt (restore, point-in-time reads, readContentObject callers) name it the same way.
 */
export class ObjectDecryptError extends BlockError {
  constructor(key: string, reason: string, options: { cause?: unknown } = {}) {
    super('OBJECT_DECRYPT_FAILED', key, `object ${key} cannot be decrypted: ${reason}`, options);
  }
}
