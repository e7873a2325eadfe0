/**
 * Certificate Transparency's Merkle tree (RFC 6962 §2.1; unchanged in RFC 9162 §2.1) over
 * SHA-256, so that a ledger's tree heads and proofs can be checked with any CT tooling:
 *
 * - leaf hash  = SHA-256(0x00 || leaf data), node hash = SHA-256(0x01 || left || right);
 *   the prefixes keep a leaf from passing for an interior node (second preimages);
 * - MTH of an empty list is SHA-256(""), of one leaf hash that hash, and of n > 1 leaf
 *   hashes node(MTH(D[0:k]), MTH(D[k:n])) with k the largest power of two below n.
 *
 * Everything below works on leaf hashes (32-byte Buffers), never on leaf data. Proofs are
 * generated as RFC 6962 defines them (PATH, PROOF) and checked with RFC 9162's iterative
 * algorithms (§2.1.3.2, §2.1.4.2). A root does not commit to the tree size: verifiers must
 * take the size from an authenticated tree head, never from the prover.
 */
import { createHash, hash } from 'node:crypto';

/** Bytes of every hash here: leaf hashes, node hashes, roots, proof elements. */
export const HASH_BYTES = 32;

const LEAF_PREFIX = Buffer.of(0x00);
/** Leaf data up to this size is hashed in one crypto.hash call over a copy; longer data is streamed. */
const ONE_SHOT_LEAF_BYTES = 4096;

/** Largest tree size: sizes and indices are plain numbers, so they must stay exact. */
const MAX_TREE_SIZE = Number.MAX_SAFE_INTEGER;

// Node hashes dominate the cost of every operation; one synchronous crypto.hash call over a
// reused 65-byte block costs about half of a createHash().update().digest() chain.
const nodeBlock = Buffer.alloc(1 + 2 * HASH_BYTES);
nodeBlock[0] = 0x01;

function sha256(data: Buffer): Buffer {
  return hash('sha256', data, 'buffer');
}

/** Node hash without argument checks: callers guarantee two 32-byte hashes. */
function hashChildren(left: Buffer, right: Buffer): Buffer {
  left.copy(nodeBlock, 1, 0, HASH_BYTES);
  right.copy(nodeBlock, 1 + HASH_BYTES, 0, HASH_BYTES);
  return sha256(nodeBlock);
}

function isHash(value: unknown): value is Buffer {
  return Buffer.isBuffer(value) && value.length === HASH_BYTES;
}

function checkHash(value: Buffer, what: string): void {
  if (!isHash(value)) throw new RangeError(`${what} must be a ${HASH_BYTES}-byte Buffer`);
}

function checkLeafHashes(leafHashes: readonly Buffer[], count: number): void {
  for (let i = 0; i < count; i++) checkHash(leafHashes[i] as Buffer, `leaf hash ${i}`);
}

/** RFC 6962 leaf hash: SHA-256(0x00 || data). */
export function leafHash(data: Uint8Array): Buffer {
  if (data.length > ONE_SHOT_LEAF_BYTES) return createHash('sha256').update(LEAF_PREFIX).update(data).digest();
  const block = Buffer.allocUnsafe(1 + data.length);
  block[0] = 0x00;
  block.set(data, 1);
  return sha256(block);
}

/** RFC 6962 interior node hash: SHA-256(0x01 || left || right). Throws RangeError unless both are 32 bytes. */
export function nodeHash(left: Buffer, right: Buffer): Buffer {
  checkHash(left, 'left');
  checkHash(right, 'right');
  return hashChildren(left, right);
}

/** Root of the empty tree: SHA-256 of the empty string. Shared; do not mutate. */
export const EMPTY_ROOT: Buffer = createHash('sha256').digest();
// Private copy, so a caller writing into EMPTY_ROOT cannot change what root() returns.
const emptyRoot = Buffer.from(EMPTY_ROOT);

function isSize(value: number): boolean {
  return Number.isSafeInteger(value) && value >= 0;
}

/** k of RFC 6962 §2.1: the largest power of two strictly below n (n >= 2). */
function splitPoint(n: number): number {
  if (n - 1 <= 0xffffffff) return 2 ** (31 - Math.clz32(n - 1));
  let k = 2 ** 32;
  while (k * 2 < n) k *= 2;
  return k;
}

/** log2(n) when n is a power of two, else -1. */
function perfectHeight(n: number): number {
  if (n < 1) return -1;
  if (n <= 0xffffffff) return (n & (n - 1)) === 0 ? 31 - Math.clz32(n) : -1;
  let height = 0;
  for (let p = 1; p < n; p *= 2) height++;
  return 2 ** height === n ? height : -1;
}

/** Number of one bits of a safe integer: the number of perfect subtrees in a tree of that size. */
function popcount(n: number): number {
  let count = 0;
  for (let rest = n; rest > 0; rest = Math.floor(rest / 2)) count += rest % 2;
  return count;
}

/**
 * MTH(D[start:end]) by folding the leaves into a frontier: O(end - start) hashes and
 * O(log n) memory. For any list, not only the aligned ranges the proofs ask for.
 */
function foldRange(leafHashes: readonly Buffer[], start: number, end: number): Buffer {
  const stack: Buffer[] = [];
  for (let i = start; i < end; i++) {
    let node = leafHashes[i] as Buffer;
    for (let c = i - start; c % 2 === 1; c = (c - 1) / 2) node = hashChildren(stack.pop() as Buffer, node);
    stack.push(node);
  }
  let root = stack.pop() as Buffer;
  while (stack.length > 0) root = hashChildren(stack.pop() as Buffer, root);
  return root;
}

/** MTH(D[start:start+size]) for size >= 1: the one operation the proof algorithms need. */
type SubtreeHash = (start: number, size: number) => Buffer;

/** RFC 6962 §2.1.1 PATH(m, D[n]), unrolled; elements bottom-up, each a fresh copy. */
function path(index: number, treeSize: number, subtree: SubtreeHash): Buffer[] {
  const topDown: Buffer[] = [];
  let start = 0;
  let m = index;
  let n = treeSize;
  while (n > 1) {
    const k = splitPoint(n);
    if (m < k) {
      topDown.push(subtree(start + k, n - k));
      n = k;
    } else {
      topDown.push(subtree(start, k));
      start += k;
      m -= k;
      n -= k;
    }
  }
  return topDown.reverse().map((h) => Buffer.from(h));
}

/** RFC 6962 §2.1.2 PROOF(m, D[n]) = SUBPROOF(m, D[n], true), unrolled; elements bottom-up. */
function subproof(oldSize: number, newSize: number, subtree: SubtreeHash): Buffer[] {
  const topDown: Buffer[] = [];
  let start = 0;
  let m = oldSize;
  let n = newSize;
  // b of SUBPROOF: still true while the old tree is the left edge of the current subtree.
  let oldTreeIsPrefix = true;
  while (m !== n) {
    const k = splitPoint(n);
    if (m <= k) {
      topDown.push(subtree(start + k, n - k));
      n = k;
    } else {
      topDown.push(subtree(start, k));
      start += k;
      m -= k;
      n -= k;
      oldTreeIsPrefix = false;
    }
  }
  // The verifier knows the old root itself, so it is sent only when it is not the subtree reached.
  if (!oldTreeIsPrefix) topDown.push(subtree(start, m));
  return topDown.reverse().map((h) => Buffer.from(h));
}

function checkInclusionArgs(index: number, treeSize: number, available: number): void {
  if (!Number.isSafeInteger(treeSize) || treeSize < 1 || treeSize > available) {
    throw new RangeError(`tree size ${treeSize} is not in 1..${available}`);
  }
  if (!Number.isSafeInteger(index) || index < 0 || index >= treeSize) {
    throw new RangeError(`leaf index ${index} is not in 0..${treeSize - 1}`);
  }
}

function checkConsistencyArgs(oldSize: number, newSize: number, available: number): void {
  if (!Number.isSafeInteger(newSize) || newSize < 1 || newSize > available) {
    throw new RangeError(`new tree size ${newSize} is not in 1..${available}`);
  }
  if (!Number.isSafeInteger(oldSize) || oldSize < 1 || oldSize > newSize) {
    throw new RangeError(`old tree size ${oldSize} is not in 1..${newSize}`);
  }
}

/** MTH(D[n]) over already-hashed leaves: O(n) hashes, O(log n) memory. Throws RangeError on a hash that is not 32 bytes. */
export function rootOf(leafHashes: readonly Buffer[]): Buffer {
  checkLeafHashes(leafHashes, leafHashes.length);
  if (leafHashes.length === 0) return Buffer.from(emptyRoot);
  return Buffer.from(foldRange(leafHashes, 0, leafHashes.length));
}

/**
 * RFC 6962 PATH(m, D[n]) for leaf `index` in the tree of the first `treeSize` leaves,
 * bottom-up. O(treeSize) hashes; build a MerkleTree for repeated proofs. Throws RangeError
 * unless 0 <= index < treeSize <= leafHashes.length and the leaf hashes are 32 bytes.
 */
export function inclusionProof(leafHashes: readonly Buffer[], index: number, treeSize: number): Buffer[] {
  checkInclusionArgs(index, treeSize, leafHashes.length);
  checkLeafHashes(leafHashes, treeSize);
  return path(index, treeSize, (start, size) => foldRange(leafHashes, start, start + size));
}

/**
 * RFC 6962 PROOF(m, D[n]) that the tree of the first `oldSize` leaves is a prefix of the
 * tree of the first `newSize`; empty when the sizes are equal. O(newSize) hashes. Throws
 * RangeError unless 0 < oldSize <= newSize <= leafHashes.length and the leaf hashes are 32 bytes.
 */
export function consistencyProof(leafHashes: readonly Buffer[], oldSize: number, newSize: number): Buffer[] {
  checkConsistencyArgs(oldSize, newSize, leafHashes.length);
  checkLeafHashes(leafHashes, newSize);
  return subproof(oldSize, newSize, (start, size) => foldRange(leafHashes, start, start + size));
}

/**
 * RFC 9162 §2.1.3.2: whether `proof` shows `leaf` (a leaf hash) at `index` in the tree of
 * `treeSize` leaves with root `root`. False, never an exception, on any mismatch or
 * malformed input: a hash that is not a 32-byte Buffer, index >= treeSize, a proof of the
 * wrong length. Only as good as `treeSize`: take it from an authenticated tree head.
 */
export function verifyInclusion(
  leaf: Buffer,
  index: number,
  treeSize: number,
  proof: readonly Buffer[],
  root: Buffer,
): boolean {
  if (!isHash(leaf) || !isHash(root) || !Array.isArray(proof) || !proof.every(isHash)) return false;
  if (!isSize(index) || !isSize(treeSize) || index >= treeSize) return false;
  // fn/sn are the leaf's and the last leaf's positions on the current level; plain
  // arithmetic instead of bit operators keeps sizes above 2^32 exact.
  let fn = index;
  let sn = treeSize - 1;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = hashChildren(p, r);
      while (fn % 2 === 0 && fn !== 0) {
        fn /= 2;
        sn = Math.floor(sn / 2);
      }
    } else {
      r = hashChildren(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && r.equals(root);
}

/**
 * RFC 9162 §2.1.4.2: whether `proof` shows the tree of `oldSize` leaves with root `oldRoot`
 * to be a prefix of the tree of `newSize` leaves with root `newRoot`. Equal sizes need an
 * empty proof and equal roots. False, never an exception, on any mismatch or malformed
 * input, including oldSize 0 (consistencyProof does not make proofs from the empty tree).
 */
export function verifyConsistency(
  oldSize: number,
  newSize: number,
  oldRoot: Buffer,
  newRoot: Buffer,
  proof: readonly Buffer[],
): boolean {
  if (!isHash(oldRoot) || !isHash(newRoot) || !Array.isArray(proof) || !proof.every(isHash)) return false;
  if (!isSize(oldSize) || !isSize(newSize) || oldSize < 1 || oldSize > newSize) return false;
  if (oldSize === newSize) return proof.length === 0 && oldRoot.equals(newRoot);
  if (proof.length === 0) return false;
  // When the old tree is a perfect subtree the proof leaves out its root: the verifier has it.
  const nodes = perfectHeight(oldSize) >= 0 ? [oldRoot, ...proof] : proof;
  let fn = oldSize - 1;
  let sn = newSize - 1;
  while (fn % 2 === 1) {
    fn = (fn - 1) / 2;
    sn = Math.floor(sn / 2);
  }
  let fr = nodes[0] as Buffer;
  let sr = fr;
  for (let i = 1; i < nodes.length; i++) {
    const c = nodes[i] as Buffer;
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      fr = hashChildren(c, fr);
      sr = hashChildren(c, sr);
      while (fn % 2 === 0 && fn !== 0) {
        fn /= 2;
        sn = Math.floor(sn / 2);
      }
    } else {
      sr = hashChildren(sr, c);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && fr.equals(oldRoot) && sr.equals(newRoot);
}

const HEX_HASH = /^[0-9a-f]{64}$/;

function invalidFrontier(reason: string): TypeError {
  return new TypeError(`invalid Merkle frontier state: ${reason}`);
}

/**
 * The root of an append-only list of leaf hashes in O(log n) memory: the roots of the
 * perfect subtrees the leaves so far fall into (one per one-bit of the size, largest and
 * leftmost first; a "compact range" from 0). Each append costs amortised two hashes,
 * root() at most log2(n).
 */
export class MerkleFrontier {
  #size: number;
  readonly #hashes: Buffer[];

  private constructor(size: number, hashes: Buffer[]) {
    this.#size = size;
    this.#hashes = hashes;
  }

  static empty(): MerkleFrontier {
    return new MerkleFrontier(0, []);
  }

  /** Appends one leaf hash (copied). Throws RangeError unless it is 32 bytes. */
  append(leafHash: Buffer): void {
    checkHash(leafHash, 'leaf hash');
    if (this.#size >= MAX_TREE_SIZE) throw new RangeError('Merkle frontier is full');
    let node: Buffer = Buffer.from(leafHash);
    // Each trailing one-bit of the old size is a perfect subtree of the new leaf's height: merge.
    for (let c = this.#size; c % 2 === 1; c = (c - 1) / 2) node = hashChildren(this.#hashes.pop() as Buffer, node);
    this.#hashes.push(node);
    this.#size++;
  }

  get size(): number {
    return this.#size;
  }

  /** MTH of everything appended, equal to rootOf over the same leaf hashes; EMPTY_ROOT when empty. */
  root(): Buffer {
    const hashes = this.#hashes;
    if (hashes.length === 0) return Buffer.from(emptyRoot);
    let root = hashes[hashes.length - 1] as Buffer;
    for (let i = hashes.length - 2; i >= 0; i--) root = hashChildren(hashes[i] as Buffer, root);
    return Buffer.from(root);
  }

  /** Serialisable state: the size and the perfect subtree roots as lowercase hex. */
  toJSON(): { size: number; hashes: string[] } {
    return { size: this.#size, hashes: this.#hashes.map((h) => h.toString('hex')) };
  }

  /**
   * The frontier toJSON described. Throws TypeError on anything else: not exactly the keys
   * size and hashes, a size that is not a safe non-negative integer, a hash that is not 64
   * lowercase hex digits, or a number of hashes other than the one-bits of size.
   */
  static fromJSON(value: unknown): MerkleFrontier {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalidFrontier('not an object');
    const keys = Object.keys(value).sort();
    if (keys.length !== 2 || keys[0] !== 'hashes' || keys[1] !== 'size') {
      throw invalidFrontier(`keys must be size and hashes, got ${keys.join(', ') || 'none'}`);
    }
    const { size, hashes } = value as { size: unknown; hashes: unknown };
    if (typeof size !== 'number' || !isSize(size)) throw invalidFrontier('size must be a safe non-negative integer');
    if (!Array.isArray(hashes)) throw invalidFrontier('hashes must be an array');
    const expected = popcount(size);
    if (hashes.length !== expected) {
      throw invalidFrontier(`a tree of ${size} leaves has ${expected} subtree roots, got ${hashes.length}`);
    }
    const decoded = hashes.map((h: unknown, i) => {
      if (typeof h !== 'string' || !HEX_HASH.test(h))
        throw invalidFrontier(`hashes[${i}] is not 64 lowercase hex digits`);
      return Buffer.from(h, 'hex');
    });
    return new MerkleFrontier(size, decoded);
  }
}

/**
 * A fixed list of leaf hashes with the hashes of all its aligned perfect subtrees cached,
 * for serving many proofs: building costs n - 1 hashes and about 64 bytes a leaf (the
 * leaves plus every level, each packed in one Buffer); afterwards root(size) costs
 * O(log n) hashes and each proof O(log² n), for any tree size up to n.
 */
export class MerkleTree {
  /** #levels[h] packs the hashes of the perfect subtrees of 2^h leaves, left to right. */
  readonly #levels: Buffer[];
  readonly #size: number;

  /** Copies the leaf hashes; throws RangeError unless each is 32 bytes. */
  constructor(leafHashes: readonly Buffer[]) {
    const n = leafHashes.length;
    checkLeafHashes(leafHashes, n);
    const leaves = Buffer.allocUnsafe(n * HASH_BYTES);
    for (let i = 0; i < n; i++) (leafHashes[i] as Buffer).copy(leaves, i * HASH_BYTES);
    const levels = [leaves];
    for (let below = leaves, count = Math.floor(n / 2); count > 0; count = Math.floor(count / 2)) {
      const level = Buffer.allocUnsafe(count * HASH_BYTES);
      for (let i = 0; i < count; i++) {
        below.copy(nodeBlock, 1, 2 * i * HASH_BYTES, (2 * i + 2) * HASH_BYTES);
        sha256(nodeBlock).copy(level, i * HASH_BYTES);
      }
      levels.push(level);
      below = level;
    }
    this.#levels = levels;
    this.#size = n;
  }

  /** Number of leaves. */
  get size(): number {
    return this.#size;
  }

  /** MTH of the first `size` leaves (default all); EMPTY_ROOT for 0. Throws RangeError unless 0 <= size <= this.size. */
  root(size: number = this.#size): Buffer {
    if (!isSize(size) || size > this.#size) throw new RangeError(`tree size ${size} is not in 0..${this.#size}`);
    if (size === 0) return Buffer.from(emptyRoot);
    return Buffer.from(this.#subtree(0, size));
  }

  /** As the free inclusionProof over this tree's leaves; treeSize defaults to all of them. */
  inclusionProof(index: number, treeSize: number = this.#size): Buffer[] {
    checkInclusionArgs(index, treeSize, this.#size);
    return path(index, treeSize, (start, size) => this.#subtree(start, size));
  }

  /** As the free consistencyProof over this tree's leaves; newSize defaults to all of them. */
  consistencyProof(oldSize: number, newSize: number = this.#size): Buffer[] {
    checkConsistencyArgs(oldSize, newSize, this.#size);
    return subproof(oldSize, newSize, (start, size) => this.#subtree(start, size));
  }

  /**
   * MTH(D[start:start+size]) by the RFC 6962 recursion, reading aligned perfect subtrees
   * from the cache. The proofs only ask for ranges whose start is a multiple of a power of
   * two >= size, where this makes O(log n) hashes. Returns a view of the cache: copy before handing out.
   */
  #subtree(start: number, size: number): Buffer {
    const height = perfectHeight(size);
    if (height >= 0 && start % size === 0) {
      const offset = (start / size) * HASH_BYTES;
      return (this.#levels[height] as Buffer).subarray(offset, offset + HASH_BYTES);
    }
    const k = splitPoint(size);
    return hashChildren(this.#subtree(start, k), this.#subtree(start + k, size - k));
  }
}
