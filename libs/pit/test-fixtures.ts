import { createHash } from 'node:crypto';
import { ArchiverPartition, type LedgerPort } from '../archive';
import { BlockEncoder } from '../blocks';
import { parseChangeRecord, type ChangeRecord } from '../changes';
import { message } from '../changes/test-fixtures';
import { chunkStream, type ChunkingParams } from '../chunking';
import {
  changeVersionSchema,
  changesSealedSchema,
  type ChangeVersionEvent,
  type ChangesCommitRecord,
  type ChunkRef,
  type ProgressEvent,
} from '../events';
import type { IHeaders } from 'kafkajs';
import type { ChangesLedgerEntry } from '../ledger';
import { createLogger } from '../log';
import { metadataDecoder } from '../manifest';
import { storeChunk, verifyStoredChunk } from '../pipeline';
import { MemoryObjectStore } from '../store';

/**
 * Change batches committed the way the pipeline commits them, minus Kafka: each record is
 * parsed by libs/changes (parseChangeRecord), its payload cut into chunks (chunkStream),
 * stored and verified (storeChunk, verifyStoredChunk), and the 'change', 'chunk-verified'
 * and 'changes-sealed' events fed to the real ArchiverPartition, which writes the
 * segments and the manifest and appends the ChangesCommitRecord to a fake ledger.
 */

/** Tiny chunks, so payloads of a few hundred bytes span several blocks. */
export const PARAMS: ChunkingParams = { minSize: 16, avgSize: 64, maxSize: 256 };
export const decoder = metadataDecoder(PARAMS.maxSize);
export const T0 = Date.parse('2024-05-01T10:00:00.000Z');

/** A record to publish: its value (null: a tombstone), record key, headers and timestamp. */
export interface Publish {
  value: unknown;
  key: string;
  headers?: IHeaders;
  timestamp?: number;
}

export const upsert = (key: string, tsMs: number, data: unknown, source = 'crm.customers'): Publish => ({
  key,
  value: { source, key, op: 'upsert', ts: tsMs, data },
});
export const remove = (key: string, tsMs: number, source = 'crm.customers'): Publish => ({
  key,
  value: { source, key, op: 'delete', ts: tsMs },
});
export const tombstone = (key: string, tsMs: number, source = 'crm.customers'): Publish => ({
  key,
  value: null,
  headers: { 'bs-source': source },
  timestamp: tsMs,
});

async function* once(bytes: Buffer): AsyncGenerator<Buffer> {
  await Promise.resolve();
  yield bytes;
}

/** The ledger as ArchiverPartition sees it: the change-batch records appended, in order. */
export class FakeLedger implements LedgerPort {
  readonly records: ChangesCommitRecord[] = [];

  isCommitted(snapshotId: string): boolean {
    return this.records.some((r) => r.snapshotId === snapshotId);
  }

  append(): Promise<void> {
    return Promise.reject(new Error('no snapshots here'));
  }

  changesCommittedThrough(topic: string, partition: number): bigint | undefined {
    let through: bigint | undefined;
    for (const r of this.records)
      if (r.topic === topic && r.partition === partition && (through === undefined || BigInt(r.toOffset) > through))
        through = BigInt(r.toOffset);
    return through;
  }

  appendChanges(record: ChangesCommitRecord): Promise<void> {
    this.records.push(record);
    return Promise.resolve();
  }
}

/** Ledger entries as replayChangeCommits hands them over (ledger offsets 0, 1, …). */
export async function* entriesOf(records: readonly ChangesCommitRecord[]): AsyncGenerator<ChangesLedgerEntry> {
  for (const [i, record] of records.entries()) {
    await Promise.resolve();
    yield { offset: String(i), record };
  }
}

export class Repo {
  readonly store = new MemoryObjectStore();
  readonly encoder = new BlockEncoder(3);
  readonly ledger = new FakeLedger();
  /** Every record parsed, in publish order: what the tests compute expectations from. */
  readonly published: ChangeRecord[] = [];
  private progressOffset = 0;
  private readonly archiver = new ArchiverPartition(0, {
    store: this.store,
    encoder: this.encoder,
    ledger: this.ledger,
    publishFailed: (failed) => Promise.reject(new Error(`batch failed: ${failed.reason}`)),
    now: () => new Date(T0 + 3_600_000),
    // Small segments: a batch's manifest lists several.
    segmentBytes: 1024,
    abandonAfterMs: 3_600_000,
    maxPendingSnapshots: 8,
    logger: createLogger('silent', 'pit-test'),
  });

  entries(): AsyncGenerator<ChangesLedgerEntry> {
    return entriesOf(this.ledger.records);
  }

  /**
   * Publishes `records` at offsets firstOffset… of one change topic partition as one
   * change batch named `name`, and lets the archiver commit it. Returns the record the
   * ledger got (undefined when the batch committed nothing new).
   */
  async commitBatch(
    name: string,
    records: readonly Publish[],
    at: { topic?: string; partition?: number; firstOffset: number },
  ): Promise<ChangesCommitRecord | undefined> {
    const snapshotId = createHash('md5').update(name).digest('hex');
    const topic = at.topic ?? 'crm.changes';
    const partition = at.partition ?? 0;
    const versions: ChangeVersionEvent[] = [];
    const verified: ProgressEvent[] = [];
    const seqOf = new Map<string, number>();
    let sentBytes = 0;
    for (const [i, r] of records.entries()) {
      const offset = String(at.firstOffset + i);
      const parsed = parseChangeRecord(
        message(r.value, r.key, r.headers, {
          topic,
          partition,
          offset,
          ...(r.timestamp !== undefined ? { timestamp: String(r.timestamp) } : {}),
        }),
      );
      this.published.push(parsed);
      const chunks: ChunkRef[] = [];
      let payload = {};
      if (parsed.op === 'upsert') {
        const p = parsed.payload;
        if (p.kind !== 'inline') throw new Error('the fixtures publish inline payloads');
        for await (const c of chunkStream(once(p.bytes), PARAMS)) {
          chunks.push({ hash: c.hash, size: c.length });
          if (seqOf.has(c.hash)) continue;
          const seq = seqOf.size;
          seqOf.set(c.hash, seq);
          const event = {
            meta: { snapshotId, source: parsed.source, seq, hash: c.hash, size: c.length },
            data: c.data,
          };
          const stored = await storeChunk(event, this);
          const outcome = await verifyStoredChunk(stored, { store: this.store, decoder });
          if (!('verified' in outcome)) throw new Error(`block ${c.hash} does not verify`);
          verified.push({ type: 'chunk-verified', event: outcome.verified });
          sentBytes += c.length;
        }
        payload = { contentType: p.contentType, encoding: p.encoding, size: p.size, sha256: p.sha256 };
      }
      versions.push(
        changeVersionSchema.parse({
          snapshotId,
          offset,
          id: parsed.id,
          source: parsed.source,
          key: parsed.key,
          op: parsed.op,
          tsMs: parsed.tsMs,
          format: parsed.format,
          chunks,
          ...payload,
        }),
      );
    }
    const sealed = changesSealedSchema.parse({
      snapshotId,
      topic,
      partition,
      firstOffset: String(at.firstOffset),
      lastOffset: String(at.firstOffset + records.length - 1),
      chunkCount: seqOf.size,
      versionCount: versions.length,
      sentBytes,
      startedAt: new Date(T0).toISOString(),
      finishedAt: new Date(T0 + 1000).toISOString(),
    });
    // As on the progress topic: versions and verifications interleaved, the seal in between.
    const events: ProgressEvent[] = [];
    const pending = [...verified];
    for (const event of versions) {
      events.push({ type: 'change', event });
      const v = pending.shift();
      if (v) events.push(v);
    }
    events.push({ type: 'changes-sealed', event: sealed }, ...pending);
    const before = this.ledger.records.length;
    for (const item of events) await this.archiver.apply(String(this.progressOffset++), T0 + 2000, item);
    if (this.archiver.pendingCount() !== 0) throw new Error(`batch ${name} did not commit`);
    return this.ledger.records.length > before ? this.ledger.records[before] : undefined;
  }
}
