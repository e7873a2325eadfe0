import type { Schema } from 'convict';

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
  chunking: { minSize: number; avgSize: number; maxSize: number };
  store: { concurrency: number };
  log: { level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent' };
  producer: { maxInFlightBytes: number; commitTimeoutMs: number };
  chunkWorker: { groupId: string; compressionLevel: number };
  verifier: { groupId: string };
  archiver: { groupId: string };
}

const KiB = 1024;
const MiB = 1024 * KiB;

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
        format: String,
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
      format: String,
      default: '',
      sensitive: true,
      env: 'BACKSTREAM_S3_SECRET_ACCESS_KEY',
    },
    sessionToken: {
      doc: 'Session token for temporary credentials.',
      format: String,
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
      format: 'positive-int',
      default: 5,
      env: 'BACKSTREAM_S3_MAX_ATTEMPTS',
    },
  },
  chunking: {
    minSize: {
      doc: 'Smallest chunk the content-defined chunker cuts, in bytes (suffixes KiB, MiB accepted).',
      format: 'byte-size',
      default: 512 * KiB,
      env: 'BACKSTREAM_CHUNKING_MIN_SIZE',
    },
    avgSize: {
      doc: 'Target average chunk size in bytes; a power of two.',
      format: 'byte-size',
      default: 1 * MiB,
      env: 'BACKSTREAM_CHUNKING_AVG_SIZE',
    },
    maxSize: {
      doc: 'Largest chunk in bytes; bounds the size of one chunk event.',
      format: 'byte-size',
      default: 8 * MiB,
      env: 'BACKSTREAM_CHUNKING_MAX_SIZE',
    },
  },
  store: {
    concurrency: {
      doc: 'Object-store requests one process keeps in flight.',
      format: 'positive-int',
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
  producer: {
    maxInFlightBytes: {
      doc: 'Chunk bytes the producer may have published but not yet acknowledged; bounds its memory.',
      format: 'byte-size',
      default: 64 * MiB,
      env: 'BACKSTREAM_PRODUCER_MAX_IN_FLIGHT_BYTES',
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
      doc: 'Consumer group of the chunk-workers.',
      format: 'non-empty-string',
      default: 'backstream-chunk-worker',
      env: 'BACKSTREAM_CHUNK_WORKER_GROUP_ID',
    },
    compressionLevel: {
      doc: 'zstd level for blocks (1 fastest … 19 smallest).',
      format: 'zstd-level',
      default: 3,
      env: 'BACKSTREAM_CHUNK_WORKER_COMPRESSION_LEVEL',
    },
  },
  verifier: {
    groupId: {
      doc: 'Consumer group of the verifiers.',
      format: 'non-empty-string',
      default: 'backstream-verifier',
      env: 'BACKSTREAM_VERIFIER_GROUP_ID',
    },
  },
  archiver: {
    groupId: {
      doc: 'Consumer group of the archivers.',
      format: 'non-empty-string',
      default: 'backstream-archiver',
      env: 'BACKSTREAM_ARCHIVER_GROUP_ID',
    },
  },
};
