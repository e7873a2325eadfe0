import type { BlockDecoder } from '../blocks';
import { BlockError } from '../errors';
import type { ChangesLedgerEntry } from '../ledger';
import { changeVersions, readChangeBatchManifest } from '../manifest';
import type { ObjectStore } from '../store';
import type { CommittedVersion } from './version';

export interface VersionReaderDeps {
  store: ObjectStore;
  decoder: BlockDecoder;
}

/** What a pass over the ledger read. */
export interface ScanStats {
  /** Change-batch records whose manifest was read. */
  batches: number;
  /** Records skipped without reading their manifest: none of their versions is of the source. */
  batchesSkipped: number;
  /** Versions yielded. */
  versions: number;
  /** Manifest lines outside their record's [fromOffset, toOffset]: committed by another record. */
  outsideRange: number;
  /** Versions at an offset an earlier record had committed already (overlapping records). */
  overlapping: number;
}

export function emptyScanStats(): ScanStats {
  return { batches: 0, batchesSkipped: 0, versions: 0, outsideRange: 0, overlapping: 0 };
}

export interface CommittedVersionsOptions {
  /** Only versions of this source; records without it in `sources` are skipped unread. */
  source?: string;
  /** Filled in while iterating. */
  stats?: ScanStats;
}

/**
 * Every committed version, in ledger order: for each change-batch record, the versions of
 * its manifest whose offset lies in [fromOffset, toOffset] (a batch published again after
 * a crash has a manifest that also lists offsets an earlier record committed), one
 * manifest segment in memory at a time.
 *
 * Each offset of a change topic partition is yielded once: records of one partition come
 * in offset order, so an offset at or below the highest one yielded for its partition was
 * committed already. The archiver appends no such record; two archivers briefly owning one
 * partition could (docs/architecture.md, limits), and this keeps the first.
 *
 * `entries` is the ledger's change-batch records (libs/ledger replayChangeCommits, see
 * ledgerChangeCommits), taken as a parameter so tests need no broker.
 */
export async function* committedVersions(
  entries: AsyncIterable<ChangesLedgerEntry>,
  deps: VersionReaderDeps,
  options: CommittedVersionsOptions = {},
): AsyncGenerator<CommittedVersion> {
  const stats = options.stats ?? emptyScanStats();
  const interned = new Map<string, string>();
  const intern = (text: string): string => {
    const known = interned.get(text);
    if (known !== undefined) return known;
    if (interned.size < 10_000) interned.set(text, text);
    return text;
  };
  const through = new Map<string, bigint>();
  for await (const { offset: ledgerOffset, record } of entries) {
    if (record.versions === 0 || (options.source !== undefined && !record.sources.includes(options.source))) {
      stats.batchesSkipped += 1;
      continue;
    }
    stats.batches += 1;
    const manifest = await readChangeBatchManifest(deps.store, deps.decoder, record.manifest);
    if (
      manifest.snapshotId !== record.snapshotId ||
      manifest.topic !== record.topic ||
      manifest.partition !== record.partition
    ) {
      throw new BlockError(
        'BLOCK_CORRUPT',
        record.manifest.key,
        `${record.manifest.key} is not the manifest of change batch ${record.snapshotId} (${record.topic}/${record.partition})`,
      );
    }
    const partitionKey = `${record.topic}\u0000${record.partition}`;
    const from = BigInt(record.fromOffset);
    const to = BigInt(record.toOffset);
    for await (const line of changeVersions(deps.store, deps.decoder, manifest)) {
      const offset = BigInt(line.offset);
      if (offset < from || offset > to) {
        stats.outsideRange += 1;
        continue;
      }
      const last = through.get(partitionKey);
      if (last !== undefined && offset <= last) {
        stats.overlapping += 1;
        continue;
      }
      through.set(partitionKey, offset);
      if (options.source !== undefined && line.source !== options.source) continue;
      const { snapshotId: _snapshotId, ...version } = line;
      stats.versions += 1;
      // Strings every version repeats are shared, not one copy per version: a point-in-time
      // restore keeps a version per key in memory.
      version.source = intern(line.source);
      if (line.contentType !== undefined) version.contentType = intern(line.contentType);
      yield { ...version, topic: record.topic, partition: record.partition, batchId: record.snapshotId, ledgerOffset };
    }
  }
}
