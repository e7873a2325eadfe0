import { z } from 'zod';

/**
 * The event contracts between the services, version 1. Every message carries the headers
 * `bs-type` (one of EVENT_TYPES) and `bs-version`; chunk events carry their metadata in
 * the `bs-meta` header and the chunk bytes, raw, as the value; all other events are JSON
 * values. A consumer that cannot decode a message sends it to the dead-letter topic.
 */
export const SCHEMA_VERSION = 1;

const hash = z.string().regex(/^[0-9a-f]{64}$/, 'a lower-case hex SHA-256');
const snapshotId = z.string().regex(/^[0-9a-f]{32}$/, 'a 32-character hex snapshot id');
const seq = z.number().int().nonnegative();
/** The largest chunk seq: unsigned 32 bits, so that no seq is rounded or wraps onto another. */
export const MAX_CHUNK_SEQ = 2 ** 32 - 1;
const chunkSeq = z.number().int().nonnegative().max(MAX_CHUNK_SEQ);
const chunkCount = z
  .number()
  .int()
  .nonnegative()
  .max(MAX_CHUNK_SEQ + 1);
const size = z.number().int().nonnegative();
const sourceName = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[A-Za-z0-9._:@/-]+$/, 'letters, digits and . _ : @ / -');

/** Chunk bytes on their way to storage (topic chunks). `seq` numbers the chunks a snapshot waits for. */
export const chunkMetaSchema = z.strictObject({
  snapshotId,
  source: sourceName,
  seq: chunkSeq,
  hash,
  size,
  /** A repair overwrites a block that verification found corrupt. */
  repair: z.boolean().optional(),
});
export type ChunkMeta = z.infer<typeof chunkMetaSchema>;
export interface ChunkEvent {
  meta: ChunkMeta;
  data: Buffer;
}

/** A block is in object storage (topic stored): uploaded now, or found there already. */
export const chunkStoredSchema = z.strictObject({
  snapshotId,
  seq: chunkSeq,
  hash,
  size,
  storedSize: size,
  key: z.string().min(1),
  origin: z.enum(['uploaded', 'existing']),
});
export type ChunkStoredEvent = z.infer<typeof chunkStoredSchema>;

/** The block decodes to bytes with the chunk's hash (topic progress). */
export const chunkVerifiedSchema = z.strictObject({ snapshotId, seq: chunkSeq, hash, size, storedSize: size });
export type ChunkVerifiedEvent = z.infer<typeof chunkVerifiedSchema>;

/** The block is missing or does not decode to the chunk's hash (topic progress). */
export const chunkCorruptSchema = z.strictObject({
  snapshotId,
  seq: chunkSeq,
  hash,
  key: z.string(),
  reason: z.string(),
});
export type ChunkCorruptEvent = z.infer<typeof chunkCorruptSchema>;

const chunkRef = z.strictObject({ hash, size });
export type ChunkRef = z.infer<typeof chunkRef>;

/**
 * One tree entry (topic progress). A regular file's chunk list is split into parts of at
 * most FILE_PART_MAX_CHUNKS so that no message grows with the file; `last` marks the
 * final part, which also carries the whole file's SHA-256.
 */
export const FILE_PART_MAX_CHUNKS = 2048;
export const fileSchema = z
  .strictObject({
    snapshotId,
    path: z.string().min(1),
    kind: z.enum(['file', 'dir', 'symlink']),
    mode: z.number().int().nonnegative(),
    mtimeMs: z.number(),
    size,
    ino: z.number().nonnegative().optional(),
    target: z.string().optional(),
    part: z.number().int().nonnegative(),
    last: z.boolean(),
    chunks: z.array(chunkRef).max(FILE_PART_MAX_CHUNKS),
    contentHash: hash.optional(),
  })
  .refine((f) => f.kind !== 'symlink' || f.target !== undefined, 'a symlink needs its target')
  .refine((f) => f.kind === 'file' || f.chunks.length === 0, 'only regular files have chunks')
  .refine((f) => f.kind !== 'file' || !f.last || f.contentHash !== undefined, "a file's last part needs contentHash");
export type FileEvent = z.infer<typeof fileSchema>;

/**
 * What every record of a snapshot says about it: the sealed event, the manifest and the
 * ledger record all carry these fields, in this order.
 */
export const snapshotSummaryShape = {
  snapshotId,
  source: sourceName,
  host: z.string(),
  root: z.string(),
  parent: snapshotId.nullable(),
  startedAt: z.iso.datetime(),
  finishedAt: z.iso.datetime(),
  /** Chunk seqs issued: the archiver waits for 0 … chunkCount-1 to be verified. */
  chunkCount,
  files: z.number().int().nonnegative(),
  dirs: z.number().int().nonnegative(),
  symlinks: z.number().int().nonnegative(),
  totalBytes: size,
  /** Chunk bytes this snapshot sent through Kafka (not found in storage already). */
  sentBytes: size,
};
export const snapshotSummarySchema = z.strictObject(snapshotSummaryShape);
export type SnapshotSummary = z.infer<typeof snapshotSummarySchema>;

/** The producer has published every file and chunk of the snapshot (topic progress). */
export const snapshotSealedSchema = z.strictObject({
  ...snapshotSummaryShape,
  /** File event messages published (parts included), so the archiver knows it has all. */
  fileEventCount: z.number().int().nonnegative(),
});
export type SnapshotSealedEvent = z.infer<typeof snapshotSealedSchema>;

/** The summary part of a sealed event. */
export function snapshotSummary(sealed: SnapshotSealedEvent): SnapshotSummary {
  const { fileEventCount: _fileEventCount, ...summary } = sealed;
  return summary;
}

/** The snapshot will not be committed (topic progress). */
export const snapshotFailedSchema = z.strictObject({ snapshotId, reason: z.string() });
export type SnapshotFailedEvent = z.infer<typeof snapshotFailedSchema>;

/** A reference to an object in the store, with the SHA-256 of its stored bytes. */
export const objectRefSchema = z.strictObject({ key: z.string().min(1), sha256: hash, size });
export type ObjectRef = z.infer<typeof objectRefSchema>;

/**
 * The commit record of a snapshot (topic ledger): the single commit point. It names the
 * snapshot manifest, which names the file-list segments, which name every chunk.
 */
export const snapshotCommitSchema = z.strictObject({
  ...snapshotSummaryShape,
  committedAt: z.iso.datetime(),
  manifest: objectRefSchema,
});
export type SnapshotCommitRecord = z.infer<typeof snapshotCommitSchema>;

/** A record offset in a Kafka partition, as kafkajs writes it (a decimal string). */
const offset = z.string().regex(/^\d{1,19}$/, 'a decimal Kafka offset');
const changeTopic = z.string().min(1).max(249);

/**
 * A change batch is the unit in which change events from one partition of one change topic
 * are committed: a snapshot whose entries are key versions instead of files. Its events
 * are keyed by `changes:<topic>:<partition>` on the progress topic, so that one archiver
 * handles every batch of that partition, in order.
 *
 * One version of one key (topic progress): the change record at `offset`, its identity
 * (libs/changes changeId) and, for an upsert, its payload's chunks, which went through the
 * chunk pipeline like a file's content.
 */
export const changeVersionSchema = z
  .strictObject({
    snapshotId,
    offset,
    id: hash,
    source: sourceName,
    key: z.string().min(1),
    op: z.enum(['upsert', 'delete']),
    tsMs: z.number().int(),
    format: z.enum(['native', 'debezium', 'tombstone']),
    contentType: z.string().optional(),
    encoding: z.enum(['json', 'base64']).optional(),
    size: size.optional(),
    sha256: hash.optional(),
    chunks: z.array(chunkRef).max(FILE_PART_MAX_CHUNKS),
  })
  .refine(
    (v) => (v.op === 'delete') === (v.sha256 === undefined && v.size === undefined && v.chunks.length === 0),
    'an upsert has a payload (size, sha256, chunks), a delete none',
  );
export type ChangeVersionEvent = z.infer<typeof changeVersionSchema>;

/** The producer has published every version and chunk of a change batch (topic progress). */
export const changesSealedSchema = z.strictObject({
  snapshotId,
  topic: changeTopic,
  partition: z.number().int().nonnegative(),
  firstOffset: offset,
  lastOffset: offset,
  /** Chunk seqs issued: the archiver waits for 0 … chunkCount-1 to be verified. */
  chunkCount,
  /** Version events published, so the archiver knows it has all. */
  versionCount: z.number().int().nonnegative(),
  sentBytes: size,
  startedAt: z.iso.datetime(),
  finishedAt: z.iso.datetime(),
});
export type ChangesSealedEvent = z.infer<typeof changesSealedSchema>;

/**
 * The commit record of a change batch (topic ledger). It commits the versions of its
 * manifest whose offsets lie in [fromOffset, toOffset]: after a crash a batch may be
 * published again with other bounds, and the archiver commits each offset of a change
 * topic partition once, so fromOffset can be later than the batch's first offset.
 */
export const changesCommitSchema = z.strictObject({
  snapshotId,
  topic: changeTopic,
  partition: z.number().int().nonnegative(),
  fromOffset: offset,
  toOffset: offset,
  versions: z.number().int().nonnegative(),
  sources: z.array(sourceName),
  /** The earliest and latest change time among the committed versions; null when there are none. */
  minTsMs: z.number().int().nullable(),
  maxTsMs: z.number().int().nullable(),
  committedAt: z.iso.datetime(),
  manifest: objectRefSchema,
});
export type ChangesCommitRecord = z.infer<typeof changesCommitSchema>;

/**
 * A record of the ledger topic: a commit record sealed into the hash chain. `seq` numbers
 * the records from 0 without gaps; `prev` is the RFC 6962 leaf hash of the previous
 * record's value (64 zeros for seq 0), so the value of every record commits to all before
 * it. The value's exact bytes are the Merkle leaf; the `bs-sig` header holds the
 * sequencer's Ed25519 signature over them.
 */
export const chainedLedgerRecordSchema = z.discriminatedUnion('type', [
  z.strictObject({ seq, prev: hash, type: z.literal('snapshot-commit'), record: snapshotCommitSchema }),
  z.strictObject({ seq, prev: hash, type: z.literal('changes-commit'), record: changesCommitSchema }),
]);
export type ChainedLedgerRecord = z.infer<typeof chainedLedgerRecordSchema>;

/**
 * A signed tree head (topic ledger, and the store mirror): the RFC 6962 Merkle root of the
 * first `treeSize` records. `time` is event time (the last commit intent's), so that a
 * sequencer replaying after a crash writes the same bytes. `keyId`: the first 8 bytes of
 * the SHA-256 of the raw public key, hex.
 */
export const ledgerCheckpointSchema = z.strictObject({
  treeSize: size,
  root: hash,
  time: z.iso.datetime(),
  keyId: z.string().regex(/^[0-9a-f]{16}$/, 'a 16-digit hex key id'),
});
export type LedgerCheckpoint = z.infer<typeof ledgerCheckpointSchema>;

/** Every event type: the value of the bs-type header, its topic and its schema. */
export const EVENT_TYPES = {
  chunk: { topic: 'chunks', schema: chunkMetaSchema },
  'chunk-stored': { topic: 'stored', schema: chunkStoredSchema },
  'chunk-verified': { topic: 'progress', schema: chunkVerifiedSchema },
  'chunk-corrupt': { topic: 'progress', schema: chunkCorruptSchema },
  file: { topic: 'progress', schema: fileSchema },
  'snapshot-sealed': { topic: 'progress', schema: snapshotSealedSchema },
  'snapshot-failed': { topic: 'progress', schema: snapshotFailedSchema },
  'snapshot-commit': { topic: 'ledger-intents', schema: snapshotCommitSchema },
  change: { topic: 'progress', schema: changeVersionSchema },
  'changes-sealed': { topic: 'progress', schema: changesSealedSchema },
  'changes-commit': { topic: 'ledger-intents', schema: changesCommitSchema },
  'ledger-record': { topic: 'ledger', schema: chainedLedgerRecordSchema },
  'ledger-checkpoint': { topic: 'ledger', schema: ledgerCheckpointSchema },
} as const;
export type EventType = keyof typeof EVENT_TYPES;

/** The decoded form of each JSON event type. */
export interface JsonEventMap {
  'chunk-stored': ChunkStoredEvent;
  'chunk-verified': ChunkVerifiedEvent;
  'chunk-corrupt': ChunkCorruptEvent;
  file: FileEvent;
  'snapshot-sealed': SnapshotSealedEvent;
  'snapshot-failed': SnapshotFailedEvent;
  'snapshot-commit': SnapshotCommitRecord;
  change: ChangeVersionEvent;
  'changes-sealed': ChangesSealedEvent;
  'changes-commit': ChangesCommitRecord;
  'ledger-record': ChainedLedgerRecord;
  'ledger-checkpoint': LedgerCheckpoint;
}
export type JsonEventType = keyof JsonEventMap;
export type ProgressEvent =
  | { type: 'file'; event: FileEvent }
  | { type: 'snapshot-sealed'; event: SnapshotSealedEvent }
  | { type: 'chunk-verified'; event: ChunkVerifiedEvent }
  | { type: 'chunk-corrupt'; event: ChunkCorruptEvent }
  | { type: 'snapshot-failed'; event: SnapshotFailedEvent }
  | { type: 'change'; event: ChangeVersionEvent }
  | { type: 'changes-sealed'; event: ChangesSealedEvent };

/** What the ledger commits: snapshot commits and change-batch commits. */
export type LedgerRecord =
  { type: 'snapshot-commit'; record: SnapshotCommitRecord } | { type: 'changes-commit'; record: ChangesCommitRecord };

/** The commit record a chained ledger record carries. */
export function ledgerRecordOf(chained: ChainedLedgerRecord): LedgerRecord {
  return chained.type === 'snapshot-commit'
    ? { type: chained.type, record: chained.record }
    : { type: chained.type, record: chained.record };
}
