import { BackstreamError, InvalidEventError, describeError } from '../errors';

/**
 * The rule every consumer loop applies to a message it failed to handle, so that no
 * message is retried forever and no outage loses one:
 *   - an InvalidEventError (the message breaks its contract) is dead-lettered at once;
 *   - any other BackstreamError that is not retriable (an Object-Locked block a repair
 *     cannot overwrite, a staged object S3 refuses) is dead-lettered once the same message
 *     (partition + offset) has failed maxAttempts times;
 *   - a retriable error (S3 or Kafka down), or an error that is no BackstreamError, is never
 *     dead-lettered: the loop retries it with backoff until it passes.
 * Counts live in memory, one entry per message that failed and has not passed since: a
 * restart grants a message maxAttempts more.
 */
export class FailedAttempts {
  private readonly counts = new Map<string, number>();

  constructor(readonly maxAttempts: number) {}

  /** Records a failure of the message; returns the dead-letter reason, or undefined to retry it. */
  deadLetterReason(partition: number, offset: string, err: unknown): string | undefined {
    if (err instanceof InvalidEventError) return err.message;
    if (!(err instanceof BackstreamError) || err.retriable) return undefined;
    const key = `${partition}:${offset}`;
    const attempts = (this.counts.get(key) ?? 0) + 1;
    if (attempts < this.maxAttempts) {
      this.counts.set(key, attempts);
      return undefined;
    }
    this.counts.delete(key);
    return `failed ${attempts} times with a non-retriable ${err.code}: ${describeError(err)}`;
  }

  /** The message was handled (or dead-lettered): forget its failures. */
  passed(partition: number, offset: string): void {
    if (this.counts.size > 0) this.counts.delete(`${partition}:${offset}`);
  }

  /** Messages that failed and are waiting for another attempt. */
  get pending(): number {
    return this.counts.size;
  }
}
