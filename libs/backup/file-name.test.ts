import { decodeFileName, escapeFileName } from './file-name';

describe('decodeFileName', () => {
  it('gives valid UTF-8 names back as strings, multi-byte and astral ones included', () => {
    for (const name of ['a.txt', 'ünïcødé', '日本語', '😀', 'f\uFFFD', ' ']) {
      expect(decodeFileName(Buffer.from(name))).toBe(name);
    }
  });

  it('refuses bytes that are not UTF-8: a lone byte, a truncated sequence, an encoded surrogate, an overlong form', () => {
    for (const bytes of [[0x66, 0xff], [0x66, 0xfe], [0xc3], [0xe6, 0x97], [0xed, 0xa0, 0x80], [0xc0, 0xaf]]) {
      expect(decodeFileName(Buffer.from(bytes))).toBeUndefined();
    }
  });

  it('keeps names apart that the default decoding merges', () => {
    const merged = [Buffer.from([0x66, 0xff]), Buffer.from([0x66, 0xfe]), Buffer.from('f\uFFFD')];
    expect(new Set(merged.map((b) => b.toString('utf8'))).size).toBe(1);
    expect(merged.map(decodeFileName)).toEqual([undefined, undefined, 'f\uFFFD']);
  });
});

describe('escapeFileName', () => {
  it('shows printable ASCII as is and every other byte as \\xHH', () => {
    expect(escapeFileName(Buffer.from([0x66, 0xff]))).toBe('f\\xff');
    expect(escapeFileName(Buffer.from('é\n'))).toBe('\\xc3\\xa9\\x0a');
    expect(escapeFileName(Buffer.from('plain name.txt'))).toBe('plain name.txt');
  });

  it('doubles a backslash, so a name holding "\\xff" literally reads differently from the byte', () => {
    expect(escapeFileName(Buffer.from('f\\xff'))).toBe('f\\\\xff');
    expect(escapeFileName(Buffer.from('f\\xff'))).not.toBe(escapeFileName(Buffer.from([0x66, 0xff])));
  });
});
