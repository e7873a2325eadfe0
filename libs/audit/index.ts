export { LedgerChainVerifier } from './verify-ledger';
export type { LedgerFinding, LedgerFindingKind, AcceptedRecord, LedgerChainSummary } from './verify-ledger';
export { RepositoryDataChecker, USED_BY_CAP } from './data-check';
export type { DataFinding, DataFindingKind, DataCheckStats, DataCheckOptions } from './data-check';
export { checkProof, inclusionProof, consistencyProof, inclusionProofSchema, consistencyProofSchema } from './proofs';
export type { Proof, InclusionProof, ConsistencyProof, ProofClaims } from './proofs';
