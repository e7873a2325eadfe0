import { BackstreamError, type ErrorCode } from '../errors';

/** A file could not be restored byte-identical, or not safely; names the file and, when known, the block. */
export class RestoreError extends BackstreamError {
  constructor(
    readonly path: string,
    message: string,
    readonly blockKey?: string,
    options: { cause?: unknown; code?: Extract<ErrorCode, 'BLOCK_CORRUPT' | 'BLOCK_MISSING' | 'TARGET_UNSAFE'> } = {},
  ) {
    super(options.code ?? 'BLOCK_CORRUPT', message, { retriable: false, cause: options.cause });
  }
}
