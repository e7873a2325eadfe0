import { KafkaJSError, KafkaJSNumberOfRetriesExceeded } from 'kafkajs';
import { BackstreamError, describeError } from '../errors';

/**
 * Kafka did not take the records. `retriable` says whether sending the same changes again
 * can succeed: a broker that timed out or was unreachable, yes; a record the broker
 * refuses (too large for max.message.bytes, topic not authorised), no.
 */
export class PublishError extends BackstreamError {
  readonly topic: string;
  constructor(topic: string, message: string, options: { retriable: boolean; hint?: string; cause?: unknown }) {
    super('KAFKA_UNAVAILABLE', message, options);
    this.topic = topic;
  }
}

/** Publishing the same changes again is safe: a copy has the same identity and is stored once. */
const RETRY_HINT = 'the send may still complete; publishing the same changes again is safe';

/** A send's failure as a BackstreamError (one already is passes through). */
export function publishError(err: unknown, topic: string): BackstreamError {
  if (err instanceof BackstreamError) return err;
  // kafkajs marks "retries exhausted" non-retriable (its own retrier gives up), but it only
  // gives up on errors it deemed retriable: a later send can succeed.
  const retriable = err instanceof KafkaJSNumberOfRetriesExceeded || (err instanceof KafkaJSError && err.retriable);
  return new PublishError(topic, `publishing to topic ${topic} failed: ${describeError(err)}`, {
    retriable,
    ...(retriable ? { hint: RETRY_HINT } : {}),
    cause: err,
  });
}

/** The broker did not acknowledge within the publisher's timeoutMs. */
export function publishTimeout(topic: string, ms: number): BackstreamError {
  return new BackstreamError('TIMEOUT', `publishing to topic ${topic}: no acknowledgement within ${ms} ms`, {
    retriable: true,
    hint: RETRY_HINT,
  });
}
