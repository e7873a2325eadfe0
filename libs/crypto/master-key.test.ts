import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { ConfigError } from '../errors';
import { generateMasterKey, loadMasterKey } from './master-key';

const KEY = Buffer.from('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f', 'hex');
const HEX = KEY.toString('hex');
const B64 = KEY.toString('base64');

const settings = (masterKey = '', masterKeyFile = ''): { masterKey: string; masterKeyFile: string } => ({
  masterKey,
  masterKeyFile,
});

/** The ConfigError `fn` throws; fails the test if the secret shows anywhere in it. */
function configError(fn: () => unknown, secret?: string): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    const e = err as ConfigError;
    expect(e.retriable).toBe(false);
    if (secret !== undefined && secret.trim() !== '') {
      const shown = `${e.message} ${e.hint ?? ''} ${inspect(e.cause)} ${JSON.stringify(e)}`;
      expect(shown).not.toContain(secret.trim());
      // Not even a recognisable piece of it.
      expect(shown).not.toContain(secret.trim().slice(0, 12));
    }
    return e;
  }
  throw new Error('expected a ConfigError, nothing was thrown');
}

describe('loadMasterKey', () => {
  it('returns undefined when neither setting is set: an unencrypted repository', () => {
    expect(loadMasterKey(settings())).toBeUndefined();
  });

  it.each([
    ['lowercase hex', HEX],
    ['uppercase hex', HEX.toUpperCase()],
    ['base64', B64],
    ['base64 without padding', B64.replace(/=$/, '')],
    ['URL-safe base64', KEY.toString('base64url')],
    ['hex with surrounding whitespace', `  ${HEX}\n`],
    ['base64 with a trailing newline', `${B64}\r\n`],
  ])('accepts %s', (_what, text) => {
    expect(loadMasterKey(settings(text))).toEqual(KEY);
  });

  it('reads masterKeyFile (trailing newline ignored), as a Buffer or a string', () => {
    const files: Record<string, Buffer | string> = { '/run/secrets/k': Buffer.from(`${B64}\n`), '/k2': `${HEX}\n` };
    const read = (p: string): Buffer | string => files[p] ?? '';
    expect(loadMasterKey(settings('', '/run/secrets/k'), read)).toEqual(KEY);
    expect(loadMasterKey(settings('', '/k2'), read)).toEqual(KEY);
  });

  it('reads a real file with fs by default', () => {
    const dir = mkdtempSync(join(tmpdir(), 'backstream-key-'));
    try {
      const file = join(dir, 'master.key');
      writeFileSync(file, `${HEX}\n`, { mode: 0o600 });
      expect(loadMasterKey(settings('', file))).toEqual(KEY);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses both settings at once, naming both and showing neither key', () => {
    const err = configError(() => loadMasterKey(settings(HEX, '/k'), () => B64), HEX);
    expect(err.message).toContain('encryption.masterKey (BACKSTREAM_ENCRYPTION_MASTER_KEY)');
    expect(err.message).toContain('encryption.masterKeyFile (BACKSTREAM_ENCRYPTION_MASTER_KEY_FILE)');
    expect(err.code).toBe('CONFIG_INVALID');
  });

  it.each([
    ['63 hex digits', HEX.slice(1)],
    ['65 hex digits', `${HEX}a`],
    ['hex with a non-hex digit', `${HEX.slice(0, 63)}g`],
    ['base64 of 31 bytes', KEY.subarray(1).toString('base64')],
    ['base64 of 33 bytes', Buffer.concat([KEY, Buffer.from([7])]).toString('base64')],
    ['non-canonical base64 (stray low bits)', `${B64.slice(0, 42)}9=`],
    ['base64 with an inner space', `${B64.slice(0, 20)} ${B64.slice(20)}`],
    ['a passphrase', 'correct horse battery staple, not a key'],
    ['whitespace only', '   '],
  ])('refuses %s, naming the setting and not the value', (_what, text) => {
    const err = configError(() => loadMasterKey(settings(text)), text);
    expect(err.message).toMatch(
      /^invalid setting encryption\.masterKey \(BACKSTREAM_ENCRYPTION_MASTER_KEY\): must be 32 bytes/,
    );
    expect(err.message).toContain('(not shown)');
    expect(err.key).toBe('encryption.masterKey');
  });

  it('refuses malformed file content, naming the file and not the content', () => {
    const secret = 'my-secret-passphrase-in-a-file';
    const err = configError(() => loadMasterKey(settings('', '/run/secrets/k'), () => Buffer.from(secret)), secret);
    expect(err.message).toContain('encryption.masterKeyFile (BACKSTREAM_ENCRYPTION_MASTER_KEY_FILE)');
    expect(err.message).toContain('/run/secrets/k');
    expect(err.key).toBe('encryption.masterKeyFile');
  });

  it('refuses an empty key file instead of running unencrypted', () => {
    const err = configError(() => loadMasterKey(settings('', '/k'), () => '\n'));
    expect(err.message).toContain('has 0 characters');
  });

  it('refuses an all-zero key', () => {
    const zeros = '0'.repeat(64);
    const err = configError(() => loadMasterKey(settings(zeros)));
    expect(err.message).toContain('all zeros');
  });

  it('reports an unreadable file by its errno code', () => {
    const err = configError(() => loadMasterKey(settings('', join(tmpdir(), 'backstream-no-such-key-file'))));
    expect(err.message).toContain('ENOENT');
    expect(err.key).toBe('encryption.masterKeyFile');
  });

  it('does not print the file name it cannot read: it may be the key itself', () => {
    const err = configError(() => loadMasterKey(settings('', B64)), B64);
    expect(err.message).toContain('encryption.masterKeyFile (BACKSTREAM_ENCRYPTION_MASTER_KEY_FILE)');
    expect(err.message).toContain('ENOENT');
  });
});

describe('generateMasterKey', () => {
  it('makes base64 of 32 random bytes that loadMasterKey accepts', () => {
    const a = generateMasterKey();
    const b = generateMasterKey();
    expect(a).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    expect(a).not.toBe(b);
    expect(loadMasterKey(settings(a))).toEqual(Buffer.from(a, 'base64'));
  });
});
