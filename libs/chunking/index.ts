/**
 * Content-defined chunking: files are cut where their content says (FastCDC), not at fixed
 * offsets, so an insertion near the start of a file changes one or two chunks instead of
 * all that follow; each chunk is addressed by its SHA-256 for deduplication.
 */

/** Streams a byte source into hashed chunks with bounded memory: what the producer uses. */
export { chunkStream } from './chunk-stream';
export type { Chunk, ChunkStreamOptions } from './chunk-stream';

/**
 * The FastCDC cut rule itself: a resumable cut-point finder, a pure one-buffer variant, and
 * the validation and masks of the size bounds. Lower level than chunkStream; for
 * benchmarks, tools and anything that must cut without hashing.
 */
export {
  FastCdcChunker,
  findCutPoint,
  cutPoints,
  validateChunkingParams,
  chunkingMasks,
  NORMALIZATION_LEVEL,
  MIN_AVG_SIZE,
  MAX_AVG_SIZE,
  MAX_MAX_SIZE,
} from './fastcdc';
export type { ChunkingParams } from './fastcdc';

/**
 * The keyed gear table the rolling hash uses: one per repository key (or the built-in
 * key), derived once and passed to the chunker, so chunk sizes do not reveal content to
 * whoever lacks the key.
 */
export { GearTable, createGearTable, defaultGearTable, GEAR_KEY_LENGTH } from './gear';
