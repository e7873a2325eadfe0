export { LedgerWriter, replayLedger, latestSnapshot, listSnapshots, findSnapshot } from './ledger';
export type { LedgerEntry, ReplayOptions } from './ledger';
