import type { Kafka, KafkaMessage } from 'kafkajs';
import type { BlockDecoder } from '../../libs/blocks';
import { createKafka, readTopic } from '../../libs/bus';
import type { BackstreamConfig } from '../../libs/config';
import {
  decodeLedgerRecord,
  topicName,
  type ChangesCommitRecord,
  type ChunkRef,
  type FileEvent,
  type SnapshotCommitRecord,
  type TopicRole,
} from '../../libs/events';
import { fileEntries, joinFileParts, metadataDecoder, readManifest } from '../../libs/manifest';
import { S3ObjectStore, blockKey, createS3Client, type ObjectStore } from '../../libs/store';

/** Read-only views of a repository (ledger, topics, store) for assertions, through the project's libs. */
export class RepositoryProbe {
  readonly kafka: Kafka;
  readonly store: ObjectStore;
  readonly decoder: BlockDecoder;
  private readonly s3;

  constructor(readonly config: BackstreamConfig) {
    this.kafka = createKafka(config.kafka, { clientSuffix: 'test-probe' });
    this.s3 = createS3Client(config.s3);
    this.store = new S3ObjectStore(this.s3, config.s3.bucket, config.s3.prefix);
    this.decoder = metadataDecoder(config.chunking.maxSize);
  }

  close(): void {
    this.s3.destroy();
  }

  /** Every message of a topic, read to its current end (no de-duplication). */
  async messages(role: TopicRole): Promise<Array<{ partition: number; offset: string; message: KafkaMessage }>> {
    const out: Array<{ partition: number; offset: string; message: KafkaMessage }> = [];
    const reader = await readTopic(this.kafka, {
      topic: topicName(this.config, role),
      stopAtEnd: true,
      onMessage: (partition, message) => {
        out.push({ partition, offset: message.offset, message });
      },
    });
    await reader.done;
    return out;
  }

  /** Raw snapshot commit records of the ledger, duplicates included, in ledger order. */
  async ledgerRecords(): Promise<SnapshotCommitRecord[]> {
    return (await this.messages('ledger')).flatMap((m) => {
      const item = decodeLedgerRecord(m.message);
      return item?.type === 'snapshot-commit' ? [item.record] : [];
    });
  }

  /** Raw change-batch commit records of the ledger, duplicates included, in ledger order. */
  async changeCommits(): Promise<ChangesCommitRecord[]> {
    return (await this.messages('ledger')).flatMap((m) => {
      const item = decodeLedgerRecord(m.message);
      return item?.type === 'changes-commit' ? [item.record] : [];
    });
  }

  /** Messages ever written to a topic (sum of partition end offsets). */
  async messageCount(role: TopicRole): Promise<number> {
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      const offsets = await admin.fetchTopicOffsets(topicName(this.config, role));
      return offsets.reduce((n, p) => n + Number(p.high), 0);
    } finally {
      await admin.disconnect();
    }
  }

  /** Messages of the topic the consumer group has not committed yet. */
  async groupLag(groupId: string, role: TopicRole): Promise<number> {
    const topic = topicName(this.config, role);
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      const ends = await admin.fetchTopicOffsets(topic);
      const committed = (await admin.fetchOffsets({ groupId, topics: [topic] }))[0]?.partitions ?? [];
      return ends.reduce((lag, p) => {
        const c = Number(committed.find((x) => x.partition === p.partition)?.offset ?? -1);
        return lag + Number(p.high) - Math.max(c, 0);
      }, 0);
    } finally {
      await admin.disconnect();
    }
  }

  /** A snapshot's entries by path, a file's parts joined. */
  async snapshotFiles(record: SnapshotCommitRecord): Promise<Map<string, { entry: FileEvent; chunks: ChunkRef[] }>> {
    const manifest = await readManifest(this.store, this.decoder, record.manifest);
    const files = new Map<string, { entry: FileEvent; chunks: ChunkRef[] }>();
    for await (const f of joinFileParts(fileEntries(this.store, this.decoder, manifest))) {
      files.set(f.entry.path, { entry: { ...f.entry, contentHash: f.contentHash, last: true }, chunks: f.chunks });
    }
    return files;
  }

  /** Reads a chunk's block and checks it decodes to the chunk's hash; returns its bytes. */
  async readChunk(hash: string): Promise<Buffer> {
    const key = blockKey(hash);
    return this.decoder.verify(key, await this.store.get(key, { maxBytes: this.decoder.maxBlockBytes }), hash);
  }

  async blockHashes(): Promise<Set<string>> {
    const out = new Set<string>();
    for await (const o of this.store.list('blocks/')) out.add(o.key.slice(o.key.lastIndexOf('/') + 1));
    return out;
  }
}

/** Polls an observable condition until it holds (not a blind sleep: it returns as soon as it does). */
export async function waitFor(
  what: string,
  condition: () => Promise<boolean> | boolean,
  timeoutMs = 60000,
  intervalMs = 100,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export { createKafka };
