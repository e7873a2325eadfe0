export {
  LedgerWriter,
  replayLedger,
  replayLedgerRecords,
  replayChangeCommits,
  latestSnapshot,
  listSnapshots,
  findSnapshot,
} from './ledger';
export type { LedgerEntry, ChangesLedgerEntry, ReplayOptions } from './ledger';
