import { terminalSafe } from '.';

describe('terminalSafe', () => {
  it('leaves printable text alone, non-ASCII and backslashes included', () => {
    for (const s of ['docs/readme.txt', 'ünïcödé ✓/日本語 ファイル.txt', 'a\\x1b', 'emoji 🎉', ''])
      expect(terminalSafe(s)).toBe(s);
  });

  it('escapes C0 controls, newline and tab included, and DEL', () => {
    expect(terminalSafe('a\u001b[2Jb')).toBe('a\\x1b[2Jb');
    expect(terminalSafe('x\ny\tz\r\u0000\u0007\u007f')).toBe('x\\x0ay\\x09z\\x0d\\x00\\x07\\x7f');
  });

  it('escapes C1 controls (U+009B is a one-byte CSI)', () => {
    expect(terminalSafe('\u0080\u009b31m\u009f')).toBe('\\x80\\x9b31m\\x9f');
    expect(terminalSafe('\u00a0é')).toBe('\u00a0é');
  });

  it('escapes bidirectional overrides, embeddings, isolates and marks', () => {
    expect(terminalSafe('invoice\u202etxt.exe')).toBe('invoice\\u{202e}txt.exe');
    expect(terminalSafe('\u202a\u202b\u202c\u202d\u2066\u2067\u2068\u2069\u200e\u200f\u061c')).toBe(
      '\\u{202a}\\u{202b}\\u{202c}\\u{202d}\\u{2066}\\u{2067}\\u{2068}\\u{2069}\\u{200e}\\u{200f}\\u{61c}',
    );
  });
});
