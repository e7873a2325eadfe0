import { z } from 'zod';
import { CHANGE_LIMITS } from '../changes';

const rfc3339 = z.iso.datetime({ offset: true });

export const INSTANT_FORMS =
  'an RFC 3339 date-time with seconds and a zone (2024-05-01T10:00:00Z, 2024-05-01T12:00:00.123+02:00) or integer epoch milliseconds';

/**
 * A moment given on the command line, in the two forms change events use for `ts`
 * (docs/change-events.md#timestamps): an RFC 3339 date-time with seconds and a zone
 * (digits beyond milliseconds dropped), or integer milliseconds since the epoch. Seconds
 * are not guessed: 1714557600 is 1970-01-20. Range 1970 … 9999, as change times.
 */
export function parseInstant(text: string): { ms: number } | { error: string } {
  const value = text.trim();
  let ms: number;
  if (/^\d{1,16}$/.test(value)) ms = Number(value);
  else if (rfc3339.safeParse(value).success) ms = Date.parse(value);
  else return { error: `expected ${INSTANT_FORMS}, got ${JSON.stringify(text)}` };
  if (!(ms >= 0 && ms <= CHANGE_LIMITS.tsMs)) {
    return { error: `${JSON.stringify(text)} is outside 1970-01-01T00:00:00Z … 9999-12-31T23:59:59.999Z` };
  }
  return { ms };
}
