/**
 * The one error base class of backstream. Every error the code raises on purpose is a
 * BackstreamError: it carries a closed `code`, says whether retrying the same operation
 * can succeed (`retriable`), and may give the operator a `hint`. Retry loops ask only
 * `isRetriable(err)`; they never parse messages.
 */
export type ErrorCode =
  | 'CONFIG_INVALID'
  | 'CONFIG_FILE_UNREADABLE'
  | 'KAFKA_UNAVAILABLE'
  | 'STORE_UNAVAILABLE'
  | 'STORE_REJECTED'
  | 'EVENT_INVALID'
  | 'BLOCK_CORRUPT'
  | 'BLOCK_MISSING'
  | 'SNAPSHOT_FAILED'
  | 'SNAPSHOT_NOT_FOUND'
  | 'SOURCE_UNREADABLE'
  | 'TARGET_UNSAFE'
  | 'TIMEOUT'
  | 'ENCRYPTION_KEY_REQUIRED'
  | 'WRONG_KEY'
  | 'ENCRYPTION_NOT_INITIALISED'
  | 'REPOSITORY_NOT_EMPTY'
  | 'REPOSITORY_KEYS_INVALID'
  | 'OBJECT_DECRYPT_FAILED'
  | 'LEDGER_INCONSISTENT'
  | 'LEDGER_MIRROR_CORRUPT'
  | 'LEDGER_MIRROR_CONFLICT'
  | 'PROOF_INVALID';

/**
 * The codes of a ConfigError: CONFIG_INVALID, or a finer one when the master key does not
 * fit the repository (all exit 2 in the CLI, like any setting to fix).
 */
export type ConfigErrorCode =
  'CONFIG_INVALID' | 'ENCRYPTION_KEY_REQUIRED' | 'WRONG_KEY' | 'ENCRYPTION_NOT_INITIALISED' | 'REPOSITORY_NOT_EMPTY';

export interface BackstreamErrorOptions {
  retriable: boolean;
  hint?: string;
  cause?: unknown;
}

export class BackstreamError extends Error {
  readonly code: ErrorCode;
  readonly retriable: boolean;
  readonly hint: string | undefined;

  constructor(code: ErrorCode, message: string, options: BackstreamErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retriable = options.retriable;
    this.hint = options.hint;
  }
}

/** Invalid settings: the key, what was expected and why. Never retriable. */
export class ConfigError extends BackstreamError {
  readonly key: string | undefined;
  constructor(message: string, options: { key?: string; hint?: string; cause?: unknown; code?: ConfigErrorCode } = {}) {
    super(options.code ?? 'CONFIG_INVALID', message, { retriable: false, hint: options.hint, cause: options.cause });
    this.key = options.key;
  }
}

/** A dependency (broker, object store) did not answer in time or refused the connection. */
export class UnavailableError extends BackstreamError {
  constructor(
    code: 'KAFKA_UNAVAILABLE' | 'STORE_UNAVAILABLE',
    message: string,
    options: { hint?: string; cause?: unknown } = {},
  ) {
    super(code, message, { retriable: true, hint: options.hint, cause: options.cause });
  }
}

/** A message that cannot be decoded or violates its contract: it goes to the dead-letter topic. */
export class InvalidEventError extends BackstreamError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('EVENT_INVALID', message, { retriable: false, cause: options.cause });
  }
}

/**
 * A stored block is absent, or does not decode to the bytes its hash names
 * (OBJECT_DECRYPT_FAILED: an encrypted object fails authentication, see libs/crypto).
 */
export class BlockError extends BackstreamError {
  readonly key: string;
  constructor(
    code: 'BLOCK_CORRUPT' | 'BLOCK_MISSING' | 'OBJECT_DECRYPT_FAILED',
    key: string,
    message: string,
    options: { cause?: unknown } = {},
  ) {
    super(code, message, { retriable: false, cause: options.cause });
    this.key = key;
  }
}

export function isRetriable(err: unknown): boolean {
  return err instanceof BackstreamError && err.retriable;
}

/** A one-line description of any thrown value, for logs and CLI output. */
export function describeError(err: unknown): string {
  if (err instanceof BackstreamError) {
    return err.hint ? `${err.message} (${err.hint})` : err.message;
  }
  if (err instanceof Error) return err.message;
  return String(err);
}

/**
 * Settles as `work` does, or rejects with `onTimeout()` if `work` has not settled within `ms`;
 * the timer never outlives the race. `work` itself is not cancelled.
 */
export async function withTimeout<T>(work: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
