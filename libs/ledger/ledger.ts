import type { Kafka, Producer } from 'kafkajs';
import { readTopic } from '../bus';
import {
  decodeLedgerRecord,
  encodeJson,
  type ChangesCommitRecord,
  type LedgerRecord,
  type SnapshotCommitRecord,
} from '../events';
import { BackstreamError, describeError } from '../errors';

export interface LedgerEntry {
  offset: string;
  record: SnapshotCommitRecord;
}

export interface ChangesLedgerEntry {
  offset: string;
  record: ChangesCommitRecord;
}

/** Appends commit records to the ledger topic; an append returns once all in-sync replicas have it. */
export class LedgerWriter {
  constructor(
    private readonly producer: Producer,
    private readonly topic: string,
  ) {}

  async append(record: SnapshotCommitRecord): Promise<void> {
    await this.producer.send({
      topic: this.topic,
      acks: -1,
      messages: [encodeJson('snapshot-commit', record, record.snapshotId)],
    });
  }

  async appendChanges(record: ChangesCommitRecord): Promise<void> {
    await this.producer.send({
      topic: this.topic,
      acks: -1,
      messages: [encodeJson('changes-commit', record, record.snapshotId)],
    });
  }
}

export interface ReplayOptions {
  /** Called for a ledger message that is not a valid commit record; replay skips it. */
  onInvalid?(offset: string, reason: string): void;
  /** Start at this offset instead of the beginning. */
  fromOffset?: string;
}

/**
 * Replays the ledger from the beginning to its current end, calling `onRecord` for each
 * commit record (of a snapshot or of a change batch) in order. An id seen twice keeps its
 * first record: the first append is the commit; a later duplicate changes nothing.
 */
export async function replayLedgerRecords(
  kafka: Kafka,
  topic: string,
  onRecord: (offset: string, item: LedgerRecord) => void | Promise<void>,
  options: ReplayOptions = {},
): Promise<void> {
  const seen = new Set<string>();
  const reader = await readTopic(kafka, {
    topic,
    stopAtEnd: true,
    ...(options.fromOffset !== undefined ? { startOffsets: new Map([[0, options.fromOffset]]) } : {}),
    onMessage: async (_partition, message) => {
      let item: LedgerRecord;
      try {
        item = decodeLedgerRecord(message);
      } catch (err) {
        options.onInvalid?.(message.offset, describeError(err));
        return;
      }
      if (seen.has(item.record.snapshotId)) return;
      seen.add(item.record.snapshotId);
      await onRecord(message.offset, item);
    },
  });
  await reader.done;
}

/** Replays the snapshot commit records of the ledger, in order (see replayLedgerRecords). */
export async function replayLedger(
  kafka: Kafka,
  topic: string,
  onEntry: (entry: LedgerEntry) => void | Promise<void>,
  options: ReplayOptions = {},
): Promise<void> {
  await replayLedgerRecords(
    kafka,
    topic,
    (offset, item) => (item.type === 'snapshot-commit' ? onEntry({ offset, record: item.record }) : undefined),
    options,
  );
}

/** Replays the change-batch commit records of the ledger, in order (see replayLedgerRecords). */
export async function replayChangeCommits(
  kafka: Kafka,
  topic: string,
  onEntry: (entry: ChangesLedgerEntry) => void | Promise<void>,
  options: ReplayOptions = {},
): Promise<void> {
  await replayLedgerRecords(
    kafka,
    topic,
    (offset, item) => (item.type === 'changes-commit' ? onEntry({ offset, record: item.record }) : undefined),
    options,
  );
}

/** The most recent committed snapshot of a source, or undefined. */
export async function latestSnapshot(kafka: Kafka, topic: string, source: string): Promise<LedgerEntry | undefined> {
  let latest: LedgerEntry | undefined;
  await replayLedger(kafka, topic, (entry) => {
    if (entry.record.source === source) latest = entry;
  });
  return latest;
}

/** Every committed snapshot in ledger order, optionally of one source. */
export async function listSnapshots(kafka: Kafka, topic: string, source?: string): Promise<LedgerEntry[]> {
  const out: LedgerEntry[] = [];
  await replayLedger(kafka, topic, (entry) => {
    if (source === undefined || entry.record.source === source) out.push(entry);
  });
  return out;
}

/**
 * Resolves "latest" (of a source, or of all) or a snapshot id — or a unique prefix of at
 * least 6 characters — to its ledger entry; throws SNAPSHOT_NOT_FOUND otherwise.
 */
export async function findSnapshot(kafka: Kafka, topic: string, ref: string, source?: string): Promise<LedgerEntry> {
  const all = await listSnapshots(kafka, topic, source);
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
