import { Partitioners, type Batch, type Kafka, type KafkaMessage, type Message, type Producer } from 'kafkajs';
import type { BackstreamConfig } from '../config';
import { BackstreamError, InvalidEventError, describeError, isRetriable } from '../errors';
import { consumerGroupId, deadLetter, decodeCommitIntent, topicName, type OutgoingMessage } from '../events';
import type { ConsumerWatcher } from '../health/readiness';
import type { Logger } from '../log';
import { backstreamMetrics, inInternalSpan, linksOf } from '../telemetry';
import type { ObjectStore } from '../store';
import { LedgerChain, ledgerMessage, type SealedRecord } from './chain';
import { writeMirrorObject } from './mirror';
import type { LedgerSigningKey } from './signing';
import { TrustedLedger } from './follower';

/** Records per seal: bounds a mirror object (records are ~1 KiB) and a transaction. */
const MAX_RECORDS_PER_SEAL = 500;
/** The readiness check that says whether the active sequencer could rebuild the chain and append. */
const CHAIN_CHECK = 'ledger-sequencer-chain';
/**
 * Backoff of the sequencer's consumer after a failed batch (kafkajs retries, then restarts
 * the consumer, then retries again — never giving up): re-reading the whole ledger on
 * every attempt must not spin.
 */
const SEQUENCER_RETRY = { initialRetryTime: 1000, maxRetryTime: 30_000, retries: 5 };

export interface LedgerSequencerOptions {
  kafka: Kafka;
  config: BackstreamConfig;
  store: ObjectStore;
  signer: LedgerSigningKey;
  logger: Logger;
  /** Told about the sequencer's consumer, for /readyz. */
  health?: ConsumerWatcher;
}

export interface RunningSequencer {
  /** Records this instance appended, in order (for tests and logs). */
  appended: string[];
  stop(): Promise<void>;
}

/** What the active sequencer holds: its fenced transactional producer and the chain's head. */
interface Active {
  producer: Producer;
  chain: LedgerChain;
  /** Records after the last checkpoint (normally none: every seal ends with one). */
  unsealed: SealedRecord[];
  sealedSize: number;
}

/**
 * Rebuilds the chain from the ledger topic, through the TrustedLedger: records without a
 * valid signature (someone with write access to Kafka) never reach the chain, and `ledger
 * verify` names them. A byte-identical repeat of a record is skipped with a warning; a
 * validly signed record that does not continue the chain (a fork) throws.
 */
async function rebuildChain(options: LedgerSequencerOptions): Promise<Omit<Active, 'producer'>> {
  const { kafka, config, signer, logger } = options;
  const chain = new LedgerChain();
  let unsealed: SealedRecord[] = [];
  let sealedSize = 0;
  const ledger = new TrustedLedger({
    kafka,
    topic: topicName(config, 'ledger'),
    trust: { key: signer.verifying },
    onRejected: (at, reason) => logger.warn({ at, reason }, 'ledger: skipping a message the ledger key did not sign'),
  });
  await ledger.topic().read((item) => {
    if (item.kind === 'checkpoint') {
      if (item.checkpoint.treeSize === chain.size) {
        sealedSize = chain.size;
        unsealed = [];
      }
      return;
    }
    if (chain.accept(item.value, item.chained, item.at) === 'repeat') {
      logger.warn(
        { at: item.at, seq: item.chained.seq, snapshotId: item.chained.record.snapshotId },
        'ledger: skipping a byte-identical repeat of a record already in the chain',
      );
      return;
    }
    unsealed.push({ chained: item.chained, value: item.value, signature: item.signature ?? '' });
  });
  return { chain, unsealed, sealedSize };
}

/**
 * The ledger's one writer. Archivers send commit intents to the ledger-intents topic (one
 * partition); every archiver process runs a sequencer in one consumer group, so exactly one
 * is active. The active one chains and signs each new intent, writes the seal (records and
 * a signed checkpoint) to the store mirror, then commits the records, the checkpoint and
 * its intents offset in one Kafka transaction. Its transactional id fences a previous
 * holder of the partition: a zombie sequencer can no longer commit once a successor has
 * started, so the chain never forks.
 */
export async function runLedgerSequencer(options: LedgerSequencerOptions): Promise<RunningSequencer> {
  const { kafka, config, logger, signer } = options;
  const intentsTopic = topicName(config, 'ledger-intents');
  const ledgerTopic = topicName(config, 'ledger');
  const deadLetterTopic = topicName(config, 'dead-letters');
  const groupId = consumerGroupId(config, 'ledger-sequencer');
  const appended: string[] = [];
  let active: Active | undefined;

  const deactivate = async (): Promise<void> => {
    const was = active;
    active = undefined;
    await was?.producer.disconnect().catch(() => undefined);
  };

  const activate = async (): Promise<Active> => {
    const producer = kafka.producer({
      transactionalId: `${groupId}-tx`,
      idempotent: true,
      createPartitioner: Partitioners.DefaultPartitioner,
      retry: { retries: Number.MAX_SAFE_INTEGER, initialRetryTime: 200, maxRetryTime: 10000 },
      maxInFlightRequests: 1,
      transactionTimeout: config.ledger.transactionTimeoutMs,
    });
    // Connecting initialises the producer id and bumps the epoch: from here on, a previous
    // holder's transactions are aborted and its commits fail. Only then is the ledger read.
    await producer.connect();
    try {
      const state = await rebuildChain(options);
      logger.info({ records: state.chain.size, head: state.chain.head.slice(0, 16) }, 'ledger sequencer active');
      options.health?.set?.(CHAIN_CHECK, true, `active, ${state.chain.size} records`);
      return { producer, ...state };
    } catch (err) {
      await producer.disconnect().catch(() => undefined);
      throw err;
    }
  };

  const seal = async (state: Active, batch: Batch, messages: KafkaMessage[]): Promise<void> => {
    const deadLetters: Message[] = [];
    let lastAppended: KafkaMessage | undefined;
    for (const message of messages) {
      try {
        const sealed = state.chain.append(decodeCommitIntent(message), signer);
        if (sealed) {
          state.unsealed.push(sealed);
          lastAppended = message;
        } else logger.debug({ offset: message.offset }, 'ledger: intent already committed');
      } catch (err) {
        if (!(err instanceof InvalidEventError)) throw err;
        logger.warn({ offset: message.offset, reason: err.message }, 'dead-lettering an invalid commit intent');
        backstreamMetrics().deadLetters.add(1, { service: 'ledger-sequencer' });
        const origin = { topic: batch.topic, partition: batch.partition, offset: message.offset, service: 'archiver' };
        deadLetters.push(deadLetter(message, origin, err.message));
      }
    }
    const last = messages[messages.length - 1] as KafkaMessage;
    const out: OutgoingMessage[] = [];
    if (state.unsealed.length > 0) {
      // Event time of the last intent that became a record, so that a replay of the same
      // intents writes the same checkpoint however Kafka splits them into batches.
      const at = lastAppended ?? last;
      const checkpoint = state.chain.checkpoint(new Date(Number(at.timestamp)).toISOString(), signer);
      // Store first: every record the topic commits is then in the mirror already.
      await writeMirrorObject(options.store, state.sealedSize, state.unsealed, checkpoint);
      out.push(...state.unsealed.map(ledgerMessage), ledgerMessage(checkpoint));
    }
    const transaction = await state.producer.transaction();
    try {
      if (out.length > 0) await transaction.send({ topic: ledgerTopic, acks: -1, messages: out });
      if (deadLetters.length > 0) await transaction.send({ topic: deadLetterTopic, acks: -1, messages: deadLetters });
      await transaction.sendOffsets({
        consumerGroupId: groupId,
        topics: [
          {
            topic: batch.topic,
            partitions: [{ partition: batch.partition, offset: (BigInt(last.offset) + 1n).toString() }],
          },
        ],
      });
      await transaction.commit();
    } catch (err) {
      await transaction.abort().catch(() => undefined);
      throw err;
    }
    for (const r of state.unsealed) appended.push(r.chained.record.snapshotId);
    state.sealedSize = state.chain.size;
    state.unsealed = [];
  };

  const consumer = kafka.consumer({
    groupId,
    sessionTimeout: 30000,
    heartbeatInterval: 3000,
    maxWaitTimeInMs: 200,
    retry: SEQUENCER_RETRY,
  });
  // Whatever this member held before a rebalance, it must fence and re-read before writing.
  consumer.on(consumer.events.GROUP_JOIN, () => void deactivate());
  options.health?.watchConsumer('ledger-sequencer', consumer);
  const commitDuration = backstreamMetrics().ledgerCommitDuration;
  await consumer.connect();
  await consumer.subscribe({ topics: [intentsTopic], fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    eachBatch: async ({ batch, heartbeat, isRunning, isStale, resolveOffset }) => {
      if (batch.messages.length === 0) return;
      try {
        active ??= await activate();
        for (let i = 0; i < batch.messages.length; i += MAX_RECORDS_PER_SEAL) {
          if (!isRunning() || isStale()) return;
          const messages = batch.messages.slice(i, i + MAX_RECORDS_PER_SEAL);
          const started = performance.now();
          const state = active;
          // One span a seal, linked to the traces of the intents it commits.
          await inInternalSpan(
            'ledger append',
            { 'backstream.ledger.intents': messages.length },
            () => seal(state, batch, messages),
            linksOf(messages),
          );
          commitDuration.record((performance.now() - started) / 1000);
          // Committed in the transaction; this only moves the fetch position on.
          resolveOffset((messages[messages.length - 1] as KafkaMessage).offset);
          await heartbeat();
        }
      } catch (err) {
        // The chain in memory may be ahead of what committed: start over from the ledger.
        await deactivate();
        if (isRetriable(err)) {
          logger.error({ err: describeError(err) }, 'ledger sequencer failed; it will re-read the ledger and retry');
          throw err;
        }
        // A ledger it cannot extend (a fork, a mirror conflict): append nothing, say so on
        // /readyz, and keep re-reading with backoff — kafkajs would stop a consumer for good
        // on a non-retriable error, wedging every commit behind it.
        options.health?.set?.(CHAIN_CHECK, false, describeError(err));
        logger.error(
          { err: describeError(err) },
          'ledger sequencer cannot continue the ledger: it appends nothing and re-reads the ledger with backoff until it can (see `backstream ledger verify`)',
        );
        throw new BackstreamError(
          err instanceof BackstreamError ? err.code : 'LEDGER_INCONSISTENT',
          `the ledger sequencer is waiting: ${describeError(err)}`,
          { retriable: true },
        );
      }
    },
  });
  return {
    appended,
    stop: async () => {
      await consumer.disconnect();
      await deactivate();
    },
  };
}
