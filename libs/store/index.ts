export { createS3Client } from './s3-client';
export type { ObjectStore, ObjectInfo, PutOptions } from './object-store';
export { S3ObjectStore } from './s3-object-store';
export { MemoryObjectStore } from './memory-object-store';
export { ObjectNotFoundError, StoreError, httpStatusOf } from './errors';
export { blockKey, fileListKey, snapshotManifestKey } from './keys';
export { ensureBucket, bucketExists, requireBucket } from './bucket';
