/**
 * Characters a name must not send to a terminal as they are: C0 controls (newline and tab
 * included: a name could forge a line), DEL, C1 controls (U+0080–U+009F: U+009B is CSI on
 * some terminals), and the bidirectional formatting characters (U+061C, U+200E, U+200F,
 * U+202A–U+202E, U+2066–U+2069), which reorder what is shown after them.
 */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/**
 * `text` with each unsafe character written as an escape: `\xNN` below U+0100, `\u{NNNN}`
 * above. Backslashes are left as they are, so the escaped form of a name that already holds
 * `\x1b` is ambiguous, never dangerous. For terminal output only; JSON output escapes itself.
 */
export function terminalSafe(text: string): string {
  return text.replace(UNSAFE, (c) => {
    const code = c.charCodeAt(0);
    return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u{${code.toString(16)}}`;
  });
}
