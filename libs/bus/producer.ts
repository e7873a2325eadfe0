import { Partitioners, type Kafka, type Producer } from 'kafkajs';

/**
 * The producer every service publishes with: idempotent (a retried request never
 * duplicates a message within a session), acks from all in-sync replicas, and the Java
 * client's murmur2 partitioner so keys land where other Kafka clients would put them.
 */
export function createIdempotentProducer(kafka: Kafka): Producer {
  return kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    createPartitioner: Partitioners.DefaultPartitioner,
    // Idempotence needs unbounded retries (kafkajs warns otherwise): during a broker outage
    // publishing waits, which is the back-pressure a pipeline stage wants.
    retry: { retries: Number.MAX_SAFE_INTEGER, initialRetryTime: 200, maxRetryTime: 10000 },
  });
}
