import pLimit from 'p-limit';
import type { BlockDecoder } from '../blocks';
import type { InlinePayload } from '../changes';
import type { ChangesLedgerEntry } from '../ledger';
import type { ObjectStore } from '../store';
import { distinctVersions } from './dedupe';
import { fetchInOrder, fetchPayload } from './payload';
import { renderVersion, type PitFormat } from './render';
import type { RecordSink } from './sinks';
import { StateBuilder } from './state';
import { committedVersions, emptyScanStats, type ScanStats } from './versions';
import type { CommittedVersion } from './version';

export interface PitDeps {
  store: ObjectStore;
  decoder: BlockDecoder;
  /** Object-store requests in flight, and payloads fetched ahead (store.concurrency). */
  concurrency: number;
  /** Payload bytes fetched ahead of the one being written (default 64 MiB). */
  maxBufferedBytes?: number;
  onProgress?(progress: PitProgress): void;
}

export interface PitProgress {
  /** scan: replaying the ledger and reading manifests; write: fetching and writing payloads. */
  phase: 'scan' | 'write';
  batches: number;
  versions: number;
  /** Keys live at the moment (while scanning: keys with a version by then, deleted ones too). */
  keys: number;
  keysWritten: number;
  /** Payload bytes fetched and verified. */
  bytes: number;
  /** Bytes of rendered records written. */
  outputBytes: number;
  elapsedMs: number;
}

export interface RestoreAtOptions {
  source: string;
  /** The moment, in epoch milliseconds: versions with tsMs <= atMs count. */
  atMs: number;
  format: PitFormat;
}

export interface RestoreAtResult extends Omit<PitProgress, 'phase'> {
  atMs: number;
  batchesSkipped: number;
  /** Versions after the moment, read and ignored. */
  versionsLater: number;
}

const DEFAULT_MAX_BUFFERED_BYTES = 64 * 1024 * 1024;

/**
 * Point-in-time restore: writes the state of every key of `source` at `atMs` (see
 * StateBuilder for what that is) to `sink`, one record per live key, sorted by key.
 *
 * Two passes: the first replays the change-batch records of the ledger (`entries`) and
 * their manifests, keeping one entry per key (see StateBuilder); the second fetches each live key's
 * payload (every chunk's hash checked, then the payload's), renders it and writes it, with
 * up to `concurrency` payloads fetched ahead in order. On success the sink is committed;
 * on any failure it is aborted and the error (PitError for a missing or corrupt block,
 * naming the key and the block) is thrown.
 */
export async function restoreAt(
  entries: AsyncIterable<ChangesLedgerEntry>,
  options: RestoreAtOptions,
  sink: RecordSink,
  deps: PitDeps,
): Promise<RestoreAtResult> {
  const started = Date.now();
  const stats = emptyScanStats();
  const state = new StateBuilder(options.atMs);
  let phase: PitProgress['phase'] = 'scan';
  let keysWritten = 0;
  let bytes = 0;
  let outputBytes = 0;
  let live: CommittedVersion[] = [];
  const progress = (): PitProgress => ({
    phase,
    batches: stats.batches,
    versions: stats.versions,
    keys: phase === 'scan' ? state.keysSeen : live.length,
    keysWritten,
    bytes,
    outputBytes,
    elapsedMs: Date.now() - started,
  });
  const ticker = deps.onProgress ? setInterval(() => deps.onProgress?.(progress()), 1000) : undefined;
  try {
    for await (const version of committedVersions(entries, deps, { source: options.source, stats })) {
      state.add(version);
    }
    live = state.sorted();
    phase = 'write';
    const fetched = fetchInOrder(live, deps, {
      concurrency: deps.concurrency,
      maxBufferedBytes: deps.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES,
    });
    for await (const { version, payload } of fetched) {
      const record = renderVersion(version, payload, options.format);
      await sink.write(record);
      keysWritten += 1;
      bytes += payload.size;
      outputBytes += Buffer.byteLength(record.value);
    }
    await sink.commit();
  } catch (err) {
    await sink.abort().catch(() => undefined);
    throw err;
  } finally {
    if (ticker) clearInterval(ticker);
  }
  const { phase: _phase, ...totals } = progress();
  return {
    ...totals,
    atMs: options.atMs,
    batchesSkipped: stats.batchesSkipped,
    versionsLater: state.later,
  };
}

export interface HistoryOptions {
  source: string;
  /** The canonical key (libs/changes canonicalKey). */
  key: string;
  /** Fetch and verify each upsert's payload. */
  withData?: boolean;
}

export interface HistoryEntry {
  version: CommittedVersion;
  /** With withData, an upsert's payload (verified); null for a delete. */
  payload?: InlinePayload | null;
}

export interface HistoryResult {
  versions: number;
  /** Versions dropped as copies of their predecessor (see AdjacentDedupe). */
  duplicates: number;
  scan: ScanStats;
}

/**
 * A key's versions in time order (equal times in log order), each distinct event once
 * (distinctVersions), with their payloads when asked: the versions StateBuilder chooses
 * from, so the state at T is the last of them with tsMs <= T. Reads every change batch
 * that holds a version of the source (there is no index by key) and keeps the key's
 * versions, without payloads, in memory to order them. The result's counts are complete
 * once iteration has ended.
 */
export function keyHistory(
  entries: AsyncIterable<ChangesLedgerEntry>,
  options: HistoryOptions,
  deps: Pick<PitDeps, 'store' | 'decoder' | 'concurrency'>,
): { entries: AsyncGenerator<HistoryEntry>; result: HistoryResult } {
  const scan = emptyScanStats();
  const result: HistoryResult = { versions: 0, duplicates: 0, scan };
  const limit = pLimit(Math.max(1, Math.floor(deps.concurrency)));
  async function* run(): AsyncGenerator<HistoryEntry> {
    const log: CommittedVersion[] = [];
    for await (const version of committedVersions(entries, deps, { source: options.source, stats: scan })) {
      if (version.key === options.key) log.push(version);
    }
    const versions = distinctVersions(log);
    result.versions = versions.length;
    result.duplicates = log.length - versions.length;
    for (const version of versions) {
      if (!options.withData) yield { version };
      else if (version.op === 'delete') yield { version, payload: null };
      else yield { version, payload: await fetchPayload(version, deps, limit) };
    }
  }
  return { entries: run(), result };
}
