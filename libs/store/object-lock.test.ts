import {
  CreateBucketCommand,
  GetObjectLockConfigurationCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  PutObjectCommand,
  PutObjectRetentionCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { ConfigError } from '../errors';
import { ensureBucket, requireBucket } from './bucket';
import { MemoryObjectStore } from './memory-object-store';
import { lockUntil, needsExtension, objectLockPolicyOf, type ObjectLockPolicy } from './object-lock';
import { S3ObjectStore } from './s3-object-store';

const DAY = 24 * 60 * 60 * 1000;
const T0 = new Date('2026-01-01T00:00:00Z');
const policy: ObjectLockPolicy = { mode: 'COMPLIANCE', retentionDays: 30, extendDays: 7 };

/** A clock the test moves. */
function clock(start = T0): { now: () => Date; advanceDays(days: number): void } {
  let t = start.getTime();
  return {
    now: () => new Date(t),
    advanceDays: (days) => {
      t += days * DAY;
    },
  };
}

/** An S3 error as the SDK throws it. */
function s3Error(name: string, status: number): Error {
  return Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } });
}

/** An S3Client whose send() records each command and answers with `answer`. */
function stubS3(answer: (command: object) => unknown): { s3: S3Client; sent: object[] } {
  const sent: object[] = [];
  const send = (command: object): Promise<unknown> => {
    sent.push(command);
    // A throw of answer() rejects the promise, as the SDK's send does.
    return new Promise((resolve) => resolve(answer(command)));
  };
  return { s3: { send } as unknown as S3Client, sent };
}

const inputOf = <T extends { input: unknown }>(command: object): T['input'] => (command as T).input;

describe('objectLockPolicyOf', () => {
  it('is undefined without a mode, and the policy with one', () => {
    expect(objectLockPolicyOf({ mode: '', retentionDays: 0, extendDays: 7 })).toBeUndefined();
    expect(objectLockPolicyOf({ mode: 'GOVERNANCE', retentionDays: 90, extendDays: 7 })).toEqual({
      mode: 'GOVERNANCE',
      retentionDays: 90,
      extendDays: 7,
    });
  });

  it('refuses a mode with retentionDays 0 with a ConfigError naming the key', () => {
    let err: unknown;
    try {
      objectLockPolicyOf({ mode: 'COMPLIANCE', retentionDays: 0, extendDays: 7 });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).key).toBe('objectLock.retentionDays');
    expect((err as ConfigError).message).toMatch(/BACKSTREAM_OBJECT_LOCK_RETENTION_DAYS.*at least 1 day/);
  });
});

describe('lock dates', () => {
  it('locks until now + retentionDays + extendDays', () => {
    expect(lockUntil(policy, T0).toISOString()).toBe('2026-02-07T00:00:00.000Z');
    expect(lockUntil({ ...policy, extendDays: 0 }, T0).toISOString()).toBe('2026-01-31T00:00:00.000Z');
  });

  it('extends only an object without a date or with fewer than retentionDays left', () => {
    expect(needsExtension(policy, {}, T0)).toBe(true);
    expect(needsExtension(policy, { retainUntil: new Date(T0.getTime() + 30 * DAY) }, T0)).toBe(false);
    expect(needsExtension(policy, { retainUntil: new Date(T0.getTime() + 30 * DAY - 1) }, T0)).toBe(true);
    expect(needsExtension(policy, { retainUntil: new Date(T0.getTime() - DAY) }, T0)).toBe(true);
  });
});

describe('MemoryObjectStore with Object Lock', () => {
  it('writes objects locked, and refuses delete and overwrite until the date passes', async () => {
    const c = clock();
    const store = new MemoryObjectStore({ objectLock: policy, now: c.now });
    await store.put('blocks/aa/x', Buffer.from('x'));
    expect((await store.head('blocks/aa/x'))?.retainUntil).toEqual(lockUntil(policy, T0));

    await expect(store.delete('blocks/aa/x')).rejects.toMatchObject({ code: 'STORE_REJECTED', retriable: false });
    await expect(store.put('blocks/aa/x', Buffer.from('y'))).rejects.toMatchObject({ code: 'STORE_REJECTED' });
    expect(await store.get('blocks/aa/x')).toEqual(Buffer.from('x'));

    c.advanceDays(37);
    await store.delete('blocks/aa/x');
    expect(await store.head('blocks/aa/x')).toBeUndefined();
  });

  it('without a policy, locks nothing and keepLocked does nothing', async () => {
    const store = new MemoryObjectStore();
    await store.put('k', Buffer.from('1'));
    const info = await store.head('k');
    expect(info).toEqual({ key: 'k', size: 1 });
    await store.keepLocked(info!);
    expect(store.extensions).toEqual([]);
    await store.delete('k');
  });

  it('a block reused by a daily backup is extended once per extendDays, and always stays locked retentionDays ahead', async () => {
    const c = clock();
    const store = new MemoryObjectStore({ objectLock: policy, now: c.now });
    await store.put('blocks/ab/shared', Buffer.from('shared'));
    const extendedOn: number[] = [];
    for (let day = 1; day <= 60; day++) {
      c.advanceDays(1);
      const before = store.extensions.length;
      const info = await store.head('blocks/ab/shared');
      await store.keepLocked(info!);
      if (store.extensions.length > before) extendedOn.push(day);
      const until = (await store.head('blocks/ab/shared'))!.retainUntil!;
      expect(until.getTime()).toBeGreaterThanOrEqual(c.now().getTime() + policy.retentionDays * DAY);
    }
    // Locked to day 37; due once fewer than 30 days remain (day 8), then every 8 days.
    expect(extendedOn).toEqual([8, 16, 24, 32, 40, 48, 56]);
  });

  it('a create-only put that finds the object keeps its lock, as a reuse', async () => {
    const c = clock();
    const store = new MemoryObjectStore({ objectLock: policy, now: c.now });
    await store.put('filelists/s', Buffer.from('segment'), { ifNoneMatch: true });
    c.advanceDays(1);
    expect(await store.put('filelists/s', Buffer.from('segment'), { ifNoneMatch: true })).toEqual({ created: false });
    expect(store.extensions).toEqual([]);
    c.advanceDays(10);
    expect(await store.put('filelists/s', Buffer.from('segment'), { ifNoneMatch: true })).toEqual({ created: false });
    expect(store.extensions).toEqual(['filelists/s']);
    expect(store.locks.get('filelists/s')).toEqual(lockUntil(policy, c.now()));
  });
});

describe('S3ObjectStore with Object Lock', () => {
  it('puts with the mode, now + retentionDays + extendDays and a Content-MD5', async () => {
    const { s3, sent } = stubS3(() => ({}));
    const store = new S3ObjectStore(s3, 'bkt', 'repo/', { objectLock: policy, now: () => T0 });
    const body = Buffer.from('block bytes');
    expect(await store.put('blocks/aa/x', body, { ifNoneMatch: true })).toEqual({ created: true });
    expect(sent[0]).toBeInstanceOf(PutObjectCommand);
    expect(inputOf<PutObjectCommand>(sent[0]!)).toMatchObject({
      Bucket: 'bkt',
      Key: 'repo/blocks/aa/x',
      IfNoneMatch: '*',
      ObjectLockMode: 'COMPLIANCE',
      ObjectLockRetainUntilDate: new Date('2026-02-07T00:00:00Z'),
      ContentMD5: createHash('md5').update(body).digest('base64'),
    });
  });

  it('without a policy, puts without lock parameters and never extends', async () => {
    const { s3, sent } = stubS3(() => ({}));
    const store = new S3ObjectStore(s3, 'bkt');
    await store.put('k', Buffer.from('v'));
    await store.keepLocked({ key: 'k', size: 1 });
    expect(sent).toHaveLength(1);
    const input = inputOf<PutObjectCommand>(sent[0]!);
    expect(input.ObjectLockMode).toBeUndefined();
    expect(input.ObjectLockRetainUntilDate).toBeUndefined();
    expect(input.ContentMD5).toBeUndefined();
  });

  it('head returns the retain-until date', async () => {
    const until = new Date('2026-03-01T00:00:00Z');
    const { s3 } = stubS3(() => ({ ContentLength: 5, ObjectLockMode: 'COMPLIANCE', ObjectLockRetainUntilDate: until }));
    const store = new S3ObjectStore(s3, 'bkt', '', { objectLock: policy });
    expect(await store.head('k')).toEqual({ key: 'k', size: 5, retainUntil: until });
  });

  it('keepLocked sends PutObjectRetention only when fewer than retentionDays remain', async () => {
    const c = clock();
    const { s3, sent } = stubS3(() => ({}));
    const store = new S3ObjectStore(s3, 'bkt', 'repo/', { objectLock: policy, now: c.now });
    await store.keepLocked({ key: 'blocks/aa/x', size: 1, retainUntil: new Date(T0.getTime() + 31 * DAY) });
    expect(sent).toHaveLength(0);
    await store.keepLocked({ key: 'blocks/aa/x', size: 1, retainUntil: new Date(T0.getTime() + 29 * DAY) });
    await store.keepLocked({ key: 'blocks/aa/y', size: 1 });
    expect(sent.map((s) => s.constructor)).toEqual([PutObjectRetentionCommand, PutObjectRetentionCommand]);
    expect(inputOf<PutObjectRetentionCommand>(sent[0]!)).toEqual({
      Bucket: 'bkt',
      Key: 'repo/blocks/aa/x',
      Retention: { Mode: 'COMPLIANCE', RetainUntilDate: new Date('2026-02-07T00:00:00Z') },
    });
  });

  it('a create-only put that finds the key (412) heads it and extends its lock when due', async () => {
    const c = clock();
    const { s3, sent } = stubS3((command) => {
      if (command instanceof PutObjectCommand) throw s3Error('PreconditionFailed', 412);
      if (command instanceof HeadObjectCommand)
        return { ContentLength: 3, ObjectLockRetainUntilDate: new Date(T0.getTime() + 2 * DAY) };
      return {};
    });
    const store = new S3ObjectStore(s3, 'bkt', '', { objectLock: policy, now: c.now });
    expect(await store.put('filelists/s', Buffer.from('abc'), { ifNoneMatch: true })).toEqual({ created: false });
    expect(sent.map((s) => s.constructor)).toEqual([PutObjectCommand, HeadObjectCommand, PutObjectRetentionCommand]);
  });

  it('a create-only put refused 403 on a locked existing key (a server without versioning) is not created', async () => {
    const { s3 } = stubS3((command) => {
      if (command instanceof PutObjectCommand) throw s3Error('AccessDenied', 403);
      if (command instanceof HeadObjectCommand)
        return { ContentLength: 3, ObjectLockRetainUntilDate: new Date(T0.getTime() + 40 * DAY) };
      return {};
    });
    const store = new S3ObjectStore(s3, 'bkt', '', { objectLock: policy, now: () => T0 });
    expect(await store.put('blocks/aa/x', Buffer.from('abc'), { ifNoneMatch: true })).toEqual({ created: false });
  });

  it('a 403 on a key that does not exist stays an error', async () => {
    const { s3 } = stubS3((command) => {
      if (command instanceof PutObjectCommand) throw s3Error('AccessDenied', 403);
      if (command instanceof HeadObjectCommand) throw s3Error('NotFound', 404);
      return {};
    });
    const store = new S3ObjectStore(s3, 'bkt', '', { objectLock: policy });
    await expect(store.put('blocks/aa/x', Buffer.from('abc'), { ifNoneMatch: true })).rejects.toMatchObject({
      code: 'STORE_REJECTED',
    });
  });
});

describe('bucket checks with Object Lock', () => {
  it('ensureBucket creates a missing bucket with Object Lock enabled when the policy asks', async () => {
    const { s3, sent } = stubS3((command) => {
      if (command instanceof HeadBucketCommand) throw s3Error('NotFound', 404);
      return {};
    });
    expect(await ensureBucket(s3, 'bkt', { objectLock: policy })).toBe(true);
    const create = sent.find((s) => s instanceof CreateBucketCommand)!;
    expect(inputOf<CreateBucketCommand>(create)).toEqual({ Bucket: 'bkt', ObjectLockEnabledForBucket: true });
  });

  it('ensureBucket and requireBucket refuse an existing bucket without Object Lock', async () => {
    const { s3 } = stubS3((command) => {
      if (command instanceof GetObjectLockConfigurationCommand)
        throw s3Error('ObjectLockConfigurationNotFoundError', 404);
      return {};
    });
    await expect(ensureBucket(s3, 'bkt', { objectLock: policy })).rejects.toThrow(
      /^bucket bkt has no Object Lock; objectLock\.mode/,
    );
    await expect(requireBucket(s3, 'bkt', { objectLock: policy })).rejects.toBeInstanceOf(ConfigError);
    // Without a policy the lock is not asked about.
    await expect(requireBucket(s3, 'bkt')).resolves.toBeUndefined();
  });

  it('requireBucket accepts a bucket with Object Lock enabled', async () => {
    const { s3, sent } = stubS3((command) =>
      command instanceof GetObjectLockConfigurationCommand
        ? { ObjectLockConfiguration: { ObjectLockEnabled: 'Enabled' } }
        : {},
    );
    await requireBucket(s3, 'bkt', { objectLock: policy });
    expect(sent.map((s) => s.constructor)).toEqual([HeadBucketCommand, GetObjectLockConfigurationCommand]);
  });
});
