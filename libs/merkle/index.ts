/**
 * Certificate Transparency's Merkle tree (RFC 6962 / RFC 9162 §2.1, SHA-256): tree heads
 * and inclusion and consistency proofs any CT tooling can check. Pure; no I/O.
 */

/** Hashing: leaves, interior nodes, the empty tree, the root of a list of leaf hashes. */
export { HASH_BYTES, leafHash, nodeHash, EMPTY_ROOT, rootOf } from './merkle';

/**
 * Proofs over a list of leaf hashes (O(n) hashes each) and their verification, which
 * returns false on any bad input instead of throwing.
 */
export { inclusionProof, verifyInclusion, consistencyProof, verifyConsistency } from './merkle';

/**
 * MerkleFrontier: the append-only root in O(log n) memory, with a JSON state to persist.
 * MerkleTree: a fixed list with its perfect subtrees cached, for serving many proofs.
 */
export { MerkleFrontier, MerkleTree } from './merkle';
