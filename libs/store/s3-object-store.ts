import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  PutObjectRetentionCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { ObjectNotFoundError, ObjectTooLargeError, StoreError, httpStatusOf } from './errors';
import { lockUntil, needsExtension, type ObjectLockPolicy } from './object-lock';
import type { GetOptions, ObjectInfo, ObjectStore, PutOptions } from './object-store';

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

export interface S3ObjectStoreOptions {
  /** S3 Object Lock on every object written and kept on every object reused; none when undefined. */
  objectLock?: ObjectLockPolicy | undefined;
  /** The clock of retain-until dates (tests). Default: the system clock. */
  now?: () => Date;
}

/** The ObjectStore on an S3-compatible server; keys are prefixed with the configured s3.prefix. */
export class S3ObjectStore implements ObjectStore {
  private readonly objectLock: ObjectLockPolicy | undefined;
  private readonly now: () => Date;

  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
    private readonly prefix = '',
    options: S3ObjectStoreOptions = {},
  ) {
    this.objectLock = options.objectLock;
    this.now = options.now ?? (() => new Date());
  }

  private k(key: string): string {
    return this.prefix + key;
  }

  /**
   * With Object Lock, the object is written locked until now + retentionDays + extendDays,
   * with a Content-MD5: S3 refuses Object Lock parameters on a PutObject without an MD5 or
   * a checksum, and with s3.checksums=when_required the SDK sends none. A create-only put
   * that finds the key taken means a new snapshot reuses the object: its lock is kept.
   */
  async put(key: string, body: Buffer, options: PutOptions = {}): Promise<{ created: boolean }> {
    const lock = this.objectLock;
    try {
      await this.s3.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: this.k(key),
          Body: body,
          ContentLength: body.length,
          ...(options.ifNoneMatch ? { IfNoneMatch: '*' } : {}),
          ...(lock
            ? {
                ObjectLockMode: lock.mode,
                ObjectLockRetainUntilDate: lockUntil(lock, this.now()),
                ContentMD5: createHash('md5').update(body).digest('base64'),
              }
            : {}),
        }),
      );
      return { created: true };
    } catch (err) {
      const status = httpStatusOf(err);
      // 412: the key exists. 409: a concurrent conditional write to the same key is in flight.
      // 403 with Object Lock: a server without versioning (versitygw without --versioning-dir)
      // checks the lock of the existing object before the precondition.
      if (options.ifNoneMatch && (status === 412 || status === 409 || (lock && status === 403))) {
        const existing = lock ? await this.head(key) : undefined;
        if (existing) await this.keepLocked(existing);
        if (existing || status !== 403) return { created: false };
      }
      throw wrap('PUT', key, err);
    }
  }

  /**
   * With maxBytes, a ranged GET of the first maxBytes + 1 bytes: a larger object is refused
   * from what that returns, and never transferred whole.
   */
  async get(key: string, options: GetOptions = {}): Promise<Buffer> {
    const { maxBytes } = options;
    let body: Buffer;
    try {
      const res = await this.s3.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: this.k(key),
          ...(maxBytes !== undefined ? { Range: `bytes=0-${maxBytes}` } : {}),
        }),
      );
      if (!res.Body) return Buffer.alloc(0);
      const bytes = await res.Body.transformToByteArray();
      body = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    } catch (err) {
      const status = httpStatusOf(err);
      if (status === 404 || (err as SdkError).name === 'NoSuchKey') throw new ObjectNotFoundError(key);
      // 416: a range of an empty object.
      if (maxBytes !== undefined && status === 416) return Buffer.alloc(0);
      throw wrap('GET', key, err);
    }
    if (maxBytes !== undefined && body.length > maxBytes) throw new ObjectTooLargeError(key, maxBytes);
    return body;
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    try {
      const res = await this.s3.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.k(key) }));
      return {
        key,
        size: res.ContentLength ?? 0,
        ...(res.ObjectLockRetainUntilDate ? { retainUntil: res.ObjectLockRetainUntilDate } : {}),
      };
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

  /**
   * Pushes the object's retain-until date to now + retentionDays + extendDays when fewer than
   * retentionDays remain (or it has none), so that a block every backup reuses costs one
   * PutObjectRetention per extendDays. The extension is in the configured mode.
   */
  async keepLocked(info: ObjectInfo): Promise<void> {
    const lock = this.objectLock;
    if (!lock) return;
    const now = this.now();
    if (!needsExtension(lock, info, now)) return;
    try {
      await this.s3.send(
        new PutObjectRetentionCommand({
          Bucket: this.bucket,
          Key: this.k(info.key),
          Retention: { Mode: lock.mode, RetainUntilDate: lockUntil(lock, now) },
        }),
      );
    } catch (err) {
      throw wrap('PUT retention of', info.key, err);
    }
  }
}
