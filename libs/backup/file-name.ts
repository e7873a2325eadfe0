/**
 * A directory entry's name as the bytes the file system holds. File lists carry paths as
 * JSON strings, so only names that are valid UTF-8 can be backed up byte-exact: for any
 * other, Node's decoding puts U+FFFD in place of the bad bytes, and two different names
 * (`f\xff`, `f\xfe`, and a real `f\uFFFD`) would become one path.
 */

/** The name as a string when its bytes are valid UTF-8 (they round-trip); undefined otherwise. */
export function decodeFileName(bytes: Buffer): string | undefined {
  const text = bytes.toString('utf8');
  return Buffer.from(text, 'utf8').equals(bytes) ? text : undefined;
}

/**
 * The name for reports: printable ASCII as is, a backslash doubled, every other byte as
 * `\xHH`, so that no two names read alike and nothing unprintable reaches a terminal.
 */
export function escapeFileName(bytes: Buffer): string {
  let out = '';
  for (const b of bytes) {
    if (b === 0x5c) out += '\\\\';
    else if (b >= 0x20 && b < 0x7f) out += String.fromCharCode(b);
    else out += `\\x${b.toString(16).padStart(2, '0')}`;
  }
  return out;
}
