import {
  CreateBucketCommand,
  GetObjectLockConfigurationCommand,
  HeadBucketCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { ConfigError } from '../errors';
import { StoreError, httpStatusOf } from './errors';
import type { ObjectLockPolicy } from './object-lock';

export interface BucketOptions {
  /** The Object Lock policy of the configuration: the bucket must have Object Lock (created so when missing). */
  objectLock?: ObjectLockPolicy | undefined;
}

/**
 * Creates the bucket unless it exists; returns whether it was created. With an Object Lock
 * policy the bucket is created with Object Lock enabled (which turns versioning on), and an
 * existing bucket without Object Lock is refused with a ConfigError.
 */
export async function ensureBucket(s3: S3Client, bucket: string, options: BucketOptions = {}): Promise<boolean> {
  if (await bucketExists(s3, bucket)) {
    await checkObjectLock(s3, bucket, options);
    return false;
  }
  try {
    await s3.send(
      new CreateBucketCommand({ Bucket: bucket, ...(options.objectLock ? { ObjectLockEnabledForBucket: true } : {}) }),
    );
    return true;
  } catch (err) {
    const name = (err as { name?: string }).name;
    if (name === 'BucketAlreadyOwnedByYou' || httpStatusOf(err) === 409) {
      await checkObjectLock(s3, bucket, options);
      return false;
    }
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

/** For services: the bucket must exist (creating it is `backstream init`'s job), with Object Lock if the policy asks. */
export async function requireBucket(s3: S3Client, bucket: string, options: BucketOptions = {}): Promise<void> {
  if (!(await bucketExists(s3, bucket))) {
    throw new ConfigError(`bucket ${bucket} does not exist`, {
      key: 's3.bucket',
      hint: 'create it with `backstream init`',
    });
  }
  await checkObjectLock(s3, bucket, options);
}

/** Whether the bucket has Object Lock enabled (GetObjectLockConfiguration). */
export async function bucketObjectLockEnabled(s3: S3Client, bucket: string): Promise<boolean> {
  try {
    const res = await s3.send(new GetObjectLockConfigurationCommand({ Bucket: bucket }));
    return res.ObjectLockConfiguration?.ObjectLockEnabled === 'Enabled';
  } catch (err) {
    const name = (err as { name?: string }).name;
    // AWS and versitygw: 404 ObjectLockConfigurationNotFoundError.
    if (name === 'ObjectLockConfigurationNotFoundError' || httpStatusOf(err) === 404) return false;
    const status = httpStatusOf(err);
    // 501: a server without Object Lock at all.
    if (status === 501) return false;
    throw new StoreError(
      `cannot read the Object Lock configuration of bucket ${bucket}: ${name ?? String(err)}${status ? ` (HTTP ${status})` : ''}`,
      { retriable: status === undefined || status >= 500, cause: err },
    );
  }
}

async function checkObjectLock(s3: S3Client, bucket: string, options: BucketOptions): Promise<void> {
  const policy = options.objectLock;
  if (!policy || (await bucketObjectLockEnabled(s3, bucket))) return;
  throw new ConfigError(
    `bucket ${bucket} has no Object Lock; objectLock.mode (BACKSTREAM_OBJECT_LOCK_MODE) is ${policy.mode}, so every object written must be locked`,
    {
      key: 'objectLock.mode',
      hint: 'use a new bucket name (`backstream init` creates it with Object Lock), or enable versioning and then Object Lock on this bucket (aws s3api put-bucket-versioning, put-object-lock-configuration), or leave BACKSTREAM_OBJECT_LOCK_MODE empty',
    },
  );
}
