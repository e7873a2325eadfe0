/**
 * Deterministic pseudo-random bytes (xorshift32) for tests and benchmarks: the same seed
 * gives the same bytes on every machine, unlike Math.random or crypto.randomBytes. Not for
 * anything that needs unpredictability. Shifts and xors only: Math.imul is many times
 * slower inside jest's sandboxed module contexts.
 */
export function pseudoRandomBytes(length: number, seed: number): Buffer {
  const out = new Uint8Array(length);
  let x = (seed ^ 0x9e3779b9) | 0 || 1; // xorshift's state must not be 0
  let i = 0;
  while (i < length) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    let t = x;
    for (let k = 0; k < 4 && i < length; k++, i++) {
      out[i] = t & 0xff;
      t >>>= 8;
    }
  }
  return Buffer.from(out.buffer, out.byteOffset, out.byteLength);
}
