export { ArchiverPartition, MAX_CORRUPT_REPORTS } from './archiver-partition';
export type { ArchiverDeps, LedgerPort } from './archiver-partition';
export { runArchiver } from './archiver-service';
export type { RunningArchiver, ArchiverServiceOptions } from './archiver-service';
export { Bitmap } from './bitmap';
export { LedgerIndex, indexedLedger } from './ledger-index';
