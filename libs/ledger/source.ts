import type { Kafka } from 'kafkajs';
import { readTopic, type TopicReader } from '../bus';
import { describeError } from '../errors';
import {
  HEADERS,
  SCHEMA_VERSION,
  decodeLedgerMessage,
  type ChainedLedgerRecord,
  type IncomingMessage,
  type LedgerCheckpoint,
} from '../events';
import type { ObjectStore } from '../store';
import { MIRROR_OBJECT_MAX_BYTES, decodeMirrorObject, listMirrorKeys } from './mirror';

/**
 * One item of the ledger in order. `at` says where it is, for findings: "offset 17" in the
 * topic, or "<mirror key> record 3" in the store. `offset` is the Kafka offset when read
 * from the topic.
 */
export type LedgerItem =
  | {
      kind: 'record';
      at: string;
      offset?: string;
      chained: ChainedLedgerRecord;
      value: Buffer;
      signature: string | undefined;
    }
  | {
      kind: 'checkpoint';
      at: string;
      offset?: string;
      checkpoint: LedgerCheckpoint;
      value: Buffer;
      signature: string | undefined;
    }
  | { kind: 'invalid'; at: string; offset?: string; reason: string };

/** Where the ledger is read from: the topic, or its mirror in object storage (`--from-store`). */
export interface LedgerSource {
  readonly description: string;
  /** Calls onItem for every item, in order, up to the end the ledger had when reading began. */
  read(onItem: (item: LedgerItem) => void | Promise<void>): Promise<void>;
}

function decodeItem(message: IncomingMessage, at: string, offset: string | undefined): LedgerItem {
  try {
    const decoded = decodeLedgerMessage(message);
    return decoded.kind === 'record'
      ? { kind: 'record', at, offset, chained: decoded.chained, value: decoded.value, signature: decoded.signature }
      : {
          kind: 'checkpoint',
          at,
          offset,
          checkpoint: decoded.checkpoint,
          value: decoded.value,
          signature: decoded.signature,
        };
  } catch (err) {
    return { kind: 'invalid', at, offset, reason: describeError(err) };
  }
}

/**
 * Where a live follower of the topic starts: its first record, its current end (only what
 * is written from now on), an offset, or the first record written at or after `sinceMs`.
 */
export type LedgerStart = 'beginning' | 'end' | { offset: string } | { sinceMs: number };

/** The latest offset there can be: where a reader waits for new records. */
const END_OFFSET = '9223372036854775807';

/**
 * The ledger topic, raw: every message decoded into an item, signed or not. Only the
 * TrustedLedger (follower.ts) and `ledger verify` read it directly.
 */
export class TopicLedgerSource implements LedgerSource {
  readonly description: string;

  constructor(
    private readonly kafka: Kafka,
    private readonly topic: string,
    private readonly fromOffset?: string,
  ) {
    this.description = `ledger topic ${topic}`;
  }

  async read(onItem: (item: LedgerItem) => void | Promise<void>): Promise<void> {
    const reader = await readTopic(this.kafka, {
      topic: this.topic,
      stopAtEnd: true,
      ...(this.fromOffset !== undefined ? { startOffsets: new Map([[0, this.fromOffset]]) } : {}),
      onMessage: async (_partition, message) => {
        await onItem(decodeItem(message, `offset ${message.offset}`, message.offset));
      },
    });
    await reader.done;
  }

  /** Hands over every item from `start` on, live, until the returned reader is stopped. */
  async follow(start: LedgerStart, onItem: (item: LedgerItem) => void | Promise<void>): Promise<TopicReader> {
    let startOffsets: Map<number, string> | undefined;
    if (typeof start === 'object' && 'offset' in start) startOffsets = new Map([[0, start.offset]]);
    if (typeof start === 'object' && 'sinceMs' in start) {
      const admin = this.kafka.admin();
      await admin.connect();
      try {
        const found = await admin.fetchTopicOffsetsByTimestamp(this.topic, start.sinceMs);
        // -1: no record at or after the timestamp; start at the end.
        startOffsets = new Map(found.map((s) => [s.partition, s.offset === '-1' ? END_OFFSET : s.offset]));
      } finally {
        await admin.disconnect();
      }
    }
    return readTopic(this.kafka, {
      topic: this.topic,
      stopAtEnd: false,
      fromEnd: start === 'end',
      ...(startOffsets ? { startOffsets } : {}),
      onMessage: async (_partition, message) => {
        await onItem(decodeItem(message, `offset ${message.offset}`, message.offset));
      },
    });
  }
}

function asMessage(type: 'ledger-record' | 'ledger-checkpoint', value: Buffer, signature: string): IncomingMessage {
  return {
    value,
    headers: { [HEADERS.type]: type, [HEADERS.version]: String(SCHEMA_VERSION), [HEADERS.signature]: signature },
  };
}

/**
 * The ledger from its store mirror: the mirror objects in tree-size order, each record
 * once. Objects may overlap (a sequencer that crashed between two seals); the overlap must
 * be byte-identical, and a gap between objects is reported as an invalid item.
 */
export class StoreLedgerSource implements LedgerSource {
  readonly description = 'ledger mirror in the store (ledger/checkpoints/)';

  constructor(private readonly store: ObjectStore) {}

  async read(onItem: (item: LedgerItem) => void | Promise<void>): Promise<void> {
    let count = 0;
    // Values of records an overlapping object may repeat: `from` never decreases from one
    // object to the next, so only records at or after the current object's `from` are kept.
    const recent = new Map<number, Buffer>();
    for (const key of await listMirrorKeys(this.store)) {
      let object;
      try {
        object = decodeMirrorObject(key, await this.store.get(key, { maxBytes: MIRROR_OBJECT_MAX_BYTES }));
      } catch (err) {
        await onItem({ kind: 'invalid', at: key, reason: describeError(err) });
        continue;
      }
      for (const seq of recent.keys()) if (seq < object.from) recent.delete(seq);
      if (object.from > count) {
        await onItem({
          kind: 'invalid',
          at: key,
          reason: `the mirror has no object holding records ${count}…${object.from - 1}`,
        });
      }
      for (const [i, record] of object.records.entries()) {
        const seq = object.from + i;
        const at = `${key} record ${i}`;
        if (seq < count) {
          // Overlap with an earlier object: already delivered; it must be the same record.
          const earlier = recent.get(seq);
          if (earlier && !earlier.equals(record.value)) {
            await onItem({
              kind: 'invalid',
              at,
              reason: `differs from the record with seq ${seq} of an earlier object`,
            });
          }
          continue;
        }
        await onItem(decodeItem(asMessage('ledger-record', record.value, record.signature), at, undefined));
        count = Math.max(count, seq + 1);
        recent.set(seq, record.value);
      }
      await onItem(
        decodeItem(
          asMessage('ledger-checkpoint', object.checkpoint.value, object.checkpoint.signature),
          key,
          undefined,
        ),
      );
    }
  }
}
