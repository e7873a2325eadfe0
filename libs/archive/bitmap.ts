/** A growable set of small non-negative integers (chunk seqs), one bit each. */
export class Bitmap {
  private bits = new Uint8Array(64);
  private count = 0;

  set(n: number): boolean {
    const byte = n >>> 3;
    if (byte >= this.bits.length) {
      const grown = new Uint8Array(Math.max(byte + 1, this.bits.length * 2));
      grown.set(this.bits);
      this.bits = grown;
    }
    const mask = 1 << (n & 7);
    if ((this.bits[byte] as number) & mask) return false;
    this.bits[byte] = (this.bits[byte] as number) | mask;
    this.count += 1;
    return true;
  }

  has(n: number): boolean {
    const byte = n >>> 3;
    return byte < this.bits.length && ((this.bits[byte] as number) & (1 << (n & 7))) !== 0;
  }

  get size(): number {
    return this.count;
  }
}
