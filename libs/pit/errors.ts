import { BackstreamError } from '../errors';

/**
 * A version could not be restored byte-identical: a block of its payload is missing or
 * corrupt, or the joined payload does not hash to what the version says. Names the
 * source, the key and, when one block is at fault, the block.
 */
export class PitError extends BackstreamError {
  constructor(
    readonly source: string,
    readonly key: string,
    message: string,
    readonly blockKey?: string,
    options: { cause?: unknown; code?: 'BLOCK_CORRUPT' | 'BLOCK_MISSING' } = {},
  ) {
    super(options.code ?? 'BLOCK_CORRUPT', message, { retriable: false, cause: options.cause });
  }
}
