/**
 * The object-store port every lib uses; adapters: S3ObjectStore (any S3-compatible
 * server) and MemoryObjectStore (unit tests). Both pass test/support/object-store-contract.
 */
export interface ObjectInfo {
  key: string;
  size: number;
  /** When the object is under S3 Object Lock: the date its retention ends. */
  retainUntil?: Date;
}

export interface PutOptions {
  /**
   * Create only: when an object already has this key, leave it and return
   * `{ created: false }`. Used for content-addressed keys, where the existing object is
   * by construction the same bytes (verification proves it).
   */
  ifNoneMatch?: boolean;
}

export interface GetOptions {
  /**
   * The most bytes the caller expects: a larger object is refused (ObjectTooLargeError)
   * without reading more than one byte past this bound.
   */
  maxBytes?: number;
}

export interface ObjectStore {
  put(key: string, body: Buffer, options?: PutOptions): Promise<{ created: boolean }>;
  /** Throws ObjectNotFoundError when absent, ObjectTooLargeError when above options.maxBytes. */
  get(key: string, options?: GetOptions): Promise<Buffer>;
  /** Undefined when absent. */
  head(key: string): Promise<ObjectInfo | undefined>;
  delete(key: string): Promise<void>;
  list(prefix: string): AsyncIterable<ObjectInfo>;
  /**
   * Called when a new snapshot reuses a stored object (as `head` returned it): makes sure
   * it stays locked as long as one written now would. A no-op without Object Lock.
   */
  keepLocked(info: ObjectInfo): Promise<void>;
}
