import type { BackstreamConfig } from '../config';
import { ConfigError } from '../errors';
import type { ObjectInfo } from './object-store';

/**
 * S3 Object Lock on everything backstream writes (see docs/object-lock.md): every object is
 * written with `mode` and a retain-until date of now + retentionDays + extendDays, and a
 * stored object a new snapshot reuses has its date pushed to the same when fewer than
 * retentionDays remain, so it is extended at most once per extendDays however often reused.
 */
export interface ObjectLockPolicy {
  mode: 'GOVERNANCE' | 'COMPLIANCE';
  /** Days every object stays locked after the last snapshot that uses it was written. */
  retentionDays: number;
  /** Slack added to every lock set or extended. */
  extendDays: number;
}

const DAY_MS = 24 * 60 * 60 * 1000;

/** The policy of the objectLock settings; undefined when objectLock.mode is empty (no lock). */
export function objectLockPolicyOf(settings: BackstreamConfig['objectLock']): ObjectLockPolicy | undefined {
  if (settings.mode === '') return undefined;
  if (!(Number.isSafeInteger(settings.retentionDays) && settings.retentionDays >= 1)) {
    throw new ConfigError(
      `invalid setting objectLock.retentionDays (BACKSTREAM_OBJECT_LOCK_RETENTION_DAYS): must be at least 1 day when objectLock.mode is ${settings.mode}: value was ${settings.retentionDays}`,
      {
        key: 'objectLock.retentionDays',
        hint: 'set BACKSTREAM_OBJECT_LOCK_RETENTION_DAYS, or leave BACKSTREAM_OBJECT_LOCK_MODE empty for no Object Lock',
      },
    );
  }
  if (!(Number.isSafeInteger(settings.extendDays) && settings.extendDays >= 0)) {
    throw new ConfigError(
      `invalid setting objectLock.extendDays (BACKSTREAM_OBJECT_LOCK_EXTEND_DAYS): must be a whole number of days: value was ${settings.extendDays}`,
      { key: 'objectLock.extendDays' },
    );
  }
  return { mode: settings.mode, retentionDays: settings.retentionDays, extendDays: settings.extendDays };
}

/** The retain-until date of an object locked (or extended) at `now`: now + retentionDays + extendDays. */
export function lockUntil(policy: ObjectLockPolicy, now: Date): Date {
  return new Date(now.getTime() + (policy.retentionDays + policy.extendDays) * DAY_MS);
}

/**
 * Whether a stored object a snapshot taken at `now` reuses must have its lock extended:
 * when it has no retain-until date, or one earlier than now + retentionDays.
 */
export function needsExtension(policy: ObjectLockPolicy, info: Pick<ObjectInfo, 'retainUntil'>, now: Date): boolean {
  if (!info.retainUntil) return true;
  return info.retainUntil.getTime() < now.getTime() + policy.retentionDays * DAY_MS;
}
