import type { Message, Producer } from 'kafkajs';

export interface PublisherOptions {
  /** Bytes gathered before one Kafka request is sent. */
  batchBytes: number;
  /** Bytes published but not yet acknowledged; publish() waits beyond this. Bounds memory. */
  maxInFlightBytes: number;
}

export interface TopicCounters {
  messages: number;
  /** Key + value + header bytes, as the producer handed them to Kafka. */
  bytes: number;
}

function messageBytes(m: Message): number {
  let n = (m.value ? Buffer.byteLength(m.value) : 0) + (m.key ? Buffer.byteLength(m.key) : 0);
  for (const [k, v] of Object.entries(m.headers ?? {})) {
    n += Buffer.byteLength(k);
    for (const part of Array.isArray(v) ? v : [v]) n += part === undefined ? 0 : Buffer.byteLength(part);
  }
  return n;
}

/**
 * Batches messages into few large requests with all replicas acknowledging (acks=all,
 * idempotent producer), and applies back-pressure: at most maxInFlightBytes are
 * unacknowledged at a time. flush() waits for every acknowledgement and surfaces the first
 * failure, so "published" means durable in Kafka.
 */
export class EventPublisher {
  private pending = new Map<string, Message[]>();
  private pendingBytes = 0;
  private inFlightBytes = 0;
  private readonly inFlight = new Set<Promise<void>>();
  private failure: Error | undefined;
  readonly counters = new Map<string, TopicCounters>();

  constructor(
    private readonly producer: Producer,
    private readonly options: PublisherOptions,
  ) {}

  async publish(topic: string, message: Message): Promise<void> {
    if (this.failure !== undefined) throw this.failure;
    const bytes = messageBytes(message);
    const list = this.pending.get(topic) ?? [];
    list.push(message);
    this.pending.set(topic, list);
    this.pendingBytes += bytes;
    const c = this.counters.get(topic) ?? { messages: 0, bytes: 0 };
    c.messages += 1;
    c.bytes += bytes;
    this.counters.set(topic, c);
    if (this.pendingBytes >= this.options.batchBytes) await this.sendPending();
  }

  /** Sends what is gathered and waits until everything published so far is acknowledged. */
  async flush(): Promise<void> {
    await this.sendPending();
    while (this.inFlight.size > 0) await Promise.race(this.inFlight);
    if (this.failure !== undefined) throw this.failure;
  }

  private async sendPending(): Promise<void> {
    if (this.pendingBytes === 0) return;
    while (this.inFlight.size > 0 && this.inFlightBytes + this.pendingBytes > this.options.maxInFlightBytes) {
      await Promise.race(this.inFlight);
    }
    if (this.failure !== undefined) throw this.failure;
    // Another publish() may have sent what was pending while this one waited.
    if (this.pendingBytes === 0) return;
    const topicMessages = [...this.pending].map(([topic, messages]) => ({ topic, messages }));
    const bytes = this.pendingBytes;
    this.pending = new Map();
    this.pendingBytes = 0;
    this.inFlightBytes += bytes;
    const sent: Promise<void> = this.producer
      .sendBatch({ topicMessages, acks: -1 })
      .then(
        () => undefined,
        (err: unknown) => {
          this.failure ??= err instanceof Error ? err : new Error(String(err));
        },
      )
      .finally(() => {
        this.inFlightBytes -= bytes;
        this.inFlight.delete(sent);
      });
    this.inFlight.add(sent);
  }
}
