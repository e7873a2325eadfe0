import { ObjectNotFoundError, ObjectTooLargeError, StoreError } from './errors';
import { lockUntil, needsExtension, type ObjectLockPolicy } from './object-lock';
import type { GetOptions, ObjectInfo, ObjectStore, PutOptions } from './object-store';

export interface MemoryObjectStoreOptions {
  /** Simulates S3 Object Lock: objects are written locked and refuse delete and overwrite until then. */
  objectLock?: ObjectLockPolicy | undefined;
  /** The clock of retain-until dates and of the lock checks. Default: the system clock. */
  now?: () => Date;
}

/**
 * An ObjectStore in a Map, for unit tests of the logic above the store. With an Object Lock
 * policy it behaves like a bucket with Object Lock and no versioning: an object is written
 * locked until now + retentionDays + extendDays, and until then a delete or an overwrite
 * is refused (StoreError STORE_REJECTED, as S3's 403); keepLocked extensions are counted.
 */
export class MemoryObjectStore implements ObjectStore {
  readonly objects = new Map<string, Buffer>();
  /** Retain-until date by key, for the objects under lock. */
  readonly locks = new Map<string, Date>();
  /** The keys whose lock keepLocked extended, once per extension. */
  readonly extensions: string[] = [];
  private readonly objectLock: ObjectLockPolicy | undefined;
  private readonly now: () => Date;

  constructor(options: MemoryObjectStoreOptions = {}) {
    this.objectLock = options.objectLock;
    this.now = options.now ?? (() => new Date());
  }

  async put(key: string, body: Buffer, options: PutOptions = {}): Promise<{ created: boolean }> {
    if (options.ifNoneMatch && this.objects.has(key)) {
      const existing = await this.head(key);
      if (existing) await this.keepLocked(existing);
      return { created: false };
    }
    const locked = this.objects.has(key) ? this.lockedError('PUT', key) : undefined;
    if (locked) throw locked;
    this.objects.set(key, Buffer.from(body));
    if (this.objectLock) this.locks.set(key, lockUntil(this.objectLock, this.now()));
    return { created: true };
  }

  get(key: string, options: GetOptions = {}): Promise<Buffer> {
    const body = this.objects.get(key);
    if (!body) return Promise.reject(new ObjectNotFoundError(key));
    if (options.maxBytes !== undefined && body.length > options.maxBytes) {
      return Promise.reject(new ObjectTooLargeError(key, options.maxBytes));
    }
    return Promise.resolve(Buffer.from(body));
  }

  head(key: string): Promise<ObjectInfo | undefined> {
    const body = this.objects.get(key);
    return Promise.resolve(body ? this.info(key, body) : undefined);
  }

  delete(key: string): Promise<void> {
    const locked = this.objects.has(key) ? this.lockedError('DELETE', key) : undefined;
    if (locked) return Promise.reject(locked);
    this.objects.delete(key);
    this.locks.delete(key);
    return Promise.resolve();
  }

  // eslint-disable-next-line @typescript-eslint/require-await
  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    for (const [key, body] of [...this.objects].sort(([a], [b]) => (a < b ? -1 : 1))) {
      if (key.startsWith(prefix)) yield this.info(key, body);
    }
  }

  keepLocked(info: ObjectInfo): Promise<void> {
    const lock = this.objectLock;
    if (!lock) return Promise.resolve();
    const now = this.now();
    if (!needsExtension(lock, info, now)) return Promise.resolve();
    if (!this.objects.has(info.key)) return Promise.reject(new ObjectNotFoundError(info.key));
    this.locks.set(info.key, lockUntil(lock, now));
    this.extensions.push(info.key);
    return Promise.resolve();
  }

  private info(key: string, body: Buffer): ObjectInfo {
    const retainUntil = this.locks.get(key);
    return { key, size: body.length, ...(retainUntil ? { retainUntil: new Date(retainUntil) } : {}) };
  }

  /** The error S3 answers a delete or overwrite of a locked object with (403), if it is locked now. */
  private lockedError(op: string, key: string): StoreError | undefined {
    const until = this.locks.get(key);
    if (until && until.getTime() > this.now().getTime()) {
      const message = `S3 ${op} ${key} failed: AccessDenied, object locked until ${until.toISOString()} (HTTP 403)`;
      return new StoreError(message, { retriable: false });
    }
    return undefined;
  }
}
