import { createHash } from 'node:crypto';
import {
  consistencyProof,
  EMPTY_ROOT,
  HASH_BYTES,
  inclusionProof,
  leafHash,
  MerkleFrontier,
  MerkleTree,
  nodeHash,
  rootOf,
  verifyConsistency,
  verifyInclusion,
} from '.';

const hex = (b: Buffer): string => b.toString('hex');
const unhex = (s: string): Buffer => Buffer.from(s, 'hex');

// Known answers copied from transparency-dev/merkle, proof/verify_test.go (commit
// 02194e9afb6c1d95b5381350007963aa70fff472; the same tables, without the 6 -> 7 consistency
// proof, are in google/trillian merkle/log_verifier_test.go). They number leaves from 1:
// their leaf k is index k - 1 here.
const KAT_LEAF_DATA = [
  '',
  '00',
  '10',
  '2021',
  '3031',
  '40414243',
  '5051525354555657',
  '606162636465666768696a6b6c6d6e6f',
].map(unhex);
const KAT_EMPTY_ROOT = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
/** Roots of the trees of the first 1..8 leaves. */
const KAT_ROOTS = [
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
];
const KAT_INCLUSION = [
  {
    index: 0,
    size: 8,
    proof: [
      '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
    ],
  },
  {
    index: 5,
    size: 8,
    proof: [
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  },
  { index: 2, size: 3, proof: ['fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125'] },
  {
    index: 1,
    size: 5,
    proof: [
      '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
    ],
  },
];
const KAT_CONSISTENCY = [
  { oldSize: 1, newSize: 1, proof: [] },
  {
    oldSize: 1,
    newSize: 8,
    proof: [
      '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
    ],
  },
  {
    oldSize: 6,
    newSize: 8,
    proof: [
      '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  },
  {
    oldSize: 2,
    newSize: 5,
    proof: [
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
    ],
  },
  {
    oldSize: 6,
    newSize: 7,
    proof: [
      '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
      'b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  },
];
const KAT_LEAVES = KAT_LEAF_DATA.map(leafHash);

/*
 * A second implementation, written straight from the recursive definitions of RFC 6962
 * §2.1 with its own hashing: the module's generators must reproduce it exactly, and on
 * tampered input its verifiers must agree with the module's RFC 9162 iterative ones.
 */
const sha = (...parts: Buffer[]): Buffer => createHash('sha256').update(Buffer.concat(parts)).digest();
const refNode = (left: Buffer, right: Buffer): Buffer => sha(Buffer.of(1), left, right);

function refSplit(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

function refMth(d: Buffer[]): Buffer {
  if (d.length === 0) return sha();
  if (d.length === 1) return d[0]!;
  const k = refSplit(d.length);
  return refNode(refMth(d.slice(0, k)), refMth(d.slice(k)));
}

function refPath(m: number, d: Buffer[]): Buffer[] {
  if (d.length === 1) return [];
  const k = refSplit(d.length);
  return m < k
    ? [...refPath(m, d.slice(0, k)), refMth(d.slice(k))]
    : [...refPath(m - k, d.slice(k)), refMth(d.slice(0, k))];
}

function refSubproof(m: number, d: Buffer[], b: boolean): Buffer[] {
  if (m === d.length) return b ? [] : [refMth(d)];
  const k = refSplit(d.length);
  return m <= k
    ? [...refSubproof(m, d.slice(0, k), b), refMth(d.slice(k))]
    : [...refSubproof(m - k, d.slice(k), false), refMth(d.slice(0, k))];
}

/** Lengths of PATH(m, D[n]) and SUBPROOF(m, D[n], b), from the recursion alone (no hashing). */
function refPathLength(m: number, n: number): number {
  if (n === 1) return 0;
  const k = refSplit(n);
  return 1 + (m < k ? refPathLength(m, k) : refPathLength(m - k, n - k));
}

function refSubproofLength(m: number, n: number, b: boolean): number {
  if (m === n) return b ? 0 : 1;
  const k = refSplit(n);
  return 1 + (m <= k ? refSubproofLength(m, k, b) : refSubproofLength(m - k, n - k, false));
}

const isRefHash = (b: unknown): b is Buffer => Buffer.isBuffer(b) && b.length === 32;
const isRefSize = (n: number): boolean => Number.isSafeInteger(n) && n >= 0;

/** The root PATH(m, D[n]) leads to, undoing the recursion from the top (the last element); null on a wrong length. */
function refRootFromPath(leaf: Buffer, m: number, n: number, proof: Buffer[]): Buffer | null {
  if (n === 1) return proof.length === 0 ? leaf : null;
  if (proof.length === 0) return null;
  const k = refSplit(n);
  const top = proof[proof.length - 1]!;
  const rest = proof.slice(0, -1);
  if (m < k) {
    const left = refRootFromPath(leaf, m, k, rest);
    return left && refNode(left, top);
  }
  const right = refRootFromPath(leaf, m - k, n - k, rest);
  return right && refNode(top, right);
}

function refVerifyInclusion(leaf: Buffer, m: number, n: number, proof: Buffer[], root: Buffer): boolean {
  if (!isRefHash(leaf) || !isRefHash(root) || !proof.every(isRefHash)) return false;
  if (!isRefSize(m) || !isRefSize(n) || m >= n) return false;
  return refRootFromPath(leaf, m, n, proof)?.equals(root) ?? false;
}

/** [old root, new root] that SUBPROOF(m, D[n], b) leads to; null on a wrong length. */
function refRootsFromSubproof(m: number, n: number, b: boolean, oldRoot: Buffer, proof: Buffer[]): Buffer[] | null {
  if (m === n) {
    if (b) return proof.length === 0 ? [oldRoot, oldRoot] : null;
    return proof.length === 1 ? [proof[0]!, proof[0]!] : null;
  }
  if (proof.length === 0) return null;
  const k = refSplit(n);
  const top = proof[proof.length - 1]!;
  const rest = proof.slice(0, -1);
  if (m <= k) {
    const below = refRootsFromSubproof(m, k, b, oldRoot, rest);
    return below && [below[0]!, refNode(below[1]!, top)];
  }
  const below = refRootsFromSubproof(m - k, n - k, false, oldRoot, rest);
  return below && [refNode(top, below[0]!), refNode(top, below[1]!)];
}

function refVerifyConsistency(m: number, n: number, oldRoot: Buffer, newRoot: Buffer, proof: Buffer[]): boolean {
  if (!isRefHash(oldRoot) || !isRefHash(newRoot) || !proof.every(isRefHash)) return false;
  if (!isRefSize(m) || !isRefSize(n) || m < 1 || m > n) return false;
  if (m === n) return proof.length === 0 && oldRoot.equals(newRoot);
  const roots = refRootsFromSubproof(m, n, true, oldRoot, proof);
  return roots !== null && roots[0]!.equals(oldRoot) && roots[1]!.equals(newRoot);
}

const MAX_SIZE = 70;
const LEAVES = Array.from({ length: MAX_SIZE }, (_, i) => leafHash(Buffer.from(`leaf ${i}`)));
const TREE = new MerkleTree(LEAVES);
const ROOTS = Array.from({ length: MAX_SIZE + 1 }, (_, n) => refMth(LEAVES.slice(0, n)));
const OTHER_HASH = sha(Buffer.from('not in any tree'));

function flipBit(b: Buffer, bit: number): Buffer {
  const copy = Buffer.from(b);
  copy[bit >> 3]! ^= 0x80 >> (bit & 7);
  return copy;
}

/**
 * Every bit for trees of up to 8 leaves; for larger ones the first, the last and two that
 * move with the tree and the leaf, so that every byte is hit somewhere without hashing for minutes.
 */
function bitsToFlip(treeSize: number, salt: number): number[] {
  if (treeSize <= 8) return Array.from({ length: 8 * HASH_BYTES }, (_, i) => i);
  return [0, 8 * HASH_BYTES - 1, (treeSize * 8 + salt) % 256, (salt * 97 + treeSize * 13) % 256];
}

/** Sizes near n and the ones a confused verifier would pick (double, half), plus garbage. */
function otherSizes(n: number): number[] {
  const sizes = [-1, 0, 1, 2, n - 2, n - 1, n + 1, n + 2, 2 * n, Math.floor(n / 2), n + 0.5, NaN, Infinity];
  return [...new Set(sizes)].filter((s) => s !== n);
}

/** The neighbours, both ends, the siblings at each level, and the out-of-range ones. */
function otherIndices(index: number, n: number): number[] {
  const candidates = [-1, 0, n - 1, n, index - 1, index + 1, 0.5, NaN];
  for (let bit = 1; bit < n; bit *= 2) candidates.push(index ^ bit);
  return [...new Set(candidates)].filter((x) => x !== index);
}

function withElement(proof: Buffer[], at: number, element: Buffer): Buffer[] {
  return [...proof.slice(0, at), element, ...proof.slice(at)];
}

describe('RFC 6962 known answers', () => {
  it('the empty tree root is SHA-256 of the empty string', () => {
    expect(hex(EMPTY_ROOT)).toBe(KAT_EMPTY_ROOT);
    expect(hex(rootOf([]))).toBe(KAT_EMPTY_ROOT);
    expect(hex(new MerkleTree([]).root())).toBe(KAT_EMPTY_ROOT);
    expect(hex(MerkleFrontier.empty().root())).toBe(KAT_EMPTY_ROOT);
  });

  it('leaf and node hashes carry the 0x00 and 0x01 prefixes', () => {
    expect(hex(leafHash(Buffer.alloc(0)))).toBe(KAT_ROOTS[0]);
    expect(hex(nodeHash(KAT_LEAVES[0]!, KAT_LEAVES[1]!))).toBe(KAT_ROOTS[1]);
    const big = Buffer.alloc(100_000, 7); // past the one-shot size: hashed as a stream
    expect(leafHash(big)).toEqual(sha(Buffer.of(0), big));
  });

  it('the roots of sizes 1..8 match, from rootOf, MerkleTree and MerkleFrontier', () => {
    const tree = new MerkleTree(KAT_LEAVES);
    const frontier = MerkleFrontier.empty();
    for (let n = 1; n <= 8; n++) {
      frontier.append(KAT_LEAVES[n - 1]!);
      expect(hex(rootOf(KAT_LEAVES.slice(0, n)))).toBe(KAT_ROOTS[n - 1]);
      expect(hex(tree.root(n))).toBe(KAT_ROOTS[n - 1]);
      expect(hex(frontier.root())).toBe(KAT_ROOTS[n - 1]);
    }
  });

  it.each(KAT_INCLUSION)('inclusion proof for index $index in size $size', ({ index, size, proof }) => {
    expect(inclusionProof(KAT_LEAVES, index, size).map(hex)).toEqual(proof);
    expect(new MerkleTree(KAT_LEAVES).inclusionProof(index, size).map(hex)).toEqual(proof);
    expect(verifyInclusion(KAT_LEAVES[index]!, index, size, proof.map(unhex), unhex(KAT_ROOTS[size - 1]!))).toBe(true);
  });

  it.each(KAT_CONSISTENCY)('consistency proof from size $oldSize to $newSize', ({ oldSize, newSize, proof }) => {
    expect(consistencyProof(KAT_LEAVES, oldSize, newSize).map(hex)).toEqual(proof);
    expect(new MerkleTree(KAT_LEAVES).consistencyProof(oldSize, newSize).map(hex)).toEqual(proof);
    const [oldRoot, newRoot] = [KAT_ROOTS[oldSize - 1]!, KAT_ROOTS[newSize - 1]!].map(unhex);
    expect(verifyConsistency(oldSize, newSize, oldRoot!, newRoot!, proof.map(unhex))).toBe(true);
  });
});

describe(`every tree size 1..${MAX_SIZE}`, () => {
  it('rootOf, MerkleTree.root and the frontier agree with the reference at every size', () => {
    const frontier = MerkleFrontier.empty();
    for (let n = 1; n <= MAX_SIZE; n++) {
      frontier.append(LEAVES[n - 1]!);
      expect(frontier.size).toBe(n);
      expect(rootOf(LEAVES.slice(0, n))).toEqual(ROOTS[n]);
      expect(TREE.root(n)).toEqual(ROOTS[n]);
      expect(frontier.root()).toEqual(ROOTS[n]);
    }
  });

  // The loops below collect failures and assert once: an expect() per case would cost more than the hashing.
  it('every inclusion proof is the reference PATH and verifies', () => {
    const failures: string[] = [];
    for (let n = 1; n <= MAX_SIZE; n++) {
      for (let i = 0; i < n; i++) {
        const proof = inclusionProof(LEAVES, i, n);
        const expected = refPath(i, LEAVES.slice(0, n)).map(hex).join();
        if (proof.map(hex).join() !== expected) failures.push(`inclusionProof(${i}, ${n})`);
        if (TREE.inclusionProof(i, n).map(hex).join() !== expected) failures.push(`tree.inclusionProof(${i}, ${n})`);
        if (!verifyInclusion(LEAVES[i]!, i, n, proof, ROOTS[n]!)) failures.push(`verifyInclusion(${i}, ${n})`);
      }
    }
    expect(failures).toEqual([]);
  });

  it('every consistency proof is the reference PROOF and verifies', () => {
    const failures: string[] = [];
    for (let n = 1; n <= MAX_SIZE; n++) {
      for (let m = 1; m <= n; m++) {
        const proof = consistencyProof(LEAVES, m, n);
        const expected = refSubproof(m, LEAVES.slice(0, n), true).map(hex).join();
        if (proof.map(hex).join() !== expected) failures.push(`consistencyProof(${m}, ${n})`);
        if (TREE.consistencyProof(m, n).map(hex).join() !== expected)
          failures.push(`tree.consistencyProof(${m}, ${n})`);
        if (!verifyConsistency(m, n, ROOTS[m]!, ROOTS[n]!, proof)) failures.push(`verifyConsistency(${m}, ${n})`);
      }
    }
    expect(failures).toEqual([]);
  });

  it('no tampered inclusion proof verifies', () => {
    const accepted: string[] = [];
    const disagreements: string[] = [];
    let sizeChangesAccepted = 0;
    for (let n = 1; n <= MAX_SIZE; n++) {
      const root = ROOTS[n]!;
      for (let i = 0; i < n; i++) {
        const leaf = LEAVES[i]!;
        const proof = TREE.inclusionProof(i, n);
        const check = (what: string, p: Buffer[], l = leaf, r = root, index = i): void => {
          if (verifyInclusion(l, index, n, p, r)) accepted.push(`index ${i} of ${n}: ${what}`);
        };
        for (const bit of bitsToFlip(n, i)) {
          check(`leaf bit ${bit}`, proof, flipBit(leaf, bit));
          check(`root bit ${bit}`, proof, leaf, flipBit(root, bit));
          proof.forEach((element, e) => {
            check(
              `proof[${e}] bit ${bit}`,
              proof.map((x, j) => (j === e ? flipBit(element, bit) : x)),
            );
          });
        }
        for (const other of otherIndices(i, n)) check(`index ${other}`, proof, leaf, root, other);
        for (let e = 0; e < proof.length; e++) {
          check(
            `without proof[${e}]`,
            proof.filter((_, j) => j !== e),
          );
        }
        for (const at of new Set([0, proof.length >> 1, proof.length])) {
          [OTHER_HASH, root, leaf, proof[0] ?? root].forEach((extra, x) =>
            check(`extra ${x} at ${at}`, withElement(proof, at, extra)),
          );
        }
        // The root does not commit to the size, so another size whose proof has the same
        // shape verifies too (see the next test): the verdict must be the reference's, and
        // false whenever that size's proof has another length.
        for (const size of otherSizes(n)) {
          const verdict = verifyInclusion(leaf, i, size, proof, root);
          if (verdict !== refVerifyInclusion(leaf, i, size, proof, root))
            disagreements.push(`index ${i} of ${n} as ${size}`);
          if (verdict) {
            sizeChangesAccepted++;
            if (refPathLength(i, size) !== proof.length) accepted.push(`index ${i} of ${n} as ${size}`);
          }
        }
      }
    }
    expect(accepted).toEqual([]);
    expect(disagreements).toEqual([]);
    expect(sizeChangesAccepted).toBeGreaterThan(0);
  });

  it('the tree size comes from the tree head, not the root: proofs for a left leaf verify under smaller sizes', () => {
    // Index 0 of 8 is proven by [leaf 1, node(2,3), node(4..7)]; read as a tree of 5..7
    // leaves, the last element is just the hash of a right subtree of another shape.
    const proof = TREE.inclusionProof(0, 8);
    for (const size of [5, 6, 7]) expect(verifyInclusion(LEAVES[0]!, 0, size, proof, ROOTS[8]!)).toBe(true);
    expect(verifyInclusion(LEAVES[0]!, 0, 4, proof, ROOTS[8]!)).toBe(false);
    expect(verifyInclusion(LEAVES[0]!, 0, 9, proof, ROOTS[8]!)).toBe(false);
  });

  it('no tampered consistency proof verifies', () => {
    const accepted: string[] = [];
    const disagreements: string[] = [];
    let sizeChangesAccepted = 0;
    for (let n = 1; n <= MAX_SIZE; n++) {
      const newRoot = ROOTS[n]!;
      for (let m = 1; m <= n; m++) {
        const oldRoot = ROOTS[m]!;
        const proof = TREE.consistencyProof(m, n);
        const check = (what: string, p: Buffer[], o = oldRoot, r = newRoot): void => {
          if (verifyConsistency(m, n, o, r, p)) accepted.push(`${m} to ${n}: ${what}`);
        };
        for (const bit of bitsToFlip(n, m)) {
          check(`old root bit ${bit}`, proof, flipBit(oldRoot, bit));
          check(`new root bit ${bit}`, proof, oldRoot, flipBit(newRoot, bit));
          proof.forEach((element, e) => {
            check(
              `proof[${e}] bit ${bit}`,
              proof.map((x, j) => (j === e ? flipBit(element, bit) : x)),
            );
          });
        }
        if (m !== n) check('swapped roots', proof, newRoot, oldRoot);
        for (let e = 0; e < proof.length; e++) {
          check(
            `without proof[${e}]`,
            proof.filter((_, j) => j !== e),
          );
        }
        for (const at of new Set([0, proof.length >> 1, proof.length])) {
          [OTHER_HASH, oldRoot, newRoot, proof[0] ?? oldRoot].forEach((extra, x) =>
            check(`extra ${x} at ${at}`, withElement(proof, at, extra)),
          );
        }
        for (const [oldSize, newSize] of [
          ...otherSizes(m).map((s) => [s, n]),
          ...otherSizes(n).map((s) => [m, s]),
          [n, m],
        ] as const) {
          const verdict = verifyConsistency(oldSize, newSize, oldRoot, newRoot, proof);
          if (verdict !== refVerifyConsistency(oldSize, newSize, oldRoot, newRoot, proof)) {
            disagreements.push(`${m} to ${n} as ${oldSize} to ${newSize}`);
          }
          if (verdict) {
            sizeChangesAccepted++;
            if (refSubproofLength(oldSize, newSize, true) !== proof.length) {
              accepted.push(`${m} to ${n} as ${oldSize} to ${newSize}`);
            }
          }
        }
      }
    }
    expect(accepted).toEqual([]);
    expect(disagreements).toEqual([]);
    expect(sizeChangesAccepted).toBeGreaterThan(0);
  });
});

describe('MerkleFrontier', () => {
  it('round-trips through JSON at every size, and keeps appending to the same roots', () => {
    const frontier = MerkleFrontier.empty();
    for (let n = 0; n <= MAX_SIZE; n++) {
      const state = frontier.toJSON();
      expect(state.size).toBe(n);
      expect(state.hashes).toHaveLength(n.toString(2).replace(/0/g, '').length);
      const restored = MerkleFrontier.fromJSON(JSON.parse(JSON.stringify(frontier)));
      expect(restored.size).toBe(n);
      expect(restored.root()).toEqual(ROOTS[n]);
      if (n < MAX_SIZE) {
        restored.append(LEAVES[n]!);
        expect(restored.root()).toEqual(ROOTS[n + 1]);
        frontier.append(LEAVES[n]!);
      }
    }
  });

  const valid = (() => {
    const f = MerkleFrontier.empty();
    for (const leaf of LEAVES.slice(0, 6)) f.append(leaf);
    return f.toJSON(); // size 6: two subtree roots
  })();
  const [h4, h2] = valid.hashes as [string, string];

  it.each<[string, unknown]>([
    ['null', null],
    ['an array', [6, valid.hashes]],
    ['a string', JSON.stringify(valid)],
    ['a missing size', { hashes: valid.hashes }],
    ['missing hashes', { size: 6 }],
    ['an extra key', { ...valid, version: 1 }],
    ['a negative size', { size: -1, hashes: [] }],
    ['a fractional size', { size: 1.5, hashes: [h4] }],
    ['a size past 2^53', { size: 2 ** 53, hashes: [h4] }],
    ['a string size', { size: '6', hashes: valid.hashes }],
    ['hashes not an array', { size: 6, hashes: `${h4}${h2}` }],
    ['too few hashes', { size: 6, hashes: [h4] }],
    ['too many hashes', { size: 6, hashes: [h4, h2, h2] }],
    ['hashes for an empty tree', { size: 0, hashes: [h4] }],
    ['a short hash', { size: 6, hashes: [h4, h2.slice(2)] }],
    ['a long hash', { size: 6, hashes: [h4, `${h2}00`] }],
    ['uppercase hex', { size: 6, hashes: [h4, h2.toUpperCase()] }],
    ['non-hex digits', { size: 6, hashes: [h4, `zz${h2.slice(2)}`] }],
    ['a hash that is not a string', { size: 6, hashes: [h4, 42] }],
  ])('fromJSON rejects %s', (_name, state) => {
    expect(() => MerkleFrontier.fromJSON(state)).toThrow(TypeError);
  });

  it('accepts the valid state those cases were made from', () => {
    expect(MerkleFrontier.fromJSON(valid).root()).toEqual(ROOTS[6]);
  });

  it('append rejects a hash that is not 32 bytes, and copies the one it keeps', () => {
    const frontier = MerkleFrontier.empty();
    expect(() => frontier.append(Buffer.alloc(31))).toThrow(RangeError);
    expect(frontier.size).toBe(0);
    const leaf = Buffer.from(LEAVES[0]!);
    frontier.append(leaf);
    leaf.fill(0);
    expect(frontier.root()).toEqual(ROOTS[1]);
  });
});

describe('MerkleTree', () => {
  const big = Array.from({ length: 1000 }, (_, i) => leafHash(Buffer.from(`big ${i}`)));
  const tree = new MerkleTree(big);

  it('agrees with the free functions on a larger tree, for any size', () => {
    expect(tree.size).toBe(1000);
    expect(tree.root()).toEqual(rootOf(big));
    for (const n of [1, 2, 3, 255, 256, 257, 511, 512, 513, 700, 999, 1000]) {
      expect(tree.root(n)).toEqual(rootOf(big.slice(0, n)));
      for (const i of [0, 1, n >> 1, n - 2, n - 1].filter((x) => x >= 0 && x < n)) {
        expect(tree.inclusionProof(i, n)).toEqual(inclusionProof(big, i, n));
      }
      for (const m of [1, 2, n >> 1, n - 1, n].filter((x) => x >= 1 && x <= n)) {
        expect(tree.consistencyProof(m, n)).toEqual(consistencyProof(big, m, n));
      }
    }
    expect(tree.inclusionProof(123)).toEqual(inclusionProof(big, 123, 1000));
    expect(tree.consistencyProof(123)).toEqual(consistencyProof(big, 123, 1000));
  });

  it('is not changed by writes to its input or to what it returned', () => {
    const leaves: Buffer[] = LEAVES.slice(0, 9).map((b) => Buffer.from(b));
    const t = new MerkleTree(leaves);
    leaves[0]!.fill(0);
    leaves.push(OTHER_HASH);
    expect(t.size).toBe(9);
    expect(t.root()).toEqual(ROOTS[9]);
    t.inclusionProof(8, 9).forEach((p) => p.fill(0));
    t.root(8).fill(0);
    expect(t.inclusionProof(8, 9)).toEqual(refPath(8, LEAVES.slice(0, 9)));
    expect(t.root(8)).toEqual(ROOTS[8]);
  });
});

describe('sizes past 2^32, where 32-bit operators would truncate', () => {
  const siblings = Array.from({ length: 40 }, (_, i) => sha(Buffer.from(`sibling ${i}`)));
  const leaf = LEAVES[0]!;

  it('verifies the first and the last leaf of a 2^40-leaf tree', () => {
    const size = 2 ** 40;
    const firstRoot = siblings.reduce((r, p) => refNode(r, p), leaf);
    expect(verifyInclusion(leaf, 0, size, siblings, firstRoot)).toBe(true);
    expect(verifyInclusion(leaf, 0, size + 1, siblings, firstRoot)).toBe(false);
    const lastRoot = siblings.reduce((r, p) => refNode(p, r), leaf);
    expect(verifyInclusion(leaf, size - 1, size, siblings, lastRoot)).toBe(true);
    expect(verifyInclusion(leaf, size - 2, size, siblings, lastRoot)).toBe(false);
    // A last leaf alone on the right: 2^40 + 1 leaves, proven by the root of the first 2^40.
    expect(verifyInclusion(leaf, size, size + 1, [firstRoot], refNode(firstRoot, leaf))).toBe(true);
  });

  it('verifies consistency from 2^40 to 2^41 leaves', () => {
    const [oldRoot, right] = [siblings[0]!, siblings[1]!];
    expect(verifyConsistency(2 ** 40, 2 ** 41, oldRoot, refNode(oldRoot, right), [right])).toBe(true);
    expect(verifyConsistency(2 ** 40, 2 ** 41 + 1, oldRoot, refNode(oldRoot, right), [right])).toBe(false);
  });

  it('the frontier carries on from a restored 2^40-leaf state, and refuses to pass 2^53 - 1', () => {
    const frontier = MerkleFrontier.fromJSON({ size: 2 ** 40, hashes: [hex(siblings[0]!)] });
    frontier.append(leaf);
    expect(frontier.toJSON()).toEqual({ size: 2 ** 40 + 1, hashes: [hex(siblings[0]!), hex(leaf)] });
    expect(frontier.root()).toEqual(refNode(siblings[0]!, leaf));
    frontier.append(leaf);
    expect(frontier.toJSON().hashes).toEqual([hex(siblings[0]!), hex(refNode(leaf, leaf))]);
    const full = MerkleFrontier.fromJSON({ size: Number.MAX_SAFE_INTEGER, hashes: Array(53).fill(hex(leaf)) });
    expect(() => full.append(leaf)).toThrow(RangeError);
  });
});

describe('arguments', () => {
  it('rootOf, nodeHash and MerkleTree reject hashes that are not 32 bytes', () => {
    expect(() => rootOf([LEAVES[0]!, Buffer.alloc(33)])).toThrow(RangeError);
    expect(() => new MerkleTree([Buffer.alloc(31)])).toThrow(RangeError);
    expect(() => nodeHash(LEAVES[0]!, Buffer.alloc(0))).toThrow(RangeError);
    expect(() => nodeHash(Buffer.alloc(64), LEAVES[0]!)).toThrow(RangeError);
    expect(() => inclusionProof([LEAVES[0]!, Buffer.alloc(1)], 0, 2)).toThrow(RangeError);
  });

  const leaves = LEAVES.slice(0, 8);
  const tree = new MerkleTree(leaves);

  it.each([
    [0, 0],
    [-1, 8],
    [8, 8],
    [3, 2],
    [0, 9],
    [0.5, 8],
    [0, 7.5],
    [NaN, 8],
    [0, Infinity],
  ])('inclusionProof(index %d, size %d) throws RangeError', (index, size) => {
    expect(() => inclusionProof(leaves, index, size)).toThrow(RangeError);
    expect(() => tree.inclusionProof(index, size)).toThrow(RangeError);
  });

  it.each([
    [0, 8],
    [0, 0],
    [-1, 8],
    [5, 4],
    [1, 9],
    [1.5, 8],
    [1, NaN],
  ])('consistencyProof(%d, %d) throws RangeError', (oldSize, newSize) => {
    expect(() => consistencyProof(leaves, oldSize, newSize)).toThrow(RangeError);
    expect(() => tree.consistencyProof(oldSize, newSize)).toThrow(RangeError);
  });

  it('MerkleTree.root rejects sizes outside 0..size', () => {
    expect(tree.root(0)).toEqual(EMPTY_ROOT);
    for (const size of [-1, 9, 1.5, NaN]) expect(() => tree.root(size)).toThrow(RangeError);
  });

  const garbage: unknown[] = [undefined, null, 'x'.repeat(32), new Uint8Array(32), Buffer.alloc(31), Buffer.alloc(33)];

  it('verifyInclusion returns false, never throws, on malformed input', () => {
    const proof = tree.inclusionProof(3, 8);
    const [leaf, root] = [leaves[3]!, ROOTS[8]!];
    expect(verifyInclusion(leaf, 3, 8, proof, root)).toBe(true);
    for (const bad of garbage as Buffer[]) {
      expect(verifyInclusion(bad, 3, 8, proof, root)).toBe(false);
      expect(verifyInclusion(leaf, 3, 8, proof, bad)).toBe(false);
      expect(verifyInclusion(leaf, 3, 8, [proof[0]!, bad, proof[2]!], root)).toBe(false);
    }
    expect(verifyInclusion(leaf, 3, 8, 'proof' as unknown as Buffer[], root)).toBe(false);
    expect(verifyInclusion(leaf, 3, 8, null as unknown as Buffer[], root)).toBe(false);
    expect(verifyInclusion(leaf, 3, 8, [...proof, ...Array<Buffer>(100).fill(OTHER_HASH)], root)).toBe(false);
    // One leaf: the root is the leaf hash and the proof is empty.
    expect(verifyInclusion(leaf, 0, 1, [], leaf)).toBe(true);
    for (const [index, size] of [
      [0, 0],
      [1, 1],
      [8, 8],
      [-1, 8],
      [3, -8],
      [3.5, 8],
      [NaN, 8],
      [3, Infinity],
    ] as const) {
      expect(verifyInclusion(leaf, index, size, proof, root)).toBe(false);
    }
  });

  it('verifyConsistency returns false, never throws, on malformed input', () => {
    const proof = tree.consistencyProof(3, 8);
    const [oldRoot, newRoot] = [ROOTS[3]!, ROOTS[8]!];
    expect(verifyConsistency(3, 8, oldRoot, newRoot, proof)).toBe(true);
    for (const bad of garbage as Buffer[]) {
      expect(verifyConsistency(3, 8, bad, newRoot, proof)).toBe(false);
      expect(verifyConsistency(3, 8, oldRoot, bad, proof)).toBe(false);
      expect(verifyConsistency(3, 8, oldRoot, newRoot, [bad, ...proof.slice(1)])).toBe(false);
    }
    expect(verifyConsistency(3, 8, oldRoot, newRoot, 'proof' as unknown as Buffer[])).toBe(false);
    expect(verifyConsistency(3, 8, oldRoot, newRoot, [...proof, ...Array<Buffer>(100).fill(OTHER_HASH)])).toBe(false);
    expect(verifyConsistency(3, 8, oldRoot, newRoot, [])).toBe(false);
    // Equal sizes: an empty proof and equal roots, nothing else.
    expect(verifyConsistency(8, 8, newRoot, newRoot, [])).toBe(true);
    expect(verifyConsistency(8, 8, newRoot, newRoot, [newRoot])).toBe(false);
    expect(verifyConsistency(8, 8, oldRoot, newRoot, [])).toBe(false);
    // The empty tree is outside the domain, as for consistencyProof.
    expect(verifyConsistency(0, 8, EMPTY_ROOT, newRoot, [])).toBe(false);
    expect(verifyConsistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])).toBe(false);
    for (const [m, n] of [
      [8, 3],
      [-1, 8],
      [3, 8.5],
      [NaN, 8],
      [3, Infinity],
    ] as const) {
      expect(verifyConsistency(m, n, oldRoot, newRoot, proof)).toBe(false);
    }
  });

  it('returns roots that are copies: writing into one changes nothing', () => {
    const root = rootOf([]);
    root.fill(1);
    expect(rootOf([])).toEqual(EMPTY_ROOT);
    expect(hex(EMPTY_ROOT)).toBe(KAT_EMPTY_ROOT);
    const single = rootOf([LEAVES[0]!]);
    expect(single).not.toBe(LEAVES[0]);
    single.fill(0);
    expect(hex(LEAVES[0]!)).not.toBe('00'.repeat(32));
  });
});
