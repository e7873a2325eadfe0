import {
  DeleteObjectCommand,
  GetBucketVersioningCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectVersionsCommand,
  PutObjectCommand,
  PutObjectRetentionCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { BlockDecoder, BlockEncoder } from '../../libs/blocks';
import { loadConfig } from '../../libs/config';
import { ConfigError } from '../../libs/errors';
import { storeChunk } from '../../libs/pipeline';
import { openServiceContext } from '../../libs/runtime';
import {
  S3ObjectStore,
  blockKey,
  bucketObjectLockEnabled,
  createS3Client,
  ensureBucket,
  httpStatusOf,
  objectLockPolicyOf,
  requireBucket,
} from '../../libs/store';
import { testEnv } from '../support/stack-config';
import { hasWitness, witness } from '../support/witness';

/**
 * S3 Object Lock against the real versitygw (posix backend with --versioning-dir, as
 * infra/local/stack.sh starts it): what backstream writes is locked, reuse extends the lock,
 * and a bucket without Object Lock is refused. Findings: docs/object-lock.md.
 */
const HOUR = 60 * 60 * 1000;
const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');
const DAY = 24 * HOUR;
const env = testEnv('object-lock', {
  BACKSTREAM_OBJECT_LOCK_MODE: 'GOVERNANCE',
  BACKSTREAM_OBJECT_LOCK_RETENTION_DAYS: '1',
  BACKSTREAM_OBJECT_LOCK_EXTEND_DAYS: '1',
});
const config = loadConfig({ env }).config;
const policy = objectLockPolicyOf(config.objectLock)!;
const Bucket = config.s3.bucket;
let s3: S3Client;
let store: S3ObjectStore;

/** What an S3 call failed with: HTTP status and error name. */
async function failure(p: Promise<unknown>): Promise<{ status: number | undefined; name: string }> {
  try {
    await p;
  } catch (err) {
    return { status: httpStatusOf(err), name: (err as Error).name };
  }
  throw new Error('the request succeeded');
}

async function bytesOf(Key: string, VersionId?: string): Promise<Buffer> {
  const res = await s3.send(new GetObjectCommand({ Bucket, Key, ...(VersionId ? { VersionId } : {}) }));
  return Buffer.from(await res.Body!.transformToByteArray());
}

/** Within a minute of the expected date (the server keeps seconds). */
function expectNear(actual: Date | undefined, expected: number): void {
  expect(actual).toBeInstanceOf(Date);
  expect(Math.abs(actual!.getTime() - expected)).toBeLessThan(60_000);
}

beforeAll(async () => {
  s3 = createS3Client(config.s3);
  store = new S3ObjectStore(s3, Bucket, config.s3.prefix, { objectLock: policy });
  expect(await ensureBucket(s3, Bucket, { objectLock: policy })).toBe(true);
});

afterAll(() => s3.destroy());

describe('Object Lock on versitygw', () => {
  it('creates the bucket with Object Lock and versioning; init and services accept it', async () => {
    expect(await bucketObjectLockEnabled(s3, Bucket)).toBe(true);
    expect((await s3.send(new GetBucketVersioningCommand({ Bucket }))).Status).toBe('Enabled');
    expect(await ensureBucket(s3, Bucket, { objectLock: policy })).toBe(false);
    await expect(requireBucket(s3, Bucket, { objectLock: policy })).resolves.toBeUndefined();
  });

  it('a block stored by the chunk-worker path is locked: its version cannot be deleted or replaced', async () => {
    const data = Buffer.from('a block every snapshot shares. '.repeat(100));
    const hash = sha256(data);
    const stored = await storeChunk(
      { meta: { snapshotId: 'f'.repeat(32), source: 'lock', seq: 0, hash, size: data.length }, data },
      { store, encoder: new BlockEncoder(3) },
    );
    expect(stored.origin).toBe('uploaded');
    const Key = config.s3.prefix + blockKey(hash);
    const original = await bytesOf(Key);
    expect(new BlockDecoder(1024 * 1024).verify(blockKey(hash), original, hash)).toEqual(data);

    const head = await s3.send(new HeadObjectCommand({ Bucket, Key }));
    expect(head.ObjectLockMode).toBe('GOVERNANCE');
    expectNear(head.ObjectLockRetainUntilDate, Date.now() + 2 * DAY);
    expectNear((await store.head(blockKey(hash)))?.retainUntil, Date.now() + 2 * DAY);
    const VersionId = head.VersionId!;
    expect(VersionId).toBeTruthy();

    // A permanent delete (of the version) is refused, with or without the governance bypass
    // (no bucket policy grants s3:BypassGovernanceRetention).
    expect(await failure(s3.send(new DeleteObjectCommand({ Bucket, Key, VersionId })))).toEqual({
      status: 403,
      name: 'AccessDenied',
    });
    expect(
      await failure(s3.send(new DeleteObjectCommand({ Bucket, Key, VersionId, BypassGovernanceRetention: true }))),
    ).toEqual({ status: 403, name: 'AccessDenied' });

    // backstream's own create-only write leaves it as it is.
    expect(await store.put(blockKey(hash), Buffer.from('something else'), { ifNoneMatch: true })).toEqual({
      created: false,
    });
    expect(await bytesOf(Key)).toEqual(original);

    // S3 versioning semantics: a plain overwrite adds a version on top, a plain delete adds a
    // delete marker; both succeed, and the locked version stays as it was.
    const impostor = await s3.send(new PutObjectCommand({ Bucket, Key, Body: Buffer.from('ransom note') }));
    expect(impostor.VersionId).not.toBe(VersionId);
    const marker = await s3.send(new DeleteObjectCommand({ Bucket, Key }));
    expect(marker.DeleteMarker).toBe(true);
    expect(await store.head(blockKey(hash))).toBeUndefined();
    expect(await bytesOf(Key, VersionId)).toEqual(original);
    const versions = await s3.send(new ListObjectVersionsCommand({ Bucket, Prefix: Key }));
    expect(versions.Versions?.map((v) => v.VersionId).sort()).toEqual([VersionId, impostor.VersionId].sort());

    // Recovery: the unlocked marker and impostor can be removed, which brings the locked version back.
    await s3.send(new DeleteObjectCommand({ Bucket, Key, VersionId: marker.VersionId! }));
    await s3.send(new DeleteObjectCommand({ Bucket, Key, VersionId: impostor.VersionId! }));
    expect(await bytesOf(Key)).toEqual(original);
    const after = await s3.send(new HeadObjectCommand({ Bucket, Key }));
    expect(after.VersionId).toBe(VersionId);
    expect(after.ObjectLockRetainUntilDate).toEqual(head.ObjectLockRetainUntilDate);
  });

  it('puts locked objects with s3.checksums=when_supported too (Content-MD5 and the SDK CRC32)', async () => {
    const supported = loadConfig({ env: { ...env, BACKSTREAM_S3_CHECKSUMS: 'when_supported' } }).config;
    const client = createS3Client(supported.s3);
    try {
      const other = new S3ObjectStore(client, Bucket, supported.s3.prefix, { objectLock: policy });
      expect(await other.put('snapshots/checksummed.json', Buffer.from('{"a":1}'))).toEqual({ created: true });
      expectNear((await other.head('snapshots/checksummed.json'))?.retainUntil, Date.now() + 2 * DAY);
    } finally {
      client.destroy();
    }
  });

  it('keepLocked extends a short lock to now + retention + extend, and leaves a long enough one alone', async () => {
    // A store whose clock is 47 hours behind writes a lock that ends in about an hour.
    const lagging = new S3ObjectStore(s3, Bucket, config.s3.prefix, {
      objectLock: policy,
      now: () => new Date(Date.now() - 47 * HOUR),
    });
    await lagging.put('blocks/sh/short', Buffer.from('short lock'));
    const Key = `${config.s3.prefix}blocks/sh/short`;
    const short = await store.head('blocks/sh/short');
    expectNear(short?.retainUntil, Date.now() + HOUR);

    const send = jest.spyOn(s3, 'send');
    await store.keepLocked(short!);
    expect(send.mock.calls.map(([c]) => c.constructor)).toEqual([PutObjectRetentionCommand]);
    const extended = await s3.send(new HeadObjectCommand({ Bucket, Key }));
    expect(extended.ObjectLockMode).toBe('GOVERNANCE');
    expectNear(extended.ObjectLockRetainUntilDate, Date.now() + 2 * DAY);

    send.mockClear();
    await store.keepLocked((await store.head('blocks/sh/short'))!);
    expect(send.mock.calls.map(([c]) => c.constructor)).toEqual([HeadObjectCommand]);
    send.mockRestore();
  });

  it('keepLocked locks an object written before the lock, and a create-only put of a stored object extends it', async () => {
    const plain = `${config.s3.prefix}filelists/unlocked`;
    await s3.send(new PutObjectCommand({ Bucket, Key: plain, Body: Buffer.from('written without a lock') }));
    const info = await store.head('filelists/unlocked');
    expect(info?.retainUntil).toBeUndefined();
    await store.keepLocked(info!);
    expectNear((await store.head('filelists/unlocked'))?.retainUntil, Date.now() + 2 * DAY);

    const lagging = new S3ObjectStore(s3, Bucket, config.s3.prefix, {
      objectLock: policy,
      now: () => new Date(Date.now() - 47 * HOUR),
    });
    await lagging.put('filelists/segment', Buffer.from('segment'), { ifNoneMatch: true });
    expectNear((await store.head('filelists/segment'))?.retainUntil, Date.now() + HOUR);
    expect(await store.put('filelists/segment', Buffer.from('segment'), { ifNoneMatch: true })).toEqual({
      created: false,
    });
    expectNear((await store.head('filelists/segment'))?.retainUntil, Date.now() + 2 * DAY);
  });

  it('init and services refuse a bucket without Object Lock while objectLock.mode is set', async () => {
    const plainBucket = `${Bucket.slice(0, 57)}-plain`;
    expect(await ensureBucket(s3, plainBucket)).toBe(true);
    expect(await bucketObjectLockEnabled(s3, plainBucket)).toBe(false);
    const refused =
      /^bucket .*-plain has no Object Lock; objectLock\.mode \(BACKSTREAM_OBJECT_LOCK_MODE\) is GOVERNANCE/;
    await expect(ensureBucket(s3, plainBucket, { objectLock: policy })).rejects.toThrow(refused);
    await expect(requireBucket(s3, plainBucket, { objectLock: policy })).rejects.toBeInstanceOf(ConfigError);
    const plainConfig = loadConfig({ env: { ...env, BACKSTREAM_S3_BUCKET: plainBucket } }).config;
    await expect(openServiceContext('verifier', plainConfig)).rejects.toThrow(refused);
    // Without Object Lock in the configuration the same bucket is fine.
    await expect(requireBucket(s3, plainBucket)).resolves.toBeUndefined();
  });

  it('versitygw v1.7.0 lets PutObjectRetention shorten a lock in the same mode, even COMPLIANCE (see docs/object-lock.md)', async () => {
    const Key = `${config.s3.prefix}probe/compliance`;
    await s3.send(
      new PutObjectCommand({
        Bucket,
        Key,
        Body: Buffer.from('compliance'),
        ObjectLockMode: 'COMPLIANCE',
        ObjectLockRetainUntilDate: new Date(Date.now() + DAY),
        ContentMD5: createHash('md5').update('compliance').digest('base64'),
      }),
    );
    const soon = new Date(Date.now() + 2 * HOUR);
    await s3.send(
      new PutObjectRetentionCommand({ Bucket, Key, Retention: { Mode: 'COMPLIANCE', RetainUntilDate: soon } }),
    );
    expectNear((await s3.send(new HeadObjectCommand({ Bucket, Key }))).ObjectLockRetainUntilDate, soon.getTime());
    // Changing the mode is refused, as on AWS.
    expect(
      await failure(
        s3.send(
          new PutObjectRetentionCommand({
            Bucket,
            Key,
            Retention: { Mode: 'GOVERNANCE', RetainUntilDate: new Date(Date.now() + DAY) },
          }),
        ),
      ),
    ).toEqual({ status: 403, name: 'AccessDenied' });
  });

  it('the AWS CLI reads the retention backstream set', async () => {
    if (!(await hasWitness('aws'))) return;
    await store.put('snapshots/witness.json', Buffer.from('{}'));
    const info = await store.head('snapshots/witness.json');
    const out = await witness(
      'aws',
      [
        '--endpoint-url',
        config.s3.endpoint,
        's3api',
        'get-object-retention',
        '--bucket',
        Bucket,
        '--key',
        `${config.s3.prefix}snapshots/witness.json`,
        '--output',
        'json',
      ],
      {
        AWS_ACCESS_KEY_ID: config.s3.accessKeyId,
        AWS_SECRET_ACCESS_KEY: config.s3.secretAccessKey,
        AWS_DEFAULT_REGION: config.s3.region,
        AWS_CONFIG_FILE: '/dev/null',
        AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
      },
    );
    const retention = (JSON.parse(out) as { Retention: { Mode: string; RetainUntilDate: string } }).Retention;
    expect(retention.Mode).toBe('GOVERNANCE');
    // HeadObject gives the date to the second, GetObjectRetention to the millisecond.
    const exact = new Date(retention.RetainUntilDate).getTime();
    expect(Math.floor(exact / 1000) * 1000).toBe(info?.retainUntil?.getTime());
    expectNear(new Date(exact), Date.now() + 2 * DAY);
  });
});
