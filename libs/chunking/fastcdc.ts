/**
 * FastCDC content-defined chunking (Xia et al., USENIX ATC 2016; IEEE TPDS 2020), written
 * from the papers for backstream.
 *
 * The cut rule, which is part of the repository format (changing it changes every chunk):
 *
 * - A chunk starting at byte s is scanned byte by byte with the Gear rolling hash
 *   h = (h << 1) + gear[byte] mod 2^32, h = 0 at s. Because of the shift, h after byte p
 *   depends only on the 32 bytes ending at p (older bytes have been shifted out), so the
 *   decision below is a function of that window and of the chunk length alone.
 * - After the byte that makes the chunk length L:
 *   - L < minSize: never cut (cut-point skipping);
 *   - minSize <= L < avgSize: cut if h & maskS == 0, where maskS has log2(avgSize) + 2 one-bits;
 *   - avgSize <= L < maxSize: cut if h & maskL == 0, where maskL has log2(avgSize) - 2 one-bits;
 *   - L == maxSize: cut.
 *   This is normalized chunking, level 2: the harder mask before the normal size and the
 *   easier one after it pull chunk sizes towards avgSize.
 * - The masks are the top bits of the hash below bit 31 (bits 30, 29, …): the high bits
 *   depend on the most bytes, and leaving bit 31 out lets the loop roll two bytes a step
 *   with pre-shifted tables (TPDS 2020) without changing the rule.
 * - The last chunk of the input ends where the input ends, whatever its length.
 *
 * On random data chunks average about 1.2 × avgSize with minSize = avgSize / 2, and about
 * 1.15 × avgSize with minSize = avgSize / 4.
 */
import { ConfigError } from '../errors';
import { defaultGearTable, type GearTable } from './gear';

/** Chunk size bounds, as in the `chunking` section of the configuration. */
export interface ChunkingParams {
  readonly minSize: number;
  readonly avgSize: number;
  readonly maxSize: number;
}

/** Normalization level: the masks have log2(avgSize) ± this many one-bits. */
export const NORMALIZATION_LEVEL = 2;
/** Smallest accepted avgSize. */
export const MIN_AVG_SIZE = 64;
/** Largest accepted avgSize: maskS needs log2(avgSize) + 2 <= 31 bits. */
export const MAX_AVG_SIZE = 2 ** 29;
/** Largest accepted maxSize: a chunk is held in memory whole and travels as one event. */
export const MAX_MAX_SIZE = 2 ** 30;

/** Bytes of the gear hash window: the hash after byte p depends on bytes p-31..p only. */
const WINDOW = 32;

/**
 * Checks chunk size bounds and returns them (a frozen copy). Throws ConfigError naming
 * the setting when they are not integers with 1 <= minSize < avgSize < maxSize, avgSize a
 * power of two in [64 B, 512 MiB], maxSize at most 1 GiB.
 */
export function validateChunkingParams(params: ChunkingParams): ChunkingParams {
  const { minSize, avgSize, maxSize } = params;
  for (const [name, value] of [
    ['minSize', minSize],
    ['avgSize', avgSize],
    ['maxSize', maxSize],
  ] as const) {
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new ConfigError(`invalid chunking.${name}: must be a positive integer byte count, got ${String(value)}`, {
        key: `chunking.${name}`,
      });
    }
  }
  if (!(minSize < avgSize && avgSize < maxSize)) {
    throw new ConfigError(
      `invalid chunking sizes: need chunking.minSize < chunking.avgSize < chunking.maxSize, got ${minSize} / ${avgSize} / ${maxSize}`,
      { key: 'chunking.avgSize' },
    );
  }
  if (!Number.isInteger(Math.log2(avgSize)) || avgSize < MIN_AVG_SIZE || avgSize > MAX_AVG_SIZE) {
    throw new ConfigError(
      `invalid chunking.avgSize: must be a power of two from ${MIN_AVG_SIZE} B to ${MAX_AVG_SIZE / 2 ** 20} MiB, got ${avgSize}`,
      { key: 'chunking.avgSize' },
    );
  }
  if (maxSize > MAX_MAX_SIZE) {
    throw new ConfigError(`invalid chunking.maxSize: must be at most ${MAX_MAX_SIZE / 2 ** 20} MiB, got ${maxSize}`, {
      key: 'chunking.maxSize',
    });
  }
  return Object.freeze({ minSize, avgSize, maxSize });
}

/** `bits` one-bits ending at bit 30 (bit 31 stays 0), as an int32. */
function topMask(bits: number): number {
  const low = 31 - bits;
  return ((0x7fffffff >>> low) << low) | 0;
}

/** The two masks of normalized chunking for these (valid) params. */
export function chunkingMasks(params: ChunkingParams): { maskS: number; maskL: number } {
  const bits = Math.log2(params.avgSize);
  return { maskS: topMask(bits + NORMALIZATION_LEVEL), maskL: topMask(bits - NORMALIZATION_LEVEL) };
}

/**
 * The hash left by the last scan that found no cut. A module slot rather than a returned
 * object so the hot path allocates nothing.
 */
let scanHash = 0;

/** Whether this host stores a Uint32Array's words little-endian (every x86 and ARM Node). */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
/** Read the input a 32-bit word at a time where alignment allows (see scan). */
let wordLoads = LITTLE_ENDIAN;

/**
 * Turns the word-at-a-time loop off (or back on, on little-endian hosts), so that tests can
 * check the byte loop, used on big-endian hosts, against it. Not part of the public API.
 */
export function setWordLoadsForTesting(enabled: boolean): void {
  wordLoads = enabled && LITTLE_ENDIAN;
}

/**
 * Rolls the gear hash `h` over buf[i..end), testing `mask` after every byte. Returns the
 * index just past the first byte after which h & mask == 0, or -1 (then scanHash holds h).
 *
 * Two bytes a step (TPDS 2020): h2 = (h0 << 2) + (g[a] << 1) + g[b], where the
 * intermediate (h0 << 2) + (g[a] << 1) is h1 << 1 and is tested against mask << 1 (the
 * same test, because mask has no bit 31). On little-endian hosts the aligned middle of the
 * range is read as 32-bit words, 16 bytes an iteration: a quarter of the bounds-checked
 * loads and loop tests of a byte loop, about 1.5–2× faster in V8.
 */
function scan(
  buf: Uint8Array,
  i: number,
  end: number,
  h: number,
  mask: number,
  gear: Int32Array,
  gearShifted: Int32Array,
): number {
  if (wordLoads && end - i >= 64) {
    const misaligned = (buf.byteOffset + i) & 3;
    if (misaligned !== 0) {
      for (const stop = i + 4 - misaligned; i < stop; i++) {
        h = ((h << 1) + (gear[buf[i] as number] as number)) | 0;
        if ((h & mask) === 0) return i + 1;
      }
    }
    const groups = (end - i) >>> 4;
    const words = new Uint32Array(buf.buffer, buf.byteOffset + i, groups * 4);
    const cut = scanWords(words, h, mask, gear, gearShifted);
    if (cut >= 0) return i + cut;
    h = scanHash;
    i += groups * 16;
  }
  return scanBytes(buf, i, end, h, mask, gear, gearShifted);
}

/** scan over whole 16-byte groups of little-endian words; returns a byte count into `words`. */
function scanWords(words: Uint32Array, h: number, mask: number, g: Int32Array, gs: Int32Array): number {
  const maskShifted = mask << 1;
  const n = words.length;
  for (let k = 0; k < n; k += 4) {
    let w = words[k] as number;
    h = ((h << 2) + (gs[w & 255] as number)) | 0;
    if ((h & maskShifted) === 0) return 4 * k + 1;
    h = (h + (g[(w >>> 8) & 255] as number)) | 0;
    if ((h & mask) === 0) return 4 * k + 2;
    h = ((h << 2) + (gs[(w >>> 16) & 255] as number)) | 0;
    if ((h & maskShifted) === 0) return 4 * k + 3;
    h = (h + (g[w >>> 24] as number)) | 0;
    if ((h & mask) === 0) return 4 * k + 4;
    w = words[k + 1] as number;
    h = ((h << 2) + (gs[w & 255] as number)) | 0;
    if ((h & maskShifted) === 0) return 4 * k + 5;
    h = (h + (g[(w >>> 8) & 255] as number)) | 0;
    if ((h & mask) === 0) return 4 * k + 6;
    h = ((h << 2) + (gs[(w >>> 16) & 255] as number)) | 0;
    if ((h & maskShifted) === 0) return 4 * k + 7;
    h = (h + (g[w >>> 24] as number)) | 0;
    if ((h & mask) === 0) return 4 * k + 8;
    w = words[k + 2] as number;
    h = ((h << 2) + (gs[w & 255] as number)) | 0;
    if ((h & maskShifted) === 0) return 4 * k + 9;
    h = (h + (g[(w >>> 8) & 255] as number)) | 0;
    if ((h & mask) === 0) return 4 * k + 10;
    h = ((h << 2) + (gs[(w >>> 16) & 255] as number)) | 0;
    if ((h & maskShifted) === 0) return 4 * k + 11;
    h = (h + (g[w >>> 24] as number)) | 0;
    if ((h & mask) === 0) return 4 * k + 12;
    w = words[k + 3] as number;
    h = ((h << 2) + (gs[w & 255] as number)) | 0;
    if ((h & maskShifted) === 0) return 4 * k + 13;
    h = (h + (g[(w >>> 8) & 255] as number)) | 0;
    if ((h & mask) === 0) return 4 * k + 14;
    h = ((h << 2) + (gs[(w >>> 16) & 255] as number)) | 0;
    if ((h & maskShifted) === 0) return 4 * k + 15;
    h = (h + (g[w >>> 24] as number)) | 0;
    if ((h & mask) === 0) return 4 * k + 16;
  }
  scanHash = h;
  return -1;
}

/** scan a byte at a time (two bytes a step). */
function scanBytes(
  buf: Uint8Array,
  i: number,
  end: number,
  h: number,
  mask: number,
  gear: Int32Array,
  gearShifted: Int32Array,
): number {
  const maskShifted = mask << 1;
  const pairsEnd = end - ((end - i) & 1);
  while (i < pairsEnd) {
    h = ((h << 2) + (gearShifted[buf[i] as number] as number)) | 0;
    if ((h & maskShifted) === 0) return i + 1;
    h = (h + (gear[buf[i + 1] as number] as number)) | 0;
    if ((h & mask) === 0) return i + 2;
    i += 2;
  }
  if (i < end) {
    h = ((h << 1) + (gear[buf[i] as number] as number)) | 0;
    if ((h & mask) === 0) return i + 1;
  }
  scanHash = h;
  return -1;
}

/** Rolls the gear hash over buf[i..end) without testing (the window before minSize). */
function roll(buf: Uint8Array, i: number, end: number, h: number, gear: Int32Array): number {
  for (; i < end; i++) h = ((h << 1) + (gear[buf[i] as number] as number)) | 0;
  return h;
}

/**
 * The FastCDC cut-point finder as a small state machine, so that input can arrive in
 * pieces of any size: feeding the same bytes in different pieces gives the same cuts.
 * It only finds boundaries; it neither copies nor keeps the bytes.
 */
export class FastCdcChunker {
  readonly params: ChunkingParams;
  private readonly gear: Int32Array;
  private readonly gearShifted: Int32Array;
  private readonly maskS: number;
  private readonly maskL: number;
  /** Chunk length before which bytes are skipped unhashed: WINDOW bytes before minSize. */
  private readonly hashFrom: number;
  /** Bytes of the current chunk seen so far. */
  private length = 0;
  /** Gear hash after the last byte seen (meaningful once length > hashFrom). */
  private hash = 0;

  constructor(params: ChunkingParams, gear: GearTable = defaultGearTable()) {
    this.params = validateChunkingParams(params);
    this.gear = gear.gear;
    this.gearShifted = gear.gearShifted;
    const { maskS, maskL } = chunkingMasks(this.params);
    this.maskS = maskS;
    this.maskL = maskL;
    this.hashFrom = Math.max(0, this.params.minSize - WINDOW);
  }

  /** Bytes of the current, not yet cut, chunk that have been fed. */
  get pendingLength(): number {
    return this.length;
  }

  /** Forgets the current chunk: the next byte fed starts a new one. */
  reset(): void {
    this.length = 0;
    this.hash = 0;
  }

  /**
   * Feeds buf[start..end) as the continuation of the current chunk. Returns the index in
   * `buf` just past the chunk's last byte when a cut falls inside the range (the chunker
   * is then reset: call again from that index for the rest), or -1 when the chunk goes on
   * past `end`. At the end of the input the pending bytes form the last chunk.
   */
  next(buf: Uint8Array, start = 0, end: number = buf.length): number {
    const { minSize, avgSize, maxSize } = this.params;
    let i = start;
    let len = this.length;
    let h = this.hash;

    // Cut-point skipping: bytes too far before minSize to reach the hash window.
    if (len < this.hashFrom) {
      const n = Math.min(end - i, this.hashFrom - len);
      i += n;
      len += n;
      if (len < this.hashFrom) return this.suspend(len, h);
    }
    // The window's worth of bytes just before minSize: hashed, never a cut.
    if (len < minSize - 1) {
      const stop = i + Math.min(end - i, minSize - 1 - len);
      h = roll(buf, i, stop, h, this.gear);
      len += stop - i;
      i = stop;
      if (len < minSize - 1) return this.suspend(len, h);
    }
    // Chunk lengths minSize .. avgSize-1: the harder mask.
    if (len < avgSize - 1) {
      const stop = i + Math.min(end - i, avgSize - 1 - len);
      const cut = scan(buf, i, stop, h, this.maskS, this.gear, this.gearShifted);
      if (cut >= 0) return this.cutAt(cut);
      h = scanHash;
      len += stop - i;
      i = stop;
      if (len < avgSize - 1) return this.suspend(len, h);
    }
    // Chunk lengths avgSize .. maxSize-1: the easier mask.
    if (len < maxSize - 1) {
      const stop = i + Math.min(end - i, maxSize - 1 - len);
      const cut = scan(buf, i, stop, h, this.maskL, this.gear, this.gearShifted);
      if (cut >= 0) return this.cutAt(cut);
      h = scanHash;
      len += stop - i;
      i = stop;
      if (len < maxSize - 1) return this.suspend(len, h);
    }
    // Chunk length maxSize: cut whatever the hash.
    if (i < end) return this.cutAt(i + 1);
    return this.suspend(len, h);
  }

  private suspend(len: number, h: number): -1 {
    this.length = len;
    this.hash = h;
    return -1;
  }

  private cutAt(index: number): number {
    this.length = 0;
    this.hash = 0;
    return index;
  }
}

/**
 * Where the chunk that starts at buf[start] ends, when buf[start..end) is all the data
 * that is left: the index just past its last byte (`end` if no cut falls before it).
 * A pure function for whole buffers; use FastCdcChunker or chunkStream for streams.
 */
export function findCutPoint(
  buf: Uint8Array,
  start: number,
  end: number,
  params: ChunkingParams,
  gear: GearTable = defaultGearTable(),
): number {
  if (!(Number.isSafeInteger(start) && Number.isSafeInteger(end) && 0 <= start && start <= end && end <= buf.length)) {
    throw new RangeError(`findCutPoint: need 0 <= start <= end <= ${buf.length}, got ${start}..${end}`);
  }
  const cut = new FastCdcChunker(params, gear).next(buf, start, end);
  return cut < 0 ? end : cut;
}

/** Every chunk end of a whole buffer (the last is buf.length; none for an empty buffer). */
export function cutPoints(buf: Uint8Array, params: ChunkingParams, gear: GearTable = defaultGearTable()): number[] {
  const chunker = new FastCdcChunker(params, gear);
  const cuts: number[] = [];
  let at = 0;
  while (at < buf.length) {
    const cut = chunker.next(buf, at, buf.length);
    at = cut < 0 ? buf.length : cut;
    cuts.push(at);
  }
  return cuts;
}
