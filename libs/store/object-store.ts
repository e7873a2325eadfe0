/**
 * The object-store port every lib uses; adapters: S3ObjectStore (any S3-compatible
 * server) and MemoryObjectStore (unit tests). Both pass test/support/object-store-contract.
 */
export interface ObjectInfo {
  key: string;
  size: number;
}

export interface PutOptions {
  /**
   * Create only: when an object already has this key, leave it and return
   * `{ created: false }`. Used for content-addressed keys, where the existing object is
   * by construction the same bytes (verification proves it).
   */
  ifNoneMatch?: boolean;
}

export interface ObjectStore {
  put(key: string, body: Buffer, options?: PutOptions): Promise<{ created: boolean }>;
  /** Throws ObjectNotFoundError when absent. */
  get(key: string): Promise<Buffer>;
  /** Undefined when absent. */
  head(key: string): Promise<ObjectInfo | undefined>;
  delete(key: string): Promise<void>;
  list(prefix: string): AsyncIterable<ObjectInfo>;
}
