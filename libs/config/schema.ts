import type { Schema } from 'convict';
import { atMost } from './formats';

/**
 * The settings of every backstream process, in one schema. Shared sections (kafka, s3,
 * chunking, store, log) are read by every service; the per-service sections only by
 * the service they name. Each key has an environment variable BACKSTREAM_<SECTION>_<KEY>;
 * a JSON file (--config or BACKSTREAM_CONFIG) may set any of them, environment wins.
 */
export interface BackstreamConfig {
  kafka: {
    brokers: string[];
    clientId: string;
    topicPrefix: string;
    connectionTimeoutMs: number;
    requestTimeoutMs: number;
    maxUncompressedBatchBytes: number;
    ssl: boolean;
    sasl: { mechanism: '' | 'plain' | 'scram-sha-256' | 'scram-sha-512'; username: string; password: string };
  };
  s3: {
    endpoint: string;
    region: string;
    bucket: string;
    prefix: string;
    accessKeyId: string;
    secretAccessKey: string;
    sessionToken: string;
    forcePathStyle: boolean;
    checksums: 'when_required' | 'when_supported';
    maxAttempts: number;
  };
  topics: { partitions: number; replicationFactor: number; retentionDays: number; deadLetterRetentionDays: number };
  chunking: { minSize: number; avgSize: number; maxSize: number };
  store: { concurrency: number };
  log: { level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent' };
  health: { port: number; host: string };
  telemetry: { otlpEndpoint: string; prometheus: boolean; traceSampleRatio: number; metricsExportIntervalMs: number };
  shutdown: { gracePeriodMs: number };
  producer: { maxInFlightBytes: number; batchBytes: number; commitTimeoutMs: number };
  chunkWorker: { groupId: string; compressionLevel: number; fetchMaxBytes: number };
  verifier: { groupId: string };
  archiver: {
    groupId: string;
    segmentBytes: number;
    abandonAfterMs: number;
    maxPendingSnapshots: number;
    maxSnapshotChunks: number;
  };
  bus: { maxAttempts: number };
  changes: {
    topics: string[];
    source: string;
    groupId: string;
    batchMaxEvents: number;
    batchMaxMs: number;
    maxValueBytes: number;
    maxInFlightBytes: number;
  };
  encryption: { masterKey: string; masterKeyFile: string };
  ledger: {
    signingKey: string;
    signingKeyFile: string;
    publicKey: string;
    publicKeyFile: string;
    allowUnsigned: boolean;
    sequencerGroupId: string;
    transactionTimeoutMs: number;
  };
  objectLock: { mode: '' | 'GOVERNANCE' | 'COMPLIANCE'; retentionDays: number; extendDays: number };
}

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

export const configSchema: Schema<BackstreamConfig> = {
  kafka: {
    brokers: {
      doc: 'Kafka bootstrap servers, comma-separated host:port.',
      format: 'broker-list',
      default: [],
      env: 'BACKSTREAM_KAFKA_BROKERS',
    },
    clientId: {
      doc: 'Kafka client id prefix; the service name is appended.',
      format: 'non-empty-string',
      default: 'backstream',
      env: 'BACKSTREAM_KAFKA_CLIENT_ID',
    },
    topicPrefix: {
      doc: 'Prefix of every topic backstream creates and uses, so that several deployments can share a cluster.',
      format: 'topic-prefix',
      default: 'backstream.',
      env: 'BACKSTREAM_KAFKA_TOPIC_PREFIX',
    },
    connectionTimeoutMs: {
      doc: 'Milliseconds to wait for a broker connection.',
      format: 'positive-int',
      default: 3000,
      env: 'BACKSTREAM_KAFKA_CONNECTION_TIMEOUT_MS',
    },
    requestTimeoutMs: {
      doc: 'Milliseconds to wait for a broker request.',
      format: 'positive-int',
      default: 30000,
      env: 'BACKSTREAM_KAFKA_REQUEST_TIMEOUT_MS',
    },
    maxUncompressedBatchBytes: {
      doc: 'The most bytes one compressed record batch (gzip, Snappy, LZ4, ZSTD: what upstream producers such as Debezium may write) may expand to when a consumer reads it. Checked before the records are allocated, so a small crafted batch cannot exhaust memory; a batch above it stops its partition with an error naming this setting.',
      format: atMost('positive-int', 2 ** 30),
      default: 64 * 2 ** 20,
      env: 'BACKSTREAM_KAFKA_MAX_UNCOMPRESSED_BATCH_BYTES',
    },
    ssl: {
      doc: 'Connect to the brokers over TLS.',
      format: Boolean,
      default: false,
      env: 'BACKSTREAM_KAFKA_SSL',
    },
    sasl: {
      mechanism: {
        doc: 'SASL mechanism, empty for none.',
        format: ['', 'plain', 'scram-sha-256', 'scram-sha-512'],
        default: '',
        env: 'BACKSTREAM_KAFKA_SASL_MECHANISM',
      },
      username: {
        doc: 'SASL user name.',
        format: String,
        default: '',
        env: 'BACKSTREAM_KAFKA_SASL_USERNAME',
      },
      password: {
        doc: 'SASL password.',
        format: 'plain-string',
        default: '',
        sensitive: true,
        env: 'BACKSTREAM_KAFKA_SASL_PASSWORD',
      },
    },
  },
  s3: {
    endpoint: {
      doc: 'S3 endpoint URL (http or https); empty for AWS S3 itself.',
      format: 'optional-url',
      default: '',
      env: 'BACKSTREAM_S3_ENDPOINT',
    },
    region: {
      doc: 'S3 region.',
      format: 'non-empty-string',
      default: 'us-east-1',
      env: 'BACKSTREAM_S3_REGION',
    },
    bucket: {
      doc: 'Bucket that holds blocks, manifests and ledger mirrors.',
      format: 'bucket-name',
      default: '',
      env: 'BACKSTREAM_S3_BUCKET',
    },
    prefix: {
      doc: 'Key prefix inside the bucket, so that several repositories can share one bucket.',
      format: 'key-prefix',
      default: '',
      env: 'BACKSTREAM_S3_PREFIX',
    },
    accessKeyId: {
      doc: 'Access key id; empty to use the SDK default chain (environment, profile, IRSA, instance role).',
      format: String,
      default: '',
      env: 'BACKSTREAM_S3_ACCESS_KEY_ID',
    },
    secretAccessKey: {
      doc: 'Secret access key, with accessKeyId.',
      format: 'plain-string',
      default: '',
      sensitive: true,
      env: 'BACKSTREAM_S3_SECRET_ACCESS_KEY',
    },
    sessionToken: {
      doc: 'Session token for temporary credentials.',
      format: 'plain-string',
      default: '',
      sensitive: true,
      env: 'BACKSTREAM_S3_SESSION_TOKEN',
    },
    forcePathStyle: {
      doc: 'Address buckets as http://endpoint/bucket rather than http://bucket.endpoint (most S3-compatible servers want true).',
      format: Boolean,
      default: false,
      env: 'BACKSTREAM_S3_FORCE_PATH_STYLE',
    },
    checksums: {
      doc: 'When the S3 client adds CRC checksums to requests and checks them on responses: when_required (only for operations that need one; works with every S3-compatible server) or when_supported (the AWS SDK default).',
      format: ['when_required', 'when_supported'],
      default: 'when_required',
      env: 'BACKSTREAM_S3_CHECKSUMS',
    },
    maxAttempts: {
      doc: 'Attempts per S3 request, including the first, for retriable failures.',
      format: atMost('positive-int', 20),
      default: 5,
      env: 'BACKSTREAM_S3_MAX_ATTEMPTS',
    },
  },
  topics: {
    partitions: {
      doc: 'Partitions of the chunks, stored and progress topics: the most instances of one service that can share the work.',
      format: 'positive-int',
      default: 8,
      env: 'BACKSTREAM_TOPICS_PARTITIONS',
    },
    replicationFactor: {
      doc: 'Replicas of every topic; -1 takes the broker default (default.replication.factor).',
      format: 'replication-factor',
      default: -1,
      env: 'BACKSTREAM_TOPICS_REPLICATION_FACTOR',
    },
    retentionDays: {
      doc: 'Days the chunks, stored and progress topics keep events; also how far back the archiver looks for committed snapshots when it replays.',
      format: 'positive-int',
      default: 7,
      env: 'BACKSTREAM_TOPICS_RETENTION_DAYS',
    },
    deadLetterRetentionDays: {
      doc: 'Days the dead-letter topic keeps rejected events.',
      format: 'positive-int',
      default: 30,
      env: 'BACKSTREAM_TOPICS_DEAD_LETTER_RETENTION_DAYS',
    },
  },
  chunking: {
    minSize: {
      doc: 'Smallest chunk the content-defined chunker cuts, in bytes (suffixes KiB, MiB accepted).',
      format: atMost('byte-size', 64 * MiB),
      default: 512 * KiB,
      env: 'BACKSTREAM_CHUNKING_MIN_SIZE',
    },
    avgSize: {
      doc: 'Target average chunk size in bytes; a power of two.',
      format: atMost('byte-size', 64 * MiB),
      default: 1 * MiB,
      env: 'BACKSTREAM_CHUNKING_AVG_SIZE',
    },
    maxSize: {
      doc: 'Largest chunk in bytes; bounds the size of one chunk event.',
      format: atMost('byte-size', 64 * MiB),
      default: 8 * MiB,
      env: 'BACKSTREAM_CHUNKING_MAX_SIZE',
    },
  },
  store: {
    concurrency: {
      doc: 'Object-store requests one process keeps in flight.',
      format: atMost('positive-int', 256),
      default: 8,
      env: 'BACKSTREAM_STORE_CONCURRENCY',
    },
  },
  log: {
    level: {
      doc: 'Log level.',
      format: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
      default: 'info',
      env: 'BACKSTREAM_LOG_LEVEL',
    },
  },
  health: {
    port: {
      doc: 'Port of the HTTP server of a long-running service (`backstream run …`): /healthz, /readyz and /metrics. 0: any free port (the service logs which).',
      format: 'port',
      default: 9400,
      env: 'BACKSTREAM_HEALTH_PORT',
    },
    host: {
      doc: 'Address the health server listens on.',
      format: 'non-empty-string',
      default: '0.0.0.0',
      env: 'BACKSTREAM_HEALTH_HOST',
    },
  },
  telemetry: {
    otlpEndpoint: {
      doc: 'OTLP/HTTP endpoint of an OpenTelemetry collector (e.g. http://otel-collector:4318): traces and metrics are exported to it. Empty: nothing is exported.',
      format: 'optional-url',
      default: '',
      env: 'BACKSTREAM_TELEMETRY_OTLP_ENDPOINT',
    },
    prometheus: {
      doc: 'Record metrics and serve them in the Prometheus text format on the health port at /metrics. With this false and otlpEndpoint empty, telemetry is off entirely.',
      format: Boolean,
      default: true,
      env: 'BACKSTREAM_TELEMETRY_PROMETHEUS',
    },
    traceSampleRatio: {
      doc: 'Share of new traces (one per chunk) that are recorded, from 0 to 1; a service follows the decision of the message it consumes.',
      format: 'ratio',
      default: 1,
      env: 'BACKSTREAM_TELEMETRY_TRACE_SAMPLE_RATIO',
    },
    metricsExportIntervalMs: {
      doc: 'Milliseconds between metric exports to otlpEndpoint.',
      format: 'positive-int',
      default: 15000,
      env: 'BACKSTREAM_TELEMETRY_METRICS_EXPORT_INTERVAL_MS',
    },
  },
  shutdown: {
    gracePeriodMs: {
      doc: "On SIGTERM, milliseconds a service has to finish its in-flight work, commit and disconnect; work not finished by then is abandoned uncommitted and redelivered (exit code 1). An idle service needs about 1 s to leave its group and 1.5 s are kept for flushing telemetry, so keep it at 5000 or more, and below the pod's terminationGracePeriodSeconds.",
      format: 'positive-int',
      default: 20000,
      env: 'BACKSTREAM_SHUTDOWN_GRACE_PERIOD_MS',
    },
  },
  producer: {
    maxInFlightBytes: {
      doc: 'Chunk bytes the producer may have published but not yet acknowledged; bounds its memory.',
      format: atMost('byte-size', 1 * GiB),
      default: 64 * MiB,
      env: 'BACKSTREAM_PRODUCER_MAX_IN_FLIGHT_BYTES',
    },
    batchBytes: {
      doc: 'Bytes of events the producer gathers into one Kafka request.',
      format: atMost('byte-size', 64 * MiB),
      default: 4 * MiB,
      env: 'BACKSTREAM_PRODUCER_BATCH_BYTES',
    },
    commitTimeoutMs: {
      doc: 'Milliseconds `backstream backup` waits for its snapshot to be committed.',
      format: 'positive-int',
      default: 30 * 60 * 1000,
      env: 'BACKSTREAM_PRODUCER_COMMIT_TIMEOUT_MS',
    },
  },
  chunkWorker: {
    groupId: {
      doc: 'Consumer group of the chunk-workers; empty: <kafka.topicPrefix>chunk-worker, so deployments sharing a cluster never share a group.',
      format: String,
      default: '',
      env: 'BACKSTREAM_CHUNK_WORKER_GROUP_ID',
    },
    compressionLevel: {
      doc: 'zstd level for blocks (1 fastest … 19 smallest).',
      format: 'zstd-level',
      default: 3,
      env: 'BACKSTREAM_CHUNK_WORKER_COMPRESSION_LEVEL',
    },
    fetchMaxBytes: {
      doc: 'Chunk bytes one chunk-worker fetches at once; bounds its memory (at least chunking.maxSize).',
      format: atMost('byte-size', 1 * GiB),
      default: 32 * MiB,
      env: 'BACKSTREAM_CHUNK_WORKER_FETCH_MAX_BYTES',
    },
  },
  verifier: {
    groupId: {
      doc: 'Consumer group of the verifiers; empty: <kafka.topicPrefix>verifier, so deployments sharing a cluster never share a group.',
      format: String,
      default: '',
      env: 'BACKSTREAM_VERIFIER_GROUP_ID',
    },
  },
  archiver: {
    groupId: {
      doc: 'Consumer group of the archivers; empty: <kafka.topicPrefix>archiver, so deployments sharing a cluster never share a group.',
      format: String,
      default: '',
      env: 'BACKSTREAM_ARCHIVER_GROUP_ID',
    },
    segmentBytes: {
      doc: 'Size at which the archiver writes a file-list segment of a snapshot to the store; bounds its memory per snapshot.',
      format: atMost('byte-size', 256 * MiB),
      default: 4 * MiB,
      env: 'BACKSTREAM_ARCHIVER_SEGMENT_BYTES',
    },
    abandonAfterMs: {
      doc: 'A snapshot with no event for this long (by event time) is failed as abandoned, so it stops holding back offsets.',
      format: 'positive-int',
      default: 6 * 60 * 60 * 1000,
      env: 'BACKSTREAM_ARCHIVER_ABANDON_AFTER_MS',
    },
    maxPendingSnapshots: {
      doc: 'Snapshots one archiver partition tracks at once; more are failed with a reason.',
      format: atMost('positive-int', 4096),
      default: 64,
      env: 'BACKSTREAM_ARCHIVER_MAX_PENDING_SNAPSHOTS',
    },
    maxSnapshotChunks: {
      doc: 'Chunks one snapshot or change batch may have (its chunkCount); a chunk event whose seq is beyond it, or beyond the sealed chunkCount, is dead-lettered. Bounds the memory the archiver gives one snapshot (a bit per chunk, in 8 KiB pages).',
      format: atMost('positive-int', 2 ** 32),
      default: 2 ** 24,
      env: 'BACKSTREAM_ARCHIVER_MAX_SNAPSHOT_CHUNKS',
    },
  },
  bus: {
    maxAttempts: {
      doc: 'Times a consumer (chunk-worker, verifier, archiver, change ingest) tries a message that fails with an error retrying cannot cure before it dead-letters it with the reason. Retriable failures (S3 or Kafka down) are retried until they pass and never dead-lettered.',
      format: atMost('positive-int', 100),
      default: 5,
      env: 'BACKSTREAM_BUS_MAX_ATTEMPTS',
    },
  },
  changes: {
    topics: {
      doc: 'Change topics the producer service (`backstream run producer`) ingests, comma-separated full names (no prefix is added). They belong to the upstream systems and must exist: backstream never creates them.',
      format: 'topic-list',
      default: [],
      env: 'BACKSTREAM_CHANGES_TOPICS',
    },
    source: {
      doc: 'Source of the change records that name none: tombstones, and Debezium events (over the name derived from their source block); a bs-source header wins. Empty: none, so a tombstone without the header is dead-lettered.',
      format: 'change-source',
      default: '',
      env: 'BACKSTREAM_CHANGES_SOURCE',
    },
    groupId: {
      doc: 'Consumer group of the producer service on the change topics; empty: <kafka.topicPrefix>producer. Instances of one group share the partitions.',
      format: String,
      default: '',
      env: 'BACKSTREAM_CHANGES_GROUP_ID',
    },
    batchMaxEvents: {
      doc: 'Records of one change-topic partition per change batch: a batch is sealed when it holds this many (dead-lettered records count) or batchMaxMs after its first record, whichever comes first.',
      format: atMost('positive-int', 100_000),
      default: 1000,
      env: 'BACKSTREAM_CHANGES_BATCH_MAX_EVENTS',
    },
    batchMaxMs: {
      doc: 'Milliseconds after its first record when a change batch that is not full yet is sealed (as soon as the batch before it is in the ledger).',
      format: 'positive-int',
      default: 1000,
      env: 'BACKSTREAM_CHANGES_BATCH_MAX_MS',
    },
    maxValueBytes: {
      doc: 'Largest change record value accepted; larger ones are dead-lettered (stage large payloads and send a ref).',
      format: atMost('byte-size', 64 * MiB),
      default: 4 * MiB,
      env: 'BACKSTREAM_CHANGES_MAX_VALUE_BYTES',
    },
    maxInFlightBytes: {
      doc: 'Per change-topic partition being ingested: event bytes published but not yet acknowledged by Kafka; with maxValueBytes it bounds the memory of the producer service.',
      format: atMost('byte-size', 1 * GiB),
      default: 16 * MiB,
      env: 'BACKSTREAM_CHANGES_MAX_IN_FLIGHT_BYTES',
    },
  },
  encryption: {
    masterKey: {
      doc: 'Repository master key: 32 random bytes as 64 hex digits or base64 (`backstream key generate` makes one). Empty, with masterKeyFile empty: the repository is not encrypted. Blocks, file lists and manifests are encrypted with keys derived from it; lose it and the backups are lost.',
      format: 'plain-string',
      default: '',
      sensitive: true,
      env: 'BACKSTREAM_ENCRYPTION_MASTER_KEY',
    },
    masterKeyFile: {
      doc: 'File holding the repository master key (a mounted secret), instead of masterKey.',
      format: String,
      default: '',
      env: 'BACKSTREAM_ENCRYPTION_MASTER_KEY_FILE',
    },
  },
  ledger: {
    signingKey: {
      doc: 'Ed25519 private key that signs ledger records and checkpoints (only the archiver needs it): PKCS#8 PEM, or the 32-byte seed as hex or base64 (`backstream ledger keygen`). Empty: the archiver refuses to start.',
      format: 'plain-string',
      default: '',
      sensitive: true,
      env: 'BACKSTREAM_LEDGER_SIGNING_KEY',
    },
    signingKeyFile: {
      doc: 'File holding the ledger signing key, instead of signingKey.',
      format: String,
      default: '',
      env: 'BACKSTREAM_LEDGER_SIGNING_KEY_FILE',
    },
    publicKey: {
      doc: 'Ed25519 public key that ledger signatures are checked against (what auditors hold): SPKI PEM, or 32 bytes as hex or base64. Empty: derived from signingKey when that is set.',
      format: 'plain-string',
      default: '',
      env: 'BACKSTREAM_LEDGER_PUBLIC_KEY',
    },
    publicKeyFile: {
      doc: 'File holding the ledger public key, instead of publicKey.',
      format: String,
      default: '',
      env: 'BACKSTREAM_LEDGER_PUBLIC_KEY_FILE',
    },
    allowUnsigned: {
      doc: 'Development only: let ledger readers (snapshots, ls, restore, history, backup, the change ingest) run with no ledger key, believing unsigned records. Without it they refuse to start when neither publicKey(File) nor signingKey(File) is set.',
      format: Boolean,
      default: false,
      env: 'BACKSTREAM_LEDGER_ALLOW_UNSIGNED',
    },
    sequencerGroupId: {
      doc: 'Consumer group of the ledger sequencer (one active member among the archivers); empty: <kafka.topicPrefix>ledger-sequencer. Its transactional id is derived from it.',
      format: String,
      default: '',
      env: 'BACKSTREAM_LEDGER_SEQUENCER_GROUP_ID',
    },
    transactionTimeoutMs: {
      doc: 'Kafka transaction timeout of the ledger sequencer: a sequencer killed mid-append holds back ledger readers for at most this long.',
      format: 'positive-int',
      default: 15000,
      env: 'BACKSTREAM_LEDGER_TRANSACTION_TIMEOUT_MS',
    },
  },
  objectLock: {
    mode: {
      doc: 'S3 Object Lock mode for every block, file list, manifest and ledger mirror object: GOVERNANCE, COMPLIANCE, or empty for none. The bucket must have Object Lock enabled (`backstream init` creates it so when this is set).',
      format: ['', 'GOVERNANCE', 'COMPLIANCE'],
      default: '',
      env: 'BACKSTREAM_OBJECT_LOCK_MODE',
    },
    retentionDays: {
      doc: 'Days each object stays locked after the last snapshot that uses it was written; with mode set, at least 1.',
      format: 'nat',
      default: 0,
      env: 'BACKSTREAM_OBJECT_LOCK_RETENTION_DAYS',
    },
    extendDays: {
      doc: 'Slack added when a lock is set or extended, so that a block reused by every backup has its lock extended at most once per this many days.',
      format: 'nat',
      default: 7,
      env: 'BACKSTREAM_OBJECT_LOCK_EXTEND_DAYS',
    },
  },
};
