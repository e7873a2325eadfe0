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
export { LedgerChain, GENESIS_PREV, ledgerMessage, checkpointValue } from './chain';
export type { SealedRecord, SealedCheckpoint, SignedValue } from './chain';
export { MIRROR_PREFIX, mirrorKey, writeMirrorObject, listMirrorKeys, decodeMirrorObject } from './mirror';
export type { MirrorObject } from './mirror';
export { TopicLedgerSource, StoreLedgerSource } from './source';
export type { LedgerSource, LedgerItem, LedgerStart } from './source';
export { TrustedLedger } from './follower';
export type { LedgerTrust, TrustedLedgerItem, TrustedLedgerOptions, TrustedLedgerSource } from './follower';
export { loadLedgerTrust, UNVERIFIED_WARNING } from './trust';
export { runLedgerSequencer } from './sequencer';
export type { RunningSequencer, LedgerSequencerOptions } from './sequencer';
export { LedgerSigningKey, LedgerVerifyingKey, keyIdOf, loadSigningKey, loadVerifyingKey } from './signing';
