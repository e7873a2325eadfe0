import { CreateBucketCommand, HeadBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { ConfigError } from '../errors';
import { StoreError, httpStatusOf } from './errors';

/** Creates the bucket unless it exists; returns whether it was created. */
export async function ensureBucket(s3: S3Client, bucket: string): Promise<boolean> {
  if (await bucketExists(s3, bucket)) return false;
  try {
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    return true;
  } catch (err) {
    const name = (err as { name?: string }).name;
    if (name === 'BucketAlreadyOwnedByYou' || httpStatusOf(err) === 409) return false;
    throw new StoreError(`cannot create bucket ${bucket}: ${name ?? String(err)}`, { retriable: false, cause: err });
  }
}

export async function bucketExists(s3: S3Client, bucket: string): Promise<boolean> {
  try {
    await s3.send(new HeadBucketCommand({ Bucket: bucket }));
    return true;
  } catch (err) {
    if (httpStatusOf(err) === 404) return false;
    const status = httpStatusOf(err);
    throw new StoreError(`cannot reach bucket ${bucket}: ${(err as Error).name}${status ? ` (HTTP ${status})` : ''}`, {
      retriable: status === undefined || status >= 500,
      cause: err,
    });
  }
}

/** For services: the bucket must exist; creating it is `backstream init`'s job. */
export async function requireBucket(s3: S3Client, bucket: string): Promise<void> {
  if (!(await bucketExists(s3, bucket))) {
    throw new ConfigError(`bucket ${bucket} does not exist`, {
      key: 's3.bucket',
      hint: 'create it with `backstream init`',
    });
  }
}
