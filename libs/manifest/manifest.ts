import { createHash } from 'node:crypto';
import { z } from 'zod';
import { BlockDecoder, type BlockEncoder } from '../blocks';
import { BlockError } from '../errors';
import {
  changeVersionSchema,
  changesSealedSchema,
  fileSchema,
  type ChangeVersionEvent,
  type ChangesSealedEvent,
  type ChunkRef,
  objectRefSchema,
  snapshotSummary,
  snapshotSummaryShape,
  type FileEvent,
  type ObjectRef,
  type SnapshotSealedEvent,
} from '../events';
import { fileListKey, snapshotManifestKey, type ObjectStore } from '../store';
import { contentKeyProblem, snapshotIdOfManifestKey, type ContentKind } from './object-keys';

/**
 * What a committed snapshot consists of in the store:
 *   snapshot manifest (snapshots/<id>.json): the sealed totals and the list of segments;
 *   file-list segments (filelists/<sha256>): JSON lines, one FileEvent per line, in the
 *   order the producer walked the tree (a large file's parts on consecutive lines).
 * Both are stored in the block format (zstd) and addressed by the SHA-256 of their
 * decoded content, which the ledger record and the manifest carry.
 */
export const snapshotManifestSchema = z.strictObject({
  version: z.literal(1),
  ...snapshotSummaryShape,
  entries: z.number().int().nonnegative(),
  segments: z.array(objectRefSchema),
});
export type SnapshotManifest = z.infer<typeof snapshotManifestSchema>;

/**
 * The manifest of a change batch (snapshots/<id>.json as well): the sealed event and the
 * segments, whose lines are ChangeVersionEvents in offset order.
 */
export const changeBatchManifestSchema = z.strictObject({
  version: z.literal(1),
  kind: z.literal('changes'),
  ...changesSealedSchema.shape,
  entries: z.number().int().nonnegative(),
  segments: z.array(objectRefSchema),
});
export type ChangeBatchManifest = z.infer<typeof changeBatchManifestSchema>;

export function sha256Hex(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Writes content under a content address (create-only: rewriting after a crash is a no-op). */
export async function writeContentObject(
  store: ObjectStore,
  encoder: BlockEncoder,
  key: string,
  content: Buffer,
  sha256: string,
): Promise<ObjectRef> {
  const block = encoder.encode(content);
  await store.put(key, block, { ifNoneMatch: true });
  return { key, sha256, size: block.length };
}

/**
 * Reads a manifest or a segment written by writeContentObject and proves its content has
 * the recorded hash. The one place manifests and segments are read: a key outside its own
 * prefix is refused before anything is fetched (contentKeyProblem), so an encrypted
 * repository only ever opens them from names it seals and authenticates.
 */
export async function readContentObject(
  store: ObjectStore,
  decoder: BlockDecoder,
  ref: ObjectRef,
  kind: ContentKind,
): Promise<Buffer> {
  const problem = contentKeyProblem(ref, kind);
  if (problem) throw new BlockError('BLOCK_CORRUPT', ref.key, problem);
  const content = decoder.decode(ref.key, await store.get(ref.key, { maxBytes: ref.size }));
  const actual = sha256Hex(content);
  if (actual !== ref.sha256) {
    throw new BlockError(
      'BLOCK_CORRUPT',
      ref.key,
      `${ref.key} content hashes to ${actual}, the reference says ${ref.sha256}`,
    );
  }
  return content;
}

export async function writeSegment(store: ObjectStore, encoder: BlockEncoder, lines: string[]): Promise<ObjectRef> {
  const content = Buffer.from(lines.join('\n') + '\n');
  const sha256 = sha256Hex(content);
  return writeContentObject(store, encoder, fileListKey(sha256), content, sha256);
}

export function buildManifest(sealed: SnapshotSealedEvent, segments: ObjectRef[], entries: number): SnapshotManifest {
  return { version: 1, ...snapshotSummary(sealed), entries, segments };
}

export function buildChangeBatchManifest(
  sealed: ChangesSealedEvent,
  segments: ObjectRef[],
  entries: number,
): ChangeBatchManifest {
  return { version: 1, kind: 'changes', ...sealed, entries, segments };
}

export async function writeManifest(
  store: ObjectStore,
  encoder: BlockEncoder,
  manifest: SnapshotManifest | ChangeBatchManifest,
): Promise<ObjectRef> {
  const content = Buffer.from(JSON.stringify(manifest));
  return writeContentObject(store, encoder, snapshotManifestKey(manifest.snapshotId), content, sha256Hex(content));
}

/**
 * Readers cap the decoded size of manifests and file-list segments at this (blocks at the
 * largest chunk): a segment is archiver.segmentBytes plus one file event.
 */
export const MAX_METADATA_OBJECT_BYTES = 64 * 1024 * 1024;

/** The decoder for a repository's manifests, segments and blocks. */
export function metadataDecoder(maxChunkSize: number): BlockDecoder {
  return new BlockDecoder(Math.max(maxChunkSize, MAX_METADATA_OBJECT_BYTES));
}

/** A manifest must be the one its key names: snapshots/<id>.json holds the manifest of <id>. */
function ownManifest<T extends { snapshotId: string }>(ref: ObjectRef, manifest: T): T {
  if (snapshotIdOfManifestKey(ref.key) !== manifest.snapshotId) {
    throw new BlockError('BLOCK_CORRUPT', ref.key, `${ref.key} holds the manifest of ${manifest.snapshotId}`);
  }
  return manifest;
}

export async function readManifest(
  store: ObjectStore,
  decoder: BlockDecoder,
  ref: ObjectRef,
): Promise<SnapshotManifest> {
  const content = await readContentObject(store, decoder, ref, 'manifest');
  const parsed = snapshotManifestSchema.safeParse(JSON.parse(content.toString('utf8')));
  if (!parsed.success) throw new BlockError('BLOCK_CORRUPT', ref.key, `${ref.key} is not a snapshot manifest`);
  return ownManifest(ref, parsed.data);
}

export async function readChangeBatchManifest(
  store: ObjectStore,
  decoder: BlockDecoder,
  ref: ObjectRef,
): Promise<ChangeBatchManifest> {
  const content = await readContentObject(store, decoder, ref, 'manifest');
  const parsed = changeBatchManifestSchema.safeParse(JSON.parse(content.toString('utf8')));
  if (!parsed.success) throw new BlockError('BLOCK_CORRUPT', ref.key, `${ref.key} is not a change-batch manifest`);
  return ownManifest(ref, parsed.data);
}

/** The JSON lines of a manifest's segments, each checked by `schema`, one segment in memory at a time. */
async function* segmentLines<T>(
  store: ObjectStore,
  decoder: BlockDecoder,
  segments: ObjectRef[],
  schema: z.ZodType<T>,
  what: string,
): AsyncGenerator<T> {
  for (const ref of segments) {
    const content = await readContentObject(store, decoder, ref, 'segment');
    for (const line of content.toString('utf8').split('\n')) {
      if (line === '') continue;
      const parsed = schema.safeParse(JSON.parse(line));
      if (!parsed.success) throw new BlockError('BLOCK_CORRUPT', ref.key, `${ref.key} holds an invalid ${what}`);
      yield parsed.data;
    }
  }
}

/** Every version of a change batch in offset order, one segment in memory at a time. */
export function changeVersions(
  store: ObjectStore,
  decoder: BlockDecoder,
  manifest: ChangeBatchManifest,
): AsyncGenerator<ChangeVersionEvent> {
  return segmentLines(store, decoder, manifest.segments, changeVersionSchema, 'change version');
}

/** Every file entry of a snapshot in walk order, one segment in memory at a time. */
export function fileEntries(
  store: ObjectStore,
  decoder: BlockDecoder,
  manifest: SnapshotManifest,
): AsyncGenerator<FileEvent> {
  return segmentLines(store, decoder, manifest.segments, fileSchema, 'file entry');
}

/** One entry of a snapshot with its parts joined. */
export interface JoinedFile {
  /** The entry's first (often only) part. */
  entry: FileEvent;
  /** The chunks of all parts, in order. */
  chunks: ChunkRef[];
  /** The whole file's SHA-256, from its last part (regular files only). */
  contentHash: string | undefined;
}

/**
 * Joins the parts of each file (consecutive entries of one path) into one JoinedFile.
 * Yields as soon as a file's last part is read, never reading ahead.
 */
export async function* joinFileParts(entries: AsyncIterable<FileEvent>): AsyncGenerator<JoinedFile> {
  let current: JoinedFile | undefined;
  for await (const e of entries) {
    if (current && e.part > 0 && e.path === current.entry.path) {
      current.chunks.push(...e.chunks);
      current.contentHash = e.contentHash ?? current.contentHash;
    } else {
      // A file whose last part never came (a truncated list) is still yielded.
      if (current) yield current;
      current = { entry: e, chunks: [...e.chunks], contentHash: e.contentHash };
    }
    if (e.last) {
      yield current;
      current = undefined;
    }
  }
  if (current) yield current;
}
