import type { Kafka } from 'kafkajs';
import { readTopic } from '../bus';
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
import { decodeMirrorObject, listMirrorKeys } from './mirror';
import type { LedgerVerifyingKey } from './signing';

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
        object = decodeMirrorObject(key, await this.store.get(key));
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

/**
 * A source that drops what the ledger key did not sign: records and checkpoints forged into
 * the topic or the mirror by someone without the key never reach restore, `snapshots` or
 * `history`. `onDropped` says what was dropped (`ledger verify` reports it in full).
 */
export class SignedLedgerSource implements LedgerSource {
  readonly description: string;

  constructor(
    private readonly inner: LedgerSource,
    private readonly key: LedgerVerifyingKey,
    private readonly onDropped: (at: string, reason: string) => void = () => undefined,
  ) {
    this.description = inner.description;
  }

  read(onItem: (item: LedgerItem) => void | Promise<void>): Promise<void> {
    return this.inner.read((item) => {
      if (item.kind !== 'invalid' && !this.key.verify(item.value, item.signature)) {
        this.onDropped(item.at, `not signed by ledger key ${this.key.keyId}`);
        return;
      }
      return onItem(item);
    });
  }
}
