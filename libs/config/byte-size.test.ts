import { formatByteSize, parseByteSize } from './byte-size';

describe('parseByteSize', () => {
  it.each([
    ['1048576', 1048576],
    ['512KiB', 512 * 1024],
    ['8 MiB', 8 * 1024 * 1024],
    ['1gib', 1024 ** 3],
    [4096, 4096],
  ])('reads %p as %p bytes', (text, bytes) => {
    expect(parseByteSize(text)).toBe(bytes);
  });

  it.each(['8MB', '1.5MiB', '-1', 'lots', '', 1.5, -3, null])('refuses %p', (text) => {
    expect(parseByteSize(text)).toBeUndefined();
  });
});

describe('formatByteSize', () => {
  it('uses the largest binary unit that divides the count', () => {
    expect(formatByteSize(8 * 1024 * 1024)).toBe('8MiB');
    expect(formatByteSize(1536)).toBe('1536B');
    expect(formatByteSize(3 * 1024)).toBe('3KiB');
  });
});
