import type { Kafka } from 'kafkajs';
import type { TopicReader } from '../bus';
import type { ObjectStore } from '../store';
import type { LedgerVerifyingKey } from './signing';
import { StoreLedgerSource, TopicLedgerSource, type LedgerItem, type LedgerSource, type LedgerStart } from './source';

/**
 * How the follower judges items: by the ledger's public key, or — only with the
 * development flag ledger.allowUnsigned — not at all.
 */
export type LedgerTrust = { key: LedgerVerifyingKey } | { unverified: true };

/** A record or checkpoint the follower handed on: signed by the ledger key (unless unverified). */
export type TrustedLedgerItem = Exclude<LedgerItem, { kind: 'invalid' }>;

/** A LedgerSource whose every item passed the trust rule. */
export interface TrustedLedgerSource extends LedgerSource {
  read(onItem: (item: TrustedLedgerItem) => void | Promise<void>): Promise<void>;
}

export interface TrustedLedgerOptions {
  kafka: Kafka;
  /** The ledger topic. */
  topic: string;
  trust: LedgerTrust;
  /** Told about every item not handed on: not a ledger item, unsigned, or signed by another key. */
  onRejected?(at: string, reason: string): void;
}

/**
 * The ledger as every process that acts on it reads it: readers, `backup`, the archiver's
 * index, the change ingest and the sequencer. It owns the trust rule — an item is handed on
 * only if it decodes and its signature verifies under the configured key — for both ways of
 * reading: replaying to the end (`topic()`, `mirror()`: LedgerSources) and following the
 * topic live (`follow()`). `ledger verify` (libs/audit) is the one reader that sees
 * unfiltered items, because it reports them.
 */
export class TrustedLedger {
  constructor(private readonly options: TrustedLedgerOptions) {}

  /** The trust rule, the one place it is written. */
  admit(item: LedgerItem): item is TrustedLedgerItem {
    const reject = (reason: string): false => {
      this.options.onRejected?.(item.at, reason);
      return false;
    };
    if (item.kind === 'invalid') return reject(item.reason);
    const { trust } = this.options;
    if ('unverified' in trust) return true;
    if (item.signature === undefined) return reject('unsigned');
    if (!trust.key.verify(item.value, item.signature)) return reject(`not signed by ledger key ${trust.key.keyId}`);
    return true;
  }

  /** Any source with only what the trust rule admits. */
  filter(inner: LedgerSource): TrustedLedgerSource {
    return {
      description: inner.description,
      read: (onItem) => inner.read((item) => (this.admit(item) ? onItem(item) : undefined)),
    };
  }

  /** The topic, replayed from `fromOffset` (default: its start) to the end it has now. */
  topic(fromOffset?: string): TrustedLedgerSource {
    return this.filter(new TopicLedgerSource(this.options.kafka, this.options.topic, fromOffset));
  }

  /** The store mirror (ledger/checkpoints/), replayed to its end. */
  mirror(store: ObjectStore): TrustedLedgerSource {
    return this.filter(new StoreLedgerSource(store));
  }

  /**
   * Follows the topic live from `start`: `caughtUp` resolves once what the topic held at
   * the start has been handed on, then every new admitted item follows until `stop()`.
   */
  follow(start: LedgerStart, onItem: (item: TrustedLedgerItem) => void | Promise<void>): Promise<TopicReader> {
    return new TopicLedgerSource(this.options.kafka, this.options.topic).follow(start, (item) =>
      this.admit(item) ? onItem(item) : undefined,
    );
  }
}
