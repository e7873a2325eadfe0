import { createHmac } from 'node:crypto';
import { types } from 'node:util';
import { ConfigError } from '../errors';

/** Length in bytes of a gear key. */
export const GEAR_KEY_LENGTH = 32;

/**
 * The built-in gear key, used when a repository has none of its own: the SHA-256 of
 * "backstream/chunking/fastcdc/default-gear-key/v1", written out so that it can never
 * change by accident. Changing it (or the derivation below) moves every cut point and
 * so breaks deduplication against everything stored before.
 */
const DEFAULT_GEAR_KEY_HEX = '3d682229815a17bee2eb676d6b54cdbf18bd1ccea3377ebf13a481a832363db7';

/** Domain-separation label of the derivation; part of the chunk format like the key. */
const DERIVATION_LABEL = 'backstream/chunking/fastcdc/gear/v1';

/**
 * The 256 random 32-bit values of the Gear rolling hash (one per byte value), derived
 * from a 32-byte key. Keying the table per repository makes cut points, and so the chunk
 * sizes an observer of the bucket or topics sees, harder to predict without the key (with a
 * public table they tell which known files a backup holds). It is a mitigation, not a
 * proof: gear tables can be partly recovered from chunk sizes of chosen inputs. Build one
 * per key and reuse it: deriving it costs 32 HMAC-SHA256 computations.
 */
export class GearTable {
  /** gear[b] as signed 32-bit integers, so V8 keeps them unboxed in the hot loop. Read only. */
  readonly gear: Int32Array;
  /** gear[b] << 1, for the two-bytes-a-step loop (FastCDC 2020, "rolling two bytes each time"). Read only. */
  readonly gearShifted: Int32Array;

  private constructor(gear: Int32Array) {
    this.gear = gear;
    this.gearShifted = new Int32Array(256);
    for (let b = 0; b < 256; b++) this.gearShifted[b] = (gear[b] as number) << 1;
  }

  /**
   * Derives the table from `key` (default: the built-in key): value i is bytes 4i..4i+3,
   * big-endian, of the stream HMAC-SHA256(key, label ‖ uint32be(0)) ‖ HMAC-SHA256(key,
   * label ‖ uint32be(1)) ‖ … (counter mode, 32 blocks).
   */
  static fromKey(key?: Uint8Array): GearTable {
    const k = key ?? Buffer.from(DEFAULT_GEAR_KEY_HEX, 'hex');
    if (!types.isUint8Array(k) || k.length !== GEAR_KEY_LENGTH) {
      throw new ConfigError(`a chunking key must be ${GEAR_KEY_LENGTH} bytes, got ${describeKey(k)}`);
    }
    const gear = new Int32Array(256);
    const label = Buffer.from(DERIVATION_LABEL, 'utf8');
    const counter = Buffer.alloc(4);
    for (let block = 0; block < 32; block++) {
      counter.writeUInt32BE(block, 0);
      const mac = createHmac('sha256', k).update(label).update(counter).digest();
      for (let j = 0; j < 8; j++) gear[block * 8 + j] = mac.readInt32BE(j * 4);
    }
    return new GearTable(gear);
  }

  /** The table as unsigned 32-bit values (a copy), e.g. to compare two tables. */
  values(): Uint32Array {
    return new Uint32Array(this.gear);
  }
}

let defaultTable: GearTable | undefined;

/** The table of the built-in key, derived once per process. */
export function defaultGearTable(): GearTable {
  defaultTable ??= GearTable.fromKey();
  return defaultTable;
}

/** The gear table for `key`, or the built-in one when no key is given. */
export function createGearTable(key?: Uint8Array): GearTable {
  return key === undefined ? defaultGearTable() : GearTable.fromKey(key);
}

function describeKey(key: unknown): string {
  if (types.isUint8Array(key)) return `${key.length} bytes`;
  return key === null ? 'null' : typeof key;
}
