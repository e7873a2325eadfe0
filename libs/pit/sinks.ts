import { randomBytes } from 'node:crypto';
import { lstat, mkdir, open, rename, rm, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { Message, Producer } from 'kafkajs';
import { CHANGE_HEADERS } from '../changes';
import { BackstreamError } from '../errors';
import { fileLine, type PitFormat, type RenderedRecord } from './render';

/** Where restored records go. A restore calls write for each, then commit, or abort on a failure. */
export interface RecordSink {
  write(record: RenderedRecord): Promise<void>;
  commit(): Promise<void>;
  abort(): Promise<void>;
}

const WRITE_BUFFER_BYTES = 1024 * 1024;

/**
 * A file of JSON lines, written atomically: to a temporary name beside the target
 * (`.<name>.<12 hex>.backstream-restore`), fsynced and renamed into place by commit. A
 * failed or killed restore never leaves a partial file under the target's name.
 */
export class FileSink implements RecordSink {
  private buffer: string[] = [];
  private bufferedBytes = 0;

  private constructor(
    readonly target: string,
    private readonly temp: string,
    private readonly fh: FileHandle,
    private readonly format: PitFormat,
  ) {}

  static async open(target: string, format: PitFormat): Promise<FileSink> {
    const abs = resolve(target);
    const st = await lstat(abs).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw err;
    });
    if (st?.isDirectory())
      throw new BackstreamError(
        'TARGET_UNSAFE',
        `the target ${target} is a directory; a restore --at writes one file`,
        {
          retriable: false,
        },
      );
    await mkdir(dirname(abs), { recursive: true });
    const temp = join(dirname(abs), `.${basename(abs)}.${randomBytes(6).toString('hex')}.backstream-restore`);
    const fh = await open(temp, 'wx', 0o644);
    return new FileSink(abs, temp, fh, format);
  }

  async write(record: RenderedRecord): Promise<void> {
    const line = `${fileLine(record, this.format)}\n`;
    this.buffer.push(line);
    this.bufferedBytes += line.length;
    if (this.bufferedBytes >= WRITE_BUFFER_BYTES) await this.flush();
  }

  private async flush(): Promise<void> {
    if (this.buffer.length === 0) return;
    const data = this.buffer.join('');
    this.buffer = [];
    this.bufferedBytes = 0;
    await this.fh.write(data, null, 'utf8');
  }

  async commit(): Promise<void> {
    try {
      await this.flush();
      await this.fh.sync();
      await this.fh.close();
      await rename(this.temp, this.target);
    } catch (err) {
      await this.abort();
      throw err;
    }
  }

  async abort(): Promise<void> {
    this.buffer = [];
    await this.fh.close().catch(() => undefined);
    await rm(this.temp, { force: true });
  }
}

export interface KafkaSinkOptions {
  /** Messages per produce request (default 500). */
  maxBatchMessages?: number;
  /** Value and key bytes per produce request (default 1 MiB); a larger record goes alone. */
  maxBatchBytes?: number;
}

/**
 * Produces restored records to a topic: the canonical key as the record key, the rendered
 * value, header bs-source. Sent in order, in batches, each acknowledged by all in-sync
 * replicas (acks=all) before the next is built; the producer should be idempotent
 * (libs/bus createIdempotentProducer). Not atomic: a failed restore may have produced
 * part of the state, and a rerun produces it all again (the same key and value, so a
 * compacted topic ends up the same).
 */
export class KafkaSink implements RecordSink {
  private batch: Message[] = [];
  private batchBytes = 0;
  private readonly maxMessages: number;
  private readonly maxBytes: number;

  constructor(
    private readonly producer: Pick<Producer, 'send'>,
    readonly topic: string,
    options: KafkaSinkOptions = {},
  ) {
    this.maxMessages = options.maxBatchMessages ?? 500;
    this.maxBytes = options.maxBatchBytes ?? 1024 * 1024;
  }

  async write(record: RenderedRecord): Promise<void> {
    const size = Buffer.byteLength(record.key) + Buffer.byteLength(record.value);
    if (this.batch.length > 0 && this.batchBytes + size > this.maxBytes) await this.flush();
    this.batch.push({ key: record.key, value: record.value, headers: { [CHANGE_HEADERS.source]: record.source } });
    this.batchBytes += size;
    if (this.batch.length >= this.maxMessages) await this.flush();
  }

  private async flush(): Promise<void> {
    if (this.batch.length === 0) return;
    const messages = this.batch;
    this.batch = [];
    this.batchBytes = 0;
    await this.producer.send({ topic: this.topic, acks: -1, messages });
  }

  async commit(): Promise<void> {
    await this.flush();
  }

  abort(): Promise<void> {
    this.batch = [];
    this.batchBytes = 0;
    return Promise.resolve();
  }
}

/** Collects records in memory: for tests and for callers that post-process. */
export class MemorySink implements RecordSink {
  readonly records: RenderedRecord[] = [];
  committed = false;
  aborted = false;

  write(record: RenderedRecord): Promise<void> {
    this.records.push(record);
    return Promise.resolve();
  }

  commit(): Promise<void> {
    this.committed = true;
    return Promise.resolve();
  }

  abort(): Promise<void> {
    this.aborted = true;
    return Promise.resolve();
  }
}
