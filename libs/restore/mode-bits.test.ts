import { restorableMode } from './mode-bits';

describe('restorableMode', () => {
  it.each([
    ['file', 0o644, 0o644, false],
    ['file', 0o100755, 0o755, false],
    ['file', 0o4755, 0o755, true],
    ['file', 0o2755, 0o755, true],
    ['file', 0o1644, 0o644, true],
    ['file', 0o7777, 0o777, true],
    ['dir', 0o1777, 0o1777, false],
    ['dir', 0o2775, 0o775, true],
    ['dir', 0o4755, 0o755, true],
    ['dir', 0o40700, 0o700, false],
  ] as const)('a %s of mode %o gets %o (dropped: %s)', (kind, mode, expected, dropped) => {
    expect(restorableMode(kind, mode)).toEqual({ mode: expected, dropped });
  });
});
