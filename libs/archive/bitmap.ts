/** Seqs one page holds: a page is 8 KiB. */
const PAGE_SEQS = 65536;

/**
 * A set of chunk seqs (integers 0 … 2^32-1), one bit each, in pages allocated as seqs are
 * set: its memory follows how many distinct pages were touched, never the largest seq, so
 * one event with a huge seq costs one page. A seq outside the range throws a RangeError
 * (schemas.ts and the archiver refuse such events before they get here).
 */
export class Bitmap {
  private readonly pages = new Map<number, Uint8Array>();
  private count = 0;

  set(n: number): boolean {
    checkSeq(n);
    const index = Math.floor(n / PAGE_SEQS);
    let page = this.pages.get(index);
    if (!page) {
      page = new Uint8Array(PAGE_SEQS / 8);
      this.pages.set(index, page);
    }
    const bit = n % PAGE_SEQS;
    const byte = bit >>> 3;
    const mask = 1 << (bit & 7);
    if ((page[byte] as number) & mask) return false;
    page[byte] = (page[byte] as number) | mask;
    this.count += 1;
    return true;
  }

  has(n: number): boolean {
    if (!Number.isSafeInteger(n) || n < 0 || n > MAX_SEQ) return false;
    const page = this.pages.get(Math.floor(n / PAGE_SEQS));
    const bit = n % PAGE_SEQS;
    return page !== undefined && ((page[bit >>> 3] as number) & (1 << (bit & 7))) !== 0;
  }

  get size(): number {
    return this.count;
  }

  /** Bytes held by the pages. */
  get bytes(): number {
    return this.pages.size * (PAGE_SEQS / 8);
  }
}

/** The largest seq: chunk seqs are unsigned 32-bit integers (libs/events schemas). */
export const MAX_SEQ = 2 ** 32 - 1;

function checkSeq(n: number): void {
  if (!Number.isSafeInteger(n) || n < 0 || n > MAX_SEQ) throw new RangeError(`seq ${n} is not in 0 … ${MAX_SEQ}`);
}
