import { readFileSync } from 'node:fs';
import { envNameOf } from '../config';
import { ConfigError } from '../errors';

/** How a key file is read; fs.readFileSync unless a test supplies its own. */
export type ReadFile = (path: string) => Buffer | string;

/**
 * The text of the file a `…File` key setting names. A failed read reports the setting and
 * the errno code only: neither the error's message nor the name itself, because the value
 * of a file setting is sometimes the key pasted into the wrong variable.
 */
export function readKeyFile(path: string, key: string, read: ReadFile = readFileSync): string {
  let content: Buffer | string;
  try {
    content = read(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
    const env = envNameOf(key);
    throw new ConfigError(
      `invalid setting ${key}${env ? ` (${env})` : ''}: cannot read the file it names (${code}); the name, ${path.length} characters, is not shown in case it is a key`,
      { key },
    );
  }
  if (typeof content === 'string') return content;
  const text = content.toString('utf8');
  content.fill(0);
  return text;
}
