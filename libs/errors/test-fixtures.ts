import { InvalidEventError } from '.';

/** The error `fn` throws, which must be a non-retriable InvalidEventError (a dead-letter reason). */
export function rejection(fn: () => unknown): InvalidEventError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidEventError);
    expect((err as InvalidEventError).code).toBe('EVENT_INVALID');
    expect((err as InvalidEventError).retriable).toBe(false);
    return err as InvalidEventError;
  }
  throw new Error('expected an InvalidEventError, nothing was thrown');
}
