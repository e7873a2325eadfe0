import { BackstreamError, BlockError } from '../errors';

export class ObjectNotFoundError extends BackstreamError {
  readonly key: string;
  constructor(key: string) {
    super('BLOCK_MISSING', `object ${key} does not exist`, { retriable: false });
    this.key = key;
  }
}

/**
 * An object larger than its reader expects (GetOptions.maxBytes): corrupt or planted, and
 * never buffered whole. A BlockError BLOCK_CORRUPT, so readers of blocks report it as they
 * report a block that does not decode.
 */
export class ObjectTooLargeError extends BlockError {
  constructor(key: string, maxBytes: number) {
    super('BLOCK_CORRUPT', key, `object ${key} is larger than the ${maxBytes} bytes its reader expects`);
  }
}

/** The store refused or failed a request; retriable when the failure is the server's or the network's. */
export class StoreError extends BackstreamError {
  constructor(message: string, options: { retriable: boolean; cause?: unknown }) {
    super(options.retriable ? 'STORE_UNAVAILABLE' : 'STORE_REJECTED', message, options);
  }
}

/** The HTTP status of an AWS SDK error, if the request got an answer. */
export function httpStatusOf(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
}
