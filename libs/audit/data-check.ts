import { createHash, type Hash } from 'node:crypto';
import pLimit from 'p-limit';
import type { z } from 'zod';
import type { BlockDecoder } from '../blocks';
import { BlockError } from '../errors';
import {
  changeVersionSchema,
  fileSchema,
  type ChangesCommitRecord,
  type ChunkRef,
  type ObjectRef,
  type SnapshotCommitRecord,
} from '../events';
import { changeBatchManifestSchema, contentKeyProblem, sha256Hex, snapshotManifestSchema } from '../manifest';
import { ObjectNotFoundError, blockKey, type ObjectStore } from '../store';

/**
 * The data half of `backstream ledger verify [--deep]`: for one committed ledger record,
 * proves that what it references is in the store and, with deep, that it is right.
 *
 *   record → manifest → segments → blocks
 *
 * The manifest and every segment are always read and their content hash checked (they are
 * small, and they are what names the blocks). Each block is then checked once per run:
 * with HEAD (it exists), or with deep by GET, decode and SHA-256 (BlockDecoder.verify).
 * With deep, a file's whole-content hash and a change payload's size and SHA-256 are
 * checked too, as restore does, whenever the data streams by anyway (see OwnerState).
 *
 * A missing object is a `*-missing` finding, one that does not decode or hash right a
 * `*-corrupt` one; any other store failure (network, permissions) is thrown: the check
 * could not be made, which is not a finding about the repository.
 */

export type DataFindingKind =
  'manifest-missing' | 'manifest-corrupt' | 'segment-missing' | 'segment-corrupt' | 'block-missing' | 'block-corrupt';

export interface DataFinding {
  kind: DataFindingKind;
  /** The ledger record: its sequence number and Kafka offset (or undefined when read from the store mirror). */
  seq: number;
  offset?: string;
  snapshotId: string;
  /** The object (manifest, segment or block key) that is missing or wrong, and the chunk hash for blocks. */
  objectKey: string;
  blockHash?: string;
  /**
   * What uses it: file paths of the snapshot, or `key@offset` of change versions, at most
   * USED_BY_CAP of them, in file-list order; usedByCount is how many there are in all. Empty
   * for a manifest or segment that could not be read (what it lists is unknown).
   */
  usedBy: string[];
  usedByCount: number;
  message: string;
}

export interface DataCheckStats {
  /** Records checked. */
  records: number;
  /** Regular files of the snapshots checked (a file split into parts counts once). */
  files: number;
  /** Change versions checked: those whose offsets their record commits. */
  versions: number;
  /** Block references checked (a block used twice counts twice). */
  blocks: number;
  /** Distinct blocks asked of the store (HEAD, or GET with deep): each block once per run. */
  blocksRead: number;
  /** Bytes downloaded: manifests, segments and, with deep, blocks. */
  bytesRead: number;
}

export interface DataCheckOptions {
  store: ObjectStore;
  /** The decoder for manifests and segments (libs/manifest metadataDecoder). */
  decoder: BlockDecoder;
  /** The decoder for blocks: its maximum is the largest chunk. */
  blockDecoder: BlockDecoder;
  /** GET, decode and hash every block (and whole files and payloads) instead of HEAD. */
  deep: boolean;
  /** Object-store requests in flight, at most; with deep also the chunks held in memory. */
  concurrency: number;
  /** Called with a copy of the stats at most every PROGRESS_INTERVAL_MS. */
  onProgress?(stats: DataCheckStats): void;
}

/** Names listed in a finding's usedBy; usedByCount counts them all. */
export const USED_BY_CAP = 20;
const PROGRESS_INTERVAL_MS = 250;
/** "BSB", format, codec (libs/blocks): a stored block is never shorter. */
const BLOCK_HEADER_BYTES = 5;

type BlockVerdict = { ok: true } | { ok: false; kind: 'block-missing' | 'block-corrupt'; message: string };
const OK: BlockVerdict = { ok: true };

interface BlockResult {
  verdict: BlockVerdict;
  /** With deep, the chunk's verified bytes, for the one use that fetched them. */
  data?: Buffer;
}

/**
 * One user of blocks: a regular file (its parts joined) or a change version's payload.
 *
 * With deep, its whole content is checked against its file's content hash (a payload's
 * size and SHA-256), which needs every chunk's bytes in order; but each block is read once
 * per run, so a use of a block read before (by an earlier file or record, or in flight for
 * another use) brings no bytes and the running `hash` is dropped. The content is then still
 * known when it is one chunk (its hash is the chunk's), or when the same chunk list was
 * hashed whole before (`contentOf`: unchanged files in later snapshots, duplicates). Only a
 * new chunk list that shares blocks with earlier content goes without the whole check: its
 * chunks are all verified, so what is skipped is the list's own consistency (chunk list
 * against content hash), not the stored data, and reading blocks again for it would make a
 * deep check of N snapshots of a slowly changing large file read that file N times.
 */
interface OwnerState {
  name: string;
  /** The segment holding the owner's last line seen: what a whole-content mismatch blames. */
  segmentKey: string;
  /** Running SHA-256 of the bytes seen, in order (deep only); undefined once one is missing. */
  hash: Hash | undefined;
  bytes: number;
  /** SHA-256 over the chunk hashes, in order (deep only): the content's identity. */
  chunkList: Hash | undefined;
  chunks: number;
  firstChunk: string | undefined;
  /** The sum of the chunks' sizes as listed. */
  listedBytes: number;
  /** A chunk was missing or corrupt: reported as a block finding, nothing more to say. */
  bad: boolean;
  /** Some of its lines are unknown: an unreadable segment or an invalid line cut it. */
  cut: boolean;
  /** What its content must hash to (a file's last part, a version's sha256/size). */
  expect?: { sha256: string | undefined; size?: number };
  /** A regular file whose last part never came: restore cannot check (so cannot restore) it. */
  noLastPart: boolean;
}

type Item = { type: 'chunk'; owner: OwnerState; ref: ChunkRef } | { type: 'end'; owner: OwnerState };
type Queued =
  | { type: 'chunk'; owner: OwnerState; ref: ChunkRef; result: Promise<BlockResult> }
  | { type: 'end'; owner: OwnerState };

/** The findings of one record as they accumulate; bad blocks are reported once each, with every user. */
class RecordScope {
  readonly findings: DataFinding[] = [];
  private readonly badBlocks = new Map<
    string,
    { verdict: Extract<BlockVerdict, { ok: false }>; names: string[]; count: number; last: string }
  >();

  constructor(
    readonly seq: number,
    readonly offset: string | undefined,
    readonly snapshotId: string,
    /** "snapshot <id>" or "change batch <id> (topic/partition)", for messages. */
    readonly what: string,
  ) {}

  add(kind: DataFindingKind, objectKey: string, message: string, usedBy: string[] = []): void {
    this.findings.push({
      kind,
      seq: this.seq,
      ...(this.offset !== undefined ? { offset: this.offset } : {}),
      snapshotId: this.snapshotId,
      objectKey,
      usedBy: usedBy.slice(0, USED_BY_CAP),
      usedByCount: usedBy.length,
      message,
    });
  }

  /** Uses are consumed in file-list order, so one owner's uses of a block are never interleaved with another's. */
  addBadUse(hash: string, verdict: Extract<BlockVerdict, { ok: false }>, name: string): void {
    let entry = this.badBlocks.get(hash);
    if (!entry) {
      entry = { verdict, names: [], count: 0, last: '' };
      this.badBlocks.set(hash, entry);
    }
    if (entry.count > 0 && entry.last === name) return;
    entry.last = name;
    entry.count += 1;
    if (entry.names.length < USED_BY_CAP) entry.names.push(name);
  }

  /** All findings: those about the manifest and segments as found, then one per bad block. */
  finish(unit: string): DataFinding[] {
    for (const [hash, { verdict, names, count }] of this.badBlocks) {
      this.findings.push({
        kind: verdict.kind,
        seq: this.seq,
        ...(this.offset !== undefined ? { offset: this.offset } : {}),
        snapshotId: this.snapshotId,
        objectKey: blockKey(hash),
        blockHash: hash,
        usedBy: names,
        usedByCount: count,
        message: `${verdict.message}; used by ${count} ${unit}${count === 1 ? '' : 's'} of ${this.what}`,
      });
    }
    this.badBlocks.clear();
    return this.findings;
  }
}

export class RepositoryDataChecker {
  readonly stats: DataCheckStats = { records: 0, files: 0, versions: 0, blocks: 0, blocksRead: 0, bytesRead: 0 };

  private readonly store: ObjectStore;
  private readonly decoder: BlockDecoder;
  private readonly blockDecoder: BlockDecoder;
  private readonly deep: boolean;
  private readonly concurrency: number;
  private readonly onProgress: ((stats: DataCheckStats) => void) | undefined;
  /** Every object-store request of the run goes through this. */
  private readonly limit: ReturnType<typeof pLimit>;
  /**
   * The verdict on each block checked in this run, so that a block used by many files and
   * snapshots is read once. This costs one entry per distinct block for the whole run
   * (about 100–150 bytes each: the 64-character hash and the set's slot; some 150 MB for a
   * million blocks), the one part of the checker's memory that grows with the repository.
   * Bad blocks keep their message too; they should be few.
   */
  private readonly goodBlocks = new Set<string>();
  private readonly badBlocks = new Map<string, Extract<BlockVerdict, { ok: false }>>();
  /** Blocks being checked right now: a second use waits for the same answer. */
  private readonly pendingBlocks = new Map<string, Promise<BlockVerdict>>();
  /**
   * With deep: for each chunk list of more than one chunk hashed whole in this run (all its
   * blocks intact), the content's SHA-256 and size, keyed by the SHA-256 of the chunk list.
   * One entry (about 200 bytes) per distinct multi-chunk file or payload content: far
   * fewer than blocks, and what lets unchanged files of later snapshots be checked whole
   * without reading their blocks again.
   */
  private readonly contentOf = new Map<string, { sha256: string; bytes: number }>();
  private lastProgressMs = Date.now();

  constructor(options: DataCheckOptions) {
    this.store = options.store;
    this.decoder = options.decoder;
    this.blockDecoder = options.blockDecoder;
    this.deep = options.deep;
    this.concurrency = Math.max(1, Math.floor(options.concurrency));
    this.onProgress = options.onProgress;
    this.limit = pLimit(this.concurrency);
  }

  /**
   * Checks one committed snapshot. Findings are returned, not thrown; a block found bad by
   * an earlier record is reported again here, naming this snapshot's files that use it.
   * Throws only when the store fails otherwise than "not found".
   */
  async checkSnapshot(seq: number, offset: string | undefined, record: SnapshotCommitRecord): Promise<DataFinding[]> {
    const scope = new RecordScope(seq, offset, record.snapshotId, `snapshot ${record.snapshotId}`);
    this.stats.records += 1;
    const manifest = await this.readManifest(scope, record.manifest, snapshotManifestSchema, 'a snapshot manifest');
    if (manifest) {
      if (manifest.snapshotId !== record.snapshotId) {
        scope.add(
          'manifest-corrupt',
          record.manifest.key,
          `${record.manifest.key} is the manifest of snapshot ${manifest.snapshotId}, not of ${record.snapshotId}`,
        );
      } else {
        await this.run(scope, this.fileItems(scope, manifest.segments));
      }
    }
    this.progress();
    return scope.finish('file');
  }

  /** Checks one committed change batch: only the versions whose offsets lie in [fromOffset, toOffset]. */
  async checkChangeBatch(seq: number, offset: string | undefined, record: ChangesCommitRecord): Promise<DataFinding[]> {
    const scope = new RecordScope(
      seq,
      offset,
      record.snapshotId,
      `change batch ${record.snapshotId} (${record.topic}/${record.partition})`,
    );
    this.stats.records += 1;
    const manifest = await this.readManifest(
      scope,
      record.manifest,
      changeBatchManifestSchema,
      'a change-batch manifest',
    );
    if (manifest) {
      if (
        manifest.snapshotId !== record.snapshotId ||
        manifest.topic !== record.topic ||
        manifest.partition !== record.partition
      ) {
        scope.add(
          'manifest-corrupt',
          record.manifest.key,
          `${record.manifest.key} is the manifest of change batch ${manifest.snapshotId} (${manifest.topic}/${manifest.partition}), not of ${scope.what}`,
        );
      } else {
        const range = { from: BigInt(record.fromOffset), to: BigInt(record.toOffset) };
        await this.run(scope, this.versionItems(scope, manifest.segments, range));
      }
    }
    this.progress();
    return scope.finish('version');
  }

  // ---- manifests and segments ---------------------------------------------------------

  /** GET, decode and hash-check a manifest or segment; undefined (and a finding) when missing or corrupt. */
  private async readContent(
    scope: RecordScope,
    ref: ObjectRef,
    kinds: { missing: DataFindingKind; corrupt: DataFindingKind },
    what: string,
  ): Promise<Buffer | undefined> {
    // The readers' key rule (libs/manifest): a name outside its own prefix is never read.
    const problem = contentKeyProblem(ref, kinds.missing === 'manifest-missing' ? 'manifest' : 'segment');
    if (problem) {
      scope.add(kinds.corrupt, ref.key, `${what} of ${scope.what}: ${problem}`);
      return undefined;
    }
    let body: Buffer;
    try {
      body = await this.limit(() => this.store.get(ref.key, { maxBytes: ref.size }));
    } catch (err) {
      // An encrypted store refuses a damaged object in get (ObjectDecryptError, a BlockError).
      if (err instanceof BlockError) {
        scope.add(kinds.corrupt, ref.key, `${what} of ${scope.what} (${ref.key}) does not decode: ${err.message}`);
        return undefined;
      }
      if (!(err instanceof ObjectNotFoundError)) throw err;
      scope.add(
        kinds.missing,
        ref.key,
        `${what} of ${scope.what} (${ref.key}) is missing: nothing it lists can be checked or restored`,
      );
      return undefined;
    }
    this.stats.bytesRead += body.length;
    let content: Buffer;
    try {
      content = this.decoder.decode(ref.key, body);
    } catch (err) {
      if (!(err instanceof BlockError)) throw err;
      scope.add(kinds.corrupt, ref.key, `${what} of ${scope.what} (${ref.key}) does not decode: ${err.message}`);
      return undefined;
    }
    const actual = sha256Hex(content);
    if (actual !== ref.sha256) {
      scope.add(
        kinds.corrupt,
        ref.key,
        `${what} of ${scope.what} (${ref.key}) decodes to content hashing ${actual}, the reference says ${ref.sha256}`,
      );
      return undefined;
    }
    return content;
  }

  private async readManifest<T>(
    scope: RecordScope,
    ref: ObjectRef,
    schema: z.ZodType<T>,
    what: string,
  ): Promise<T | undefined> {
    const content = await this.readContent(
      scope,
      ref,
      { missing: 'manifest-missing', corrupt: 'manifest-corrupt' },
      'the manifest',
    );
    if (!content) return undefined;
    const parsed = schema.safeParse(parseJson(content.toString('utf8')));
    if (!parsed.success) {
      scope.add('manifest-corrupt', ref.key, `${ref.key} of ${scope.what} is not ${what}`);
      return undefined;
    }
    return parsed.data;
  }

  /**
   * The lines of each segment, checked by `schema`, one segment in memory at a time. An
   * unreadable segment is reported and yields `lost`; an invalid line is reported once per
   * segment (with the count) and yields `lost` too, so that nothing is joined across it.
   */
  private async *segmentLines<T>(
    scope: RecordScope,
    segments: ObjectRef[],
    schema: z.ZodType<T>,
    what: string,
  ): AsyncGenerator<{ line: T; segmentKey: string } | { lost: true }> {
    for (const [i, ref] of segments.entries()) {
      const content = await this.readContent(
        scope,
        ref,
        { missing: 'segment-missing', corrupt: 'segment-corrupt' },
        `segment ${i + 1} of ${segments.length}`,
      );
      if (!content) {
        yield { lost: true };
        continue;
      }
      let invalid = 0;
      let firstInvalid = 0;
      const lines = content.toString('utf8').split('\n');
      for (const [n, text] of lines.entries()) {
        if (text === '') continue;
        const parsed = schema.safeParse(parseJson(text));
        if (parsed.success) {
          yield { line: parsed.data, segmentKey: ref.key };
        } else {
          if (invalid === 0) firstInvalid = n + 1;
          invalid += 1;
          yield { lost: true };
        }
      }
      if (invalid > 0) {
        scope.add(
          'segment-corrupt',
          ref.key,
          `segment ${i + 1} of ${segments.length} of ${scope.what} (${ref.key}) holds ${invalid} line${invalid === 1 ? '' : 's'} that ${invalid === 1 ? 'is' : 'are'} not a valid ${what} (the first: line ${firstInvalid}); the blocks ${invalid === 1 ? 'it names' : 'they name'} are not checked`,
        );
      }
    }
  }

  private newOwner(name: string, segmentKey: string): OwnerState {
    return {
      name,
      segmentKey,
      hash: this.deep ? createHash('sha256') : undefined,
      bytes: 0,
      chunkList: this.deep ? createHash('sha256') : undefined,
      chunks: 0,
      firstChunk: undefined,
      listedBytes: 0,
      bad: false,
      cut: false,
      noLastPart: false,
    };
  }

  /** A snapshot's regular files, parts joined (consecutive lines of one path), as block uses and ends. */
  private async *fileItems(scope: RecordScope, segments: ObjectRef[]): AsyncGenerator<Item> {
    let current: OwnerState | undefined;
    for await (const next of this.segmentLines(scope, segments, fileSchema, 'file entry')) {
      if ('lost' in next) {
        if (current) {
          current.cut = true;
          yield { type: 'end', owner: current };
          current = undefined;
        }
        continue;
      }
      const e = next.line;
      if (!(current && e.part > 0 && e.path === current.name)) {
        if (current) {
          // A new entry while the previous file's last part never came.
          current.noLastPart = true;
          yield { type: 'end', owner: current };
          current = undefined;
        }
        if (e.kind !== 'file') continue;
        current = this.newOwner(e.path, next.segmentKey);
        // Its first parts were in a segment that could not be read (or the list is out of order).
        if (e.part > 0) current.cut = true;
        this.stats.files += 1;
      }
      current.segmentKey = next.segmentKey;
      for (const ref of e.chunks) yield { type: 'chunk', owner: current, ref };
      if (e.last) {
        current.expect = { sha256: e.contentHash };
        yield { type: 'end', owner: current };
        current = undefined;
      }
    }
    if (current) {
      current.noLastPart = true;
      yield { type: 'end', owner: current };
    }
  }

  /** A change batch's committed upserts, as block uses and ends; versions outside the range are skipped unchecked. */
  private async *versionItems(
    scope: RecordScope,
    segments: ObjectRef[],
    range: { from: bigint; to: bigint },
  ): AsyncGenerator<Item> {
    for await (const next of this.segmentLines(scope, segments, changeVersionSchema, 'change version')) {
      if ('lost' in next) continue;
      const v = next.line;
      const at = BigInt(v.offset);
      if (at < range.from || at > range.to) continue;
      this.stats.versions += 1;
      if (v.op !== 'upsert') continue;
      const owner = this.newOwner(`${v.key}@${v.offset}`, next.segmentKey);
      owner.expect = { sha256: v.sha256, ...(v.size !== undefined ? { size: v.size } : {}) };
      for (const ref of v.chunks) yield { type: 'chunk', owner, ref };
      yield { type: 'end', owner };
    }
  }

  // ---- blocks ------------------------------------------------------------------------

  /**
   * Checks the block uses of `items` in order, up to a window of them at once. With deep
   * the window is `concurrency`, so at most that many chunks are held (fetched, waiting
   * for their turn to be hashed into their file); without deep nothing is held and a
   * wider window keeps `concurrency` HEADs busy past a slow one. Requests are bounded
   * separately, by `limit`. On a store failure, the checks in flight settle before it is thrown.
   */
  private async run(scope: RecordScope, items: AsyncIterable<Item>): Promise<void> {
    const window = this.deep ? this.concurrency : this.concurrency * 4;
    const queue: Queued[] = [];
    try {
      for await (const item of items) {
        queue.push(
          item.type === 'end'
            ? item
            : { type: 'chunk', owner: item.owner, ref: item.ref, result: this.checkBlock(item.ref.hash) },
        );
        while (queue.length >= window) await this.consume(scope, queue.shift() as Queued);
      }
      while (queue.length > 0) await this.consume(scope, queue.shift() as Queued);
    } finally {
      await Promise.allSettled(queue.flatMap((q) => (q.type === 'chunk' ? [q.result] : [])));
    }
  }

  private async consume(scope: RecordScope, item: Queued): Promise<void> {
    const owner = item.owner;
    if (item.type === 'end') {
      this.finishOwner(scope, owner);
      return;
    }
    const { verdict, data } = await item.result;
    this.stats.blocks += 1;
    owner.chunks += 1;
    owner.firstChunk ??= item.ref.hash;
    owner.listedBytes += item.ref.size;
    owner.chunkList?.update(item.ref.hash);
    if (!verdict.ok) {
      owner.bad = true;
      owner.hash = undefined;
      scope.addBadUse(item.ref.hash, verdict, owner.name);
    } else if (data && owner.hash) {
      owner.hash.update(data);
      owner.bytes += data.length;
    } else {
      // Checked before, or by another use: no bytes to hash (see OwnerState).
      owner.hash = undefined;
    }
    this.progress();
  }

  /** The checks on a whole file or payload once its last chunk went by. */
  private finishOwner(scope: RecordScope, owner: OwnerState): void {
    if (owner.cut || owner.bad) return;
    if (owner.noLastPart) {
      scope.add(
        'segment-corrupt',
        owner.segmentKey,
        `the file list of ${scope.what} has no last part for ${owner.name} (so no content hash): restore cannot verify it and fails`,
        [owner.name],
      );
      return;
    }
    const expect = owner.expect;
    if (!this.deep || !expect) return;
    const actual = this.contentOfOwner(owner);
    if (!actual) return;
    if (actual.sha256 !== expect.sha256 || (expect.size !== undefined && actual.bytes !== expect.size)) {
      scope.add(
        'segment-corrupt',
        owner.segmentKey,
        `${owner.name} of ${scope.what}: its chunks, each intact, join to ${actual.bytes} bytes hashing ${actual.sha256}; ` +
          `the list in ${owner.segmentKey} says ${expect.size !== undefined ? `${expect.size} bytes hashing ` : ''}${expect.sha256 ?? '(no hash)'}`,
        [owner.name],
      );
    }
  }

  /** What an owner's intact chunks join to, when it is known without reading any block again (see OwnerState). */
  private contentOfOwner(owner: OwnerState): { sha256: string; bytes: number } | undefined {
    if (owner.chunks === 1 && !owner.hash) {
      // One chunk, verified: the content is the chunk. Its size is the one listed.
      return { sha256: owner.firstChunk as string, bytes: owner.listedBytes };
    }
    if (owner.chunks <= 1) return owner.hash ? { sha256: owner.hash.digest('hex'), bytes: owner.bytes } : undefined;
    const list = (owner.chunkList as Hash).digest('hex');
    if (!owner.hash) return this.contentOf.get(list);
    const actual = { sha256: owner.hash.digest('hex'), bytes: owner.bytes };
    this.contentOf.set(list, actual);
    return actual;
  }

  /** The verdict on a block, from this run's cache, from a check in flight, or from the store. */
  private checkBlock(hash: string): Promise<BlockResult> {
    if (this.goodBlocks.has(hash)) return Promise.resolve({ verdict: OK });
    const bad = this.badBlocks.get(hash);
    if (bad) return Promise.resolve({ verdict: bad });
    const pending = this.pendingBlocks.get(hash);
    if (pending) return pending.then((verdict) => ({ verdict }));
    const result = this.limit(() => this.fetchBlock(hash));
    const verdict = result.then(
      (r) => {
        if (r.verdict.ok) this.goodBlocks.add(hash);
        else this.badBlocks.set(hash, r.verdict);
        this.pendingBlocks.delete(hash);
        return r.verdict;
      },
      (err: unknown) => {
        this.pendingBlocks.delete(hash);
        throw err;
      },
    );
    // Awaited by whoever shares it; a failure must not go unhandled meanwhile.
    verdict.catch(() => undefined);
    this.pendingBlocks.set(hash, verdict);
    result.catch(() => undefined);
    return result;
  }

  private async fetchBlock(hash: string): Promise<BlockResult> {
    const key = blockKey(hash);
    this.stats.blocksRead += 1;
    if (!this.deep) {
      const info = await this.store.head(key);
      if (!info) return { verdict: { ok: false, kind: 'block-missing', message: `block ${key} is missing` } };
      if (info.size < BLOCK_HEADER_BYTES) {
        return {
          verdict: {
            ok: false,
            kind: 'block-corrupt',
            message: `block ${key} is ${info.size} bytes, shorter than a block header`,
          },
        };
      }
      return { verdict: OK };
    }
    let body: Buffer;
    try {
      body = await this.store.get(key, { maxBytes: this.blockDecoder.maxBlockBytes });
    } catch (err) {
      if (err instanceof ObjectNotFoundError)
        return { verdict: { ok: false, kind: 'block-missing', message: `block ${key} is missing` } };
      // An encrypted store refuses a damaged block in get (ObjectDecryptError, a BlockError).
      if (err instanceof BlockError) return { verdict: { ok: false, kind: 'block-corrupt', message: err.message } };
      throw err;
    }
    this.stats.bytesRead += body.length;
    try {
      return { verdict: OK, data: this.blockDecoder.verify(key, body, hash) };
    } catch (err) {
      if (err instanceof BlockError) return { verdict: { ok: false, kind: 'block-corrupt', message: err.message } };
      throw err;
    }
  }

  /** Reports the stats if PROGRESS_INTERVAL_MS passed since the last report; `stats` is always current. */
  private progress(): void {
    if (!this.onProgress) return;
    const now = Date.now();
    if (now - this.lastProgressMs < PROGRESS_INTERVAL_MS) return;
    this.lastProgressMs = now;
    this.onProgress({ ...this.stats });
  }
}

/** JSON.parse, with undefined for text that is not JSON (a schema then rejects it). */
function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
