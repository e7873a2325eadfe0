import { BackstreamError, InvalidEventError } from '../errors';
import { StoreError } from '../store';
import { FailedAttempts } from './attempts';

describe('FailedAttempts', () => {
  const locked = new StoreError('S3 PUT blocks/aa/x failed: AccessDenied (HTTP 403)', { retriable: false });

  it('dead-letters an invalid event at its first failure', () => {
    const attempts = new FailedAttempts(5);
    expect(attempts.deadLetterReason(0, '7', new InvalidEventError('bad seq'))).toBe('bad seq');
    expect(attempts.pending).toBe(0);
  });

  it('dead-letters a non-retriable failure of the same message at its maxAttempts-th failure, with the reason', () => {
    const attempts = new FailedAttempts(3);
    expect(attempts.deadLetterReason(1, '10', locked)).toBeUndefined();
    expect(attempts.deadLetterReason(1, '10', locked)).toBeUndefined();
    // Another message's failures are its own.
    expect(attempts.deadLetterReason(2, '10', locked)).toBeUndefined();
    expect(attempts.deadLetterReason(1, '10', locked)).toBe(
      'failed 3 times with a non-retriable STORE_REJECTED: S3 PUT blocks/aa/x failed: AccessDenied (HTTP 403)',
    );
    expect(attempts.pending).toBe(1);
  });

  it('never dead-letters a retriable error, nor an error that is no BackstreamError', () => {
    const attempts = new FailedAttempts(2);
    const down = new StoreError('S3 GET x failed: ECONNREFUSED', { retriable: true });
    const kafka = new BackstreamError('KAFKA_UNAVAILABLE', 'no broker', { retriable: true });
    for (let i = 0; i < 100; i++) {
      expect(attempts.deadLetterReason(0, '1', down)).toBeUndefined();
      expect(attempts.deadLetterReason(0, '1', kafka)).toBeUndefined();
      expect(attempts.deadLetterReason(0, '1', new Error('KafkaJSConnectionError'))).toBeUndefined();
    }
    expect(attempts.pending).toBe(0);
  });

  it('forgets a message that passed', () => {
    const attempts = new FailedAttempts(2);
    expect(attempts.deadLetterReason(0, '1', locked)).toBeUndefined();
    attempts.passed(0, '1');
    expect(attempts.pending).toBe(0);
    expect(attempts.deadLetterReason(0, '1', locked)).toBeUndefined();
  });
});
