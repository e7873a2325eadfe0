export { LedgerWriter, replayLedger, latestSnapshot } from './ledger';
export type { LedgerEntry, ReplayOptions } from './ledger';
