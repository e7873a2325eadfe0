import type { BackstreamConfig } from '../config';

/**
 * Every topic backstream uses, in one place. Names are relative to kafka.topicPrefix.
 *
 * - chunks:       chunk bytes from the producer to the chunk-workers (key: chunk hash, so
 *                 one chunk is always stored by one worker at a time)
 * - stored:       blocks in object storage, for the verifiers (key: chunk hash)
 * - progress:     everything the archiver needs about a snapshot — files, seal, verified
 *                 and corrupt chunks, failure — keyed by snapshot id so one snapshot's
 *                 events share one partition, in order
 * - ledger-intents: commit records the archivers ask to append; one partition, read by
 *                 the one active ledger sequencer
 * - ledger:       the commit records, hash-chained and signed by the sequencer, with signed
 *                 Merkle checkpoints: one partition (a total order auditors replay), kept
 *                 forever, never compacted
 * - dead-letters: events no service could parse or accept, with the reason
 */
export type TopicRole = 'chunks' | 'stored' | 'progress' | 'ledger-intents' | 'ledger' | 'dead-letters';

export interface TopicDefinition {
  role: TopicRole;
  name: string;
  partitions: number;
  configs: Record<string, string>;
}

const DAY_MS = 24 * 60 * 60 * 1000;
/** Room for headers and batch overhead. */
const ENVELOPE_BYTES = 256 * 1024;

/**
 * Kafka's max.message.bytes limits a whole record batch, not one record: the producer
 * sends up to producer.batchBytes per request, and its last message (up to one chunk) may
 * push a partition's batch past that.
 */
function batchLimit(config: BackstreamConfig): string {
  return String(config.producer.batchBytes + config.chunking.maxSize + ENVELOPE_BYTES);
}

export function topicName(config: BackstreamConfig, role: TopicRole): string {
  return `${config.kafka.topicPrefix}${role}`;
}

export type ConsumerService = 'chunk-worker' | 'verifier' | 'archiver' | 'producer' | 'ledger-sequencer';

/**
 * The consumer group of a service: the configured one, or derived from the topic prefix.
 * The producer service's group reads the change topics (changes.groupId).
 */
export function consumerGroupId(config: BackstreamConfig, service: ConsumerService): string {
  const configured = {
    'chunk-worker': config.chunkWorker.groupId,
    verifier: config.verifier.groupId,
    archiver: config.archiver.groupId,
    producer: config.changes.groupId,
    'ledger-sequencer': config.ledger.sequencerGroupId,
  }[service];
  return configured !== '' ? configured : `${config.kafka.topicPrefix}${service}`;
}

export function topicDefinitions(config: BackstreamConfig): TopicDefinition[] {
  const t = config.topics;
  const retention = (days: number): string => String(days * DAY_MS);
  return [
    {
      role: 'chunks',
      name: topicName(config, 'chunks'),
      partitions: t.partitions,
      configs: {
        'max.message.bytes': batchLimit(config),
        'retention.ms': retention(t.retentionDays),
        'cleanup.policy': 'delete',
      },
    },
    {
      role: 'stored',
      name: topicName(config, 'stored'),
      partitions: t.partitions,
      configs: {
        'max.message.bytes': batchLimit(config),
        'retention.ms': retention(t.retentionDays),
        'cleanup.policy': 'delete',
      },
    },
    {
      role: 'progress',
      name: topicName(config, 'progress'),
      partitions: t.partitions,
      configs: {
        'max.message.bytes': batchLimit(config),
        'retention.ms': retention(t.retentionDays),
        'cleanup.policy': 'delete',
      },
    },
    {
      role: 'ledger-intents',
      name: topicName(config, 'ledger-intents'),
      partitions: 1,
      configs: {
        'retention.ms': retention(t.retentionDays),
        'cleanup.policy': 'delete',
        ...(t.replicationFactor >= 3 ? { 'min.insync.replicas': '2' } : {}),
      },
    },
    {
      role: 'ledger',
      name: topicName(config, 'ledger'),
      partitions: 1,
      configs: {
        'retention.ms': '-1',
        'retention.bytes': '-1',
        'cleanup.policy': 'delete',
        // With replicas, an acknowledged commit record must be on at least two of them.
        ...(t.replicationFactor >= 3 ? { 'min.insync.replicas': '2' } : {}),
      },
    },
    {
      role: 'dead-letters',
      name: topicName(config, 'dead-letters'),
      partitions: 1,
      configs: {
        'max.message.bytes': batchLimit(config),
        'retention.ms': retention(t.deadLetterRetentionDays),
        'cleanup.policy': 'delete',
      },
    },
  ];
}
