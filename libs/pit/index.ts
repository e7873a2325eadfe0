export { restoreAt, keyHistory } from './pit';
export type {
  PitDeps,
  PitProgress,
  RestoreAtOptions,
  RestoreAtResult,
  HistoryOptions,
  HistoryEntry,
  HistoryResult,
} from './pit';
export { committedVersions, emptyScanStats } from './versions';
export type { ScanStats, CommittedVersionsOptions, VersionReaderDeps } from './versions';
export { AdjacentDedupe, dedupeAdjacent, distinctVersions, timeOrder } from './dedupe';
export { StateBuilder } from './state';
export { fetchPayload, fetchInOrder } from './payload';
export type { PayloadDeps, FetchInOrderOptions } from './payload';
export { PIT_FORMATS, renderVersion, fileLine, keyAsJson, toChange, dataMembers } from './render';
export type { PitFormat, RenderedRecord } from './render';
export { FileSink, KafkaSink, MemorySink } from './sinks';
export type { RecordSink, KafkaSinkOptions } from './sinks';
export { ledgerChangeCommits, pullEntries } from './ledger-source';
export { parseInstant, INSTANT_FORMS } from './time';
export { PitError } from './errors';
export { compareKeys, versionKey } from './version';
export type { CommittedVersion } from './version';
