import { parseInstant } from './time';

const mentions = (text: string): unknown => expect.stringContaining(text);

describe('parseInstant', () => {
  it('reads RFC 3339 with seconds and a zone, and integer epoch milliseconds', () => {
    expect(parseInstant('2024-05-01T10:00:00Z')).toEqual({ ms: 1714557600000 });
    expect(parseInstant('2024-05-01T12:00:00.123456+02:00')).toEqual({ ms: 1714557600123 });
    expect(parseInstant('1714557600123')).toEqual({ ms: 1714557600123 });
    expect(parseInstant('0')).toEqual({ ms: 0 });
    expect(parseInstant('9999-12-31T23:59:59.999Z')).toEqual({ ms: 253402300799999 });
  });

  it.each([
    '2024-05-01',
    '2024-05-01T10:00Z',
    '2024-05-01T10:00:00',
    '2024-05-01 10:00:00Z',
    '2024-05-01t10:00:00z',
    'yesterday',
    '-1',
    '1.5',
    '',
  ])('refuses %j', (text) => {
    expect(parseInstant(text)).toEqual({ error: mentions('expected an RFC 3339 date-time') });
  });

  it('refuses moments outside 1970 … 9999', () => {
    expect(parseInstant('1969-12-31T23:59:59Z')).toEqual({ error: mentions('outside') });
    expect(parseInstant('9999999999999999')).toEqual({ error: mentions('outside') });
  });
});
