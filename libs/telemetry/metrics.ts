import { metrics, type Attributes, type Counter, type Histogram, type ObservableGauge } from '@opentelemetry/api';

/**
 * The instruments of backstream, one set per process, created from the global meter
 * provider. With telemetry off the provider is the API's no-op one and recording costs a
 * function call. Names are dotted OpenTelemetry names; the Prometheus endpoint shows them
 * with underscores (and `_total` on counters): backstream.chunks.processed →
 * backstream_chunks_processed_total.
 */
export interface BackstreamMetrics {
  /** Messages a stage handled, by `service` and `outcome` (ok | dead_lettered); a corrupt block is an ok message (see verificationFailures). */
  chunksProcessed: Counter;
  /** Chunk bytes (uncompressed) a stage handled, by `service`. */
  bytesProcessed: Counter;
  /** Chunk bytes the verifier saw by `result`: new (uploaded) or existing (deduplicated). */
  dedupBytes: Counter;
  /** Blocks the verifier found missing or corrupt. */
  verificationFailures: Counter;
  /** Events sent to the dead-letter topic, by `service`. */
  deadLetters: Counter;
  /** S3 request time by `operation` and `outcome` (ok | not_found | exists | error), including SDK retries. */
  s3RequestDuration: Histogram;
  /** Failed S3 requests (not 404/412, which the pipeline expects) by `operation` and `error.type`. */
  s3RequestErrors: Counter;
  /** Time from the first intent of a ledger append to its Kafka transaction commit. */
  ledgerCommitDuration: Histogram;
  /** Messages behind the partition's end after the last batch, by group, topic and partition (messaging.* names). */
  consumerLag: ObservableGauge;
  /** Share of chunk bytes that were already stored (existing / all), since the process started. */
  dedupRatio: ObservableGauge;
}

const SECONDS_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** Latest lag per `group|topic|partition`, read by the lag gauge's callback. */
const lags = new Map<string, { value: number; attributes: Attributes }>();
const dedup = { new: 0, existing: 0 };
let instruments: BackstreamMetrics | undefined;

function create(): BackstreamMetrics {
  const meter = metrics.getMeter('backstream');
  const m: BackstreamMetrics = {
    chunksProcessed: meter.createCounter('backstream.chunks.processed', {
      description: 'Messages a pipeline stage handled, by service and outcome.',
      unit: '{message}',
    }),
    bytesProcessed: meter.createCounter('backstream.bytes.processed', {
      description: 'Chunk bytes (before compression) a pipeline stage handled.',
      unit: 'By',
    }),
    dedupBytes: meter.createCounter('backstream.dedup.bytes', {
      description: 'Chunk bytes by result: new (uploaded as a block) or existing (the block was stored already).',
      unit: 'By',
    }),
    verificationFailures: meter.createCounter('backstream.verification.failures', {
      description: 'Blocks the verifier read back and found missing or corrupt.',
      unit: '{block}',
    }),
    deadLetters: meter.createCounter('backstream.dead_letters', {
      description: 'Events rejected to the dead-letter topic.',
      unit: '{message}',
    }),
    s3RequestDuration: meter.createHistogram('backstream.s3.request.duration', {
      description: 'Object-store request time, SDK retries included.',
      unit: 's',
      advice: { explicitBucketBoundaries: SECONDS_BUCKETS },
    }),
    s3RequestErrors: meter.createCounter('backstream.s3.request.errors', {
      description: 'Object-store requests that failed after the SDK retries.',
      unit: '{request}',
    }),
    ledgerCommitDuration: meter.createHistogram('backstream.ledger.commit.duration', {
      description:
        'Time from reading commit intents to committing their ledger records (mirror write + Kafka transaction).',
      unit: 's',
      advice: { explicitBucketBoundaries: SECONDS_BUCKETS },
    }),
    consumerLag: meter.createObservableGauge('backstream.consumer.lag', {
      description: 'Messages between the last batch a consumer handled and the end of its partition.',
      unit: '{message}',
    }),
    dedupRatio: meter.createObservableGauge('backstream.dedup.ratio', {
      description: 'Share of chunk bytes whose block was stored already, since the process started.',
      unit: '1',
    }),
  };
  m.consumerLag.addCallback((result) => {
    for (const { value, attributes } of lags.values()) result.observe(value, attributes);
  });
  m.dedupRatio.addCallback((result) => {
    const all = dedup.new + dedup.existing;
    if (all > 0) result.observe(dedup.existing / all);
  });
  return m;
}

/** The process's instruments (created on first use, after startTelemetry has set the meter provider). */
export function backstreamMetrics(): BackstreamMetrics {
  instruments ??= create();
  return instruments;
}

/** Forget instruments made against an earlier meter provider (startTelemetry, tests). */
export function resetMetrics(): void {
  instruments = undefined;
  lags.clear();
  dedup.new = 0;
  dedup.existing = 0;
}

export function recordConsumerLag(group: string, topic: string, partition: number, lag: number): void {
  lags.set(`${group}|${topic}|${partition}`, {
    value: Math.max(0, lag),
    attributes: {
      'messaging.consumer.group.name': group,
      'messaging.destination.name': topic,
      'messaging.destination.partition.id': String(partition),
    },
  });
}

/**
 * Counts a consumer's handled messages (ok or dead-lettered). The series start at 0, so
 * alerts on their rate have something to read before the first event.
 */
export function handledMessagesCounter(service: string): (ok: number, deadLettered: number) => void {
  const m = backstreamMetrics();
  m.chunksProcessed.add(0, { service, outcome: 'ok' });
  m.chunksProcessed.add(0, { service, outcome: 'dead_lettered' });
  m.deadLetters.add(0, { service });
  return (ok, deadLettered) => {
    if (ok > 0) m.chunksProcessed.add(ok, { service, outcome: 'ok' });
    if (deadLettered > 0) {
      m.chunksProcessed.add(deadLettered, { service, outcome: 'dead_lettered' });
      m.deadLetters.add(deadLettered, { service });
    }
  };
}

/** A chunk of `bytes` was found stored already (`existing`) or was uploaded (`new`). */
export function recordDedup(service: string, result: 'new' | 'existing', bytes: number): void {
  dedup[result] += bytes;
  backstreamMetrics().dedupBytes.add(bytes, { service, result });
}
