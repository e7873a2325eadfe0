import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { ObjectNotFoundError, StoreError, httpStatusOf } from './errors';
import type { ObjectInfo, ObjectStore, PutOptions } from './object-store';

interface SdkError {
  name?: string;
  message?: string;
  $retryable?: unknown;
}

function wrap(op: string, key: string, err: unknown): StoreError {
  const status = httpStatusOf(err);
  // No status: the request never got an answer (network). 5xx, 429: the server's trouble.
  const retriable = status === undefined || status >= 500 || status === 429;
  const detail = (err as SdkError).name ?? (err as SdkError).message ?? String(err);
  return new StoreError(`S3 ${op} ${key} failed: ${detail}${status ? ` (HTTP ${status})` : ''}`, {
    retriable,
    cause: err,
  });
}

/** The ObjectStore on an S3-compatible server; keys are prefixed with the configured s3.prefix. */
export class S3ObjectStore implements ObjectStore {
  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
    private readonly prefix = '',
  ) {}

  private k(key: string): string {
    return this.prefix + key;
  }

  async put(key: string, body: Buffer, options: PutOptions = {}): Promise<{ created: boolean }> {
    try {
      await this.s3.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: this.k(key),
          Body: body,
          ContentLength: body.length,
          ...(options.ifNoneMatch ? { IfNoneMatch: '*' } : {}),
        }),
      );
      return { created: true };
    } catch (err) {
      // 412: the key exists. 409: a concurrent conditional write to the same key is in flight.
      if (options.ifNoneMatch && (httpStatusOf(err) === 412 || httpStatusOf(err) === 409)) return { created: false };
      throw wrap('PUT', key, err);
    }
  }

  async get(key: string): Promise<Buffer> {
    try {
      const res = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.k(key) }));
      if (!res.Body) return Buffer.alloc(0);
      return Buffer.from(await res.Body.transformToByteArray());
    } catch (err) {
      if (httpStatusOf(err) === 404 || (err as SdkError).name === 'NoSuchKey') throw new ObjectNotFoundError(key);
      throw wrap('GET', key, err);
    }
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    try {
      const res = await this.s3.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.k(key) }));
      return { key, size: res.ContentLength ?? 0 };
    } catch (err) {
      if (httpStatusOf(err) === 404 || (err as SdkError).name === 'NotFound') return undefined;
      throw wrap('HEAD', key, err);
    }
  }

  async delete(key: string): Promise<void> {
    try {
      await this.s3.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.k(key) }));
    } catch (err) {
      throw wrap('DELETE', key, err);
    }
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    let token: string | undefined;
    do {
      let res;
      try {
        res = await this.s3.send(
          new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.k(prefix), ContinuationToken: token }),
        );
      } catch (err) {
        throw wrap('LIST', prefix, err);
      }
      for (const o of res.Contents ?? []) {
        if (o.Key) yield { key: o.Key.slice(this.prefix.length), size: o.Size ?? 0 };
      }
      token = res.IsTruncated ? res.NextContinuationToken : undefined;
    } while (token);
  }

  keepLocked(_info: ObjectInfo): Promise<void> {
    return Promise.resolve();
  }
}
