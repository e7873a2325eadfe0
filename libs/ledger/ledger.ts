import type { Producer } from 'kafkajs';
import {
  encodeJson,
  ledgerRecordOf,
  type ChangesCommitRecord,
  type LedgerRecord,
  type SnapshotCommitRecord,
} from '../events';
import { BackstreamError } from '../errors';
import { withTraceContext } from '../telemetry';
import type { LedgerSource } from './source';

export interface LedgerEntry {
  offset: string;
  record: SnapshotCommitRecord;
}

export interface ChangesLedgerEntry {
  offset: string;
  record: ChangesCommitRecord;
}

/**
 * Sends commit intents to the ledger-intents topic; the ledger sequencer chains, signs and
 * appends them to the ledger. A send returns once all in-sync replicas have the intent:
 * from then on the commit will happen (the sequencer retries until it does), and an
 * intent sent twice is appended once.
 */
export class LedgerWriter {
  constructor(
    private readonly producer: Producer,
    private readonly intentsTopic: string,
  ) {}

  async append(record: SnapshotCommitRecord): Promise<void> {
    await this.producer.send({
      topic: this.intentsTopic,
      acks: -1,
      messages: [withTraceContext(encodeJson('snapshot-commit', record, record.snapshotId))],
    });
  }

  async appendChanges(record: ChangesCommitRecord): Promise<void> {
    await this.producer.send({
      topic: this.intentsTopic,
      acks: -1,
      messages: [withTraceContext(encodeJson('changes-commit', record, record.snapshotId))],
    });
  }
}

export interface ReplayOptions {
  /** Called for a ledger message that is not a valid commit record; replay skips it. */
  onInvalid?(at: string, reason: string): void;
}

/**
 * Replays the ledger from the beginning to its current end, calling `onRecord` for each
 * commit record (of a snapshot or of a change batch) in order; checkpoints are skipped.
 * An id seen twice keeps its first record. Signatures and the chain are not checked here:
 * that is `ledger verify` (libs/audit); restores check every byte against its hash.
 */
export async function replayLedgerRecords(
  source: LedgerSource,
  onRecord: (offset: string, item: LedgerRecord) => void | Promise<void>,
  options: ReplayOptions = {},
): Promise<void> {
  const seen = new Set<string>();
  await source.read(async (item) => {
    if (item.kind === 'invalid') {
      options.onInvalid?.(item.at, item.reason);
      return;
    }
    if (item.kind === 'checkpoint') return;
    const { chained } = item;
    if (seen.has(chained.record.snapshotId)) return;
    seen.add(chained.record.snapshotId);
    // Read from the store mirror there is no Kafka offset: the sequence number stands in.
    await onRecord(item.offset ?? `seq ${chained.seq}`, ledgerRecordOf(chained));
  });
}

/** Replays the snapshot commit records of the ledger, in order (see replayLedgerRecords). */
export async function replayLedger(
  source: LedgerSource,
  onEntry: (entry: LedgerEntry) => void | Promise<void>,
  options: ReplayOptions = {},
): Promise<void> {
  await replayLedgerRecords(
    source,
    (offset, item) => (item.type === 'snapshot-commit' ? onEntry({ offset, record: item.record }) : undefined),
    options,
  );
}

/** Replays the change-batch commit records of the ledger, in order (see replayLedgerRecords). */
export async function replayChangeCommits(
  source: LedgerSource,
  onEntry: (entry: ChangesLedgerEntry) => void | Promise<void>,
  options: ReplayOptions = {},
): Promise<void> {
  await replayLedgerRecords(
    source,
    (offset, item) => (item.type === 'changes-commit' ? onEntry({ offset, record: item.record }) : undefined),
    options,
  );
}

/** The most recent committed snapshot of a source, or undefined. */
export async function latestSnapshot(ledger: LedgerSource, source: string): Promise<LedgerEntry | undefined> {
  let latest: LedgerEntry | undefined;
  await replayLedger(ledger, (entry) => {
    if (entry.record.source === source) latest = entry;
  });
  return latest;
}

/** Every committed snapshot in ledger order, optionally of one source. */
export async function listSnapshots(ledger: LedgerSource, source?: string): Promise<LedgerEntry[]> {
  const out: LedgerEntry[] = [];
  await replayLedger(ledger, (entry) => {
    if (source === undefined || entry.record.source === source) out.push(entry);
  });
  return out;
}

/**
 * Resolves "latest" (of a source, or of all) or a snapshot id — or a unique prefix of at
 * least 6 characters — to its ledger entry; throws SNAPSHOT_NOT_FOUND otherwise.
 */
export async function findSnapshot(ledger: LedgerSource, ref: string, source?: string): Promise<LedgerEntry> {
  const all = await listSnapshots(ledger, source);
  if (ref === 'latest') {
    const last = all[all.length - 1];
    if (last) return last;
    throw new BackstreamError(
      'SNAPSHOT_NOT_FOUND',
      `no committed snapshot${source ? ` of source ${source}` : ''} in the ledger`,
      {
        retriable: false,
      },
    );
  }
  const matches = ref.length >= 6 ? all.filter((e) => e.record.snapshotId.startsWith(ref.toLowerCase())) : [];
  if (matches.length === 1) return matches[0] as LedgerEntry;
  throw new BackstreamError(
    'SNAPSHOT_NOT_FOUND',
    matches.length > 1
      ? `snapshot id prefix ${ref} is ambiguous (${matches.length} snapshots)`
      : `no committed snapshot ${ref}`,
    { retriable: false, hint: 'list them with `backstream snapshots`' },
  );
}
