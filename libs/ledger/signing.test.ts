import { createHash, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import type { BackstreamConfig } from '../config';
import { ConfigError } from '../errors';
import { LedgerSigningKey, LedgerVerifyingKey, keyIdOf, loadSigningKey, loadVerifyingKey } from './signing';

/** The raw 32-byte seed of a PKCS#8 Ed25519 private key (its DER ends with it). */
const seedOf = (key: KeyObject): Buffer => key.export({ format: 'der', type: 'pkcs8' }).subarray(-32);
/** The raw 32-byte public key of an SPKI Ed25519 public key. */
const rawOf = (key: KeyObject): Buffer => key.export({ format: 'der', type: 'spki' }).subarray(-32);

function generated() {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const seed = seedOf(privateKey);
  const raw = rawOf(publicKey);
  return {
    privateKey,
    publicKey,
    seed,
    raw,
    pkcs8Pem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    spkiPem: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
  };
}

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).code).toBe('CONFIG_INVALID');
    expect((err as ConfigError).retriable).toBe(false);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError, nothing was thrown');
}

/** Every piece of `text` at least 8 characters long that could leak it: its lines, its base64 body. */
function expectNotEchoed(message: string, text: string): void {
  expect(message).not.toContain(text.trim());
  for (const line of text.split('\n')) {
    const l = line.trim();
    if (l.length >= 8 && !l.startsWith('-----')) expect(message).not.toContain(l.slice(0, 16));
  }
}

const DATA = Buffer.from('what the ledger signs');

describe('LedgerSigningKey.parse', () => {
  const k = generated();

  it('reads the seed as hex, base64 (padded or not) and the key as PKCS#8 PEM, all the same key', () => {
    const forms = [
      k.seed.toString('hex'),
      k.seed.toString('hex').toUpperCase(),
      k.seed.toString('base64'),
      k.seed.toString('base64').replace(/=$/, ''),
      k.pkcs8Pem,
      // As files and environment variables hand them over: with surrounding whitespace.
      `  ${k.seed.toString('hex')}\n`,
      `\n${k.seed.toString('base64')}\n`,
      `${k.pkcs8Pem}\n\n`,
    ];
    const expected = sign(null, DATA, k.privateKey).toString('base64');
    for (const form of forms) {
      const key = LedgerSigningKey.parse(form, 'ledger.signingKey');
      expect(key.exportSeed()).toBe(k.seed.toString('base64'));
      expect(key.verifying.base64).toBe(k.raw.toString('base64'));
      expect(key.verifying.keyId).toBe(keyIdOf(k.publicKey));
      expect(key.sign(DATA)).toBe(expected);
      expect(key.verifying.verify(DATA, expected)).toBe(true);
    }
  });

  it('round-trips through exportSeed (what `ledger keygen` prints)', () => {
    const key = LedgerSigningKey.generate();
    const again = LedgerSigningKey.parse(key.exportSeed(), 'seed');
    expect(again.verifying.keyId).toBe(key.verifying.keyId);
    expect(again.sign(DATA)).toBe(key.sign(DATA));
  });

  it('matches RFC 8032 §7.1 test 1 (known public key and signature of the empty message)', () => {
    const key = LedgerSigningKey.parse('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60', 'kat');
    const publicHex = 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a';
    expect(Buffer.from(key.verifying.base64, 'base64').toString('hex')).toBe(publicHex);
    expect(Buffer.from(key.sign(Buffer.alloc(0)), 'base64').toString('hex')).toBe(
      'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
    );
    expect(key.verifying.keyId).toBe(
      createHash('sha256').update(Buffer.from(publicHex, 'hex')).digest('hex').slice(0, 16),
    );
  });

  const seedHex = k.seed.toString('hex');
  const seedB64 = k.seed.toString('base64');
  const pemLines = k.pkcs8Pem.trim().split('\n');
  const bad: [string, string][] = [
    ['an empty string', ''],
    ['a word', 'not-a-key'],
    ['63 hex digits', seedHex.slice(1)],
    ['65 hex digits', `${seedHex}0`],
    ['64 characters with a non-hex digit', `${seedHex.slice(0, 63)}g`],
    ['base64 of 31 bytes', k.seed.subarray(1).toString('base64')],
    ['base64 of 33 bytes', Buffer.concat([k.seed, Buffer.of(1)]).toString('base64')],
    ['base64 with a character outside the alphabet', `${seedB64.slice(0, 10)}!${seedB64.slice(11)}`],
    ['a PEM whose body is cut short', [pemLines[0], pemLines[1]!.slice(0, 30), pemLines.at(-1)].join('\n')],
    ['a PEM whose body is altered', [pemLines[0], `A${pemLines[1]!.slice(1, -2)}`, pemLines.at(-1)].join('\n')],
    ['the PEM body without its armour', pemLines.slice(1, -1).join('\n')],
    ['a public key instead of the private key', k.spkiPem],
  ];
  it.each(bad)('rejects %s with a ConfigError that does not echo the key', (_name, text) => {
    const err = configError(() => LedgerSigningKey.parse(text, 'ledger.signingKey'));
    expect(err.message).toContain('ledger.signingKey');
    expect(err.message).not.toContain(seedHex);
    expect(err.message).not.toContain(seedB64.slice(0, 16));
    if (text.trim().length >= 8) expectNotEchoed(err.message, text);
    // Nor through the cause, which loggers print.
    expect(err.cause).toBeUndefined();
  });

  it('rejects an RSA key, saying what it is', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const pem = rsa.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    const err = configError(() => LedgerSigningKey.parse(pem, 'ledger.signingKey'));
    expect(err.message).toMatch(/ledger\.signingKey is a rsa key; the ledger needs an Ed25519 key/);
    expectNotEchoed(err.message, pem);
  });

  it('rejects an X25519 and an Ed448 key', () => {
    for (const type of ['x25519', 'ed448'] as const) {
      const pem = generateKeyPairSync(type as 'x25519')
        .privateKey.export({ format: 'pem', type: 'pkcs8' })
        .toString();
      const err = configError(() => LedgerSigningKey.parse(pem, 'ledger.signingKey'));
      expect(err.message).toContain(`a ${type} key`);
    }
  });
});

describe('LedgerVerifyingKey.parse', () => {
  const k = generated();
  const signer = LedgerSigningKey.parse(k.pkcs8Pem, 'signing key');
  const signature = signer.sign(DATA);

  it('reads the raw key as base64 and hex, and SPKI PEM, all the same key', () => {
    const forms = [
      k.raw.toString('base64'),
      k.raw.toString('base64').replace(/=$/, ''),
      k.raw.toString('hex'),
      k.spkiPem,
      `\n ${k.raw.toString('base64')} \n`,
    ];
    for (const form of forms) {
      const key = LedgerVerifyingKey.parse(form, 'ledger.publicKey');
      expect(key.base64).toBe(k.raw.toString('base64'));
      expect(key.keyId).toBe(signer.verifying.keyId);
      expect(key.verify(DATA, signature)).toBe(true);
      expect(key.verify(Buffer.from('something else'), signature)).toBe(false);
    }
  });

  it('has a stable key id: the first 8 bytes of the SHA-256 of the raw key, hex', () => {
    const expected = createHash('sha256').update(k.raw).digest('hex').slice(0, 16);
    expect(keyIdOf(k.publicKey)).toBe(expected);
    expect(LedgerVerifyingKey.parse(k.spkiPem, 'a').keyId).toBe(expected);
    expect(LedgerVerifyingKey.parse(k.raw.toString('hex'), 'b').keyId).toBe(expected);
    expect(signer.verifying.keyId).toBe(expected);
    expect(LedgerSigningKey.parse(k.seed.toString('hex'), 'c').verifying.keyId).toBe(expected);
    expect(expected).toMatch(/^[0-9a-f]{16}$/);
    expect(LedgerSigningKey.generate().verifying.keyId).not.toBe(expected);
  });

  it('verifies only canonical 64-byte base64 signatures', () => {
    const key = signer.verifying;
    expect(key.verify(DATA, undefined)).toBe(false);
    expect(key.verify(DATA, '')).toBe(false);
    expect(key.verify(DATA, signature.replace(/=+$/, ''))).toBe(false);
    expect(key.verify(DATA, `${signature}==`)).toBe(false);
    expect(key.verify(DATA, Buffer.from(signature, 'base64').toString('base64url'))).toBe(false);
    expect(key.verify(DATA, Buffer.from(signature, 'base64').toString('hex'))).toBe(false);
    expect(key.verify(DATA, Buffer.from(signature, 'base64').subarray(1).toString('base64'))).toBe(false);
    // 64 bytes need 86 base64 digits; the last carries 4 padding bits that a lenient decoder ignores.
    const last = signature[85]!;
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    const sibling = alphabet[alphabet.indexOf(last) ^ 1]!;
    const lenient = `${signature.slice(0, 85)}${sibling}==`;
    expect(Buffer.from(lenient, 'base64').equals(Buffer.from(signature, 'base64'))).toBe(true);
    expect(key.verify(DATA, lenient)).toBe(false);
  });

  const rawB64 = k.raw.toString('base64');
  const spkiLines = k.spkiPem.trim().split('\n');
  const bad: [string, string][] = [
    ['an empty string', ''],
    ['a word', 'not-a-key'],
    ['63 hex digits', k.raw.toString('hex').slice(1)],
    ['base64 of 31 bytes', k.raw.subarray(1).toString('base64')],
    ['a PEM whose body is altered', [spkiLines[0], `A${spkiLines[1]!.slice(1, -2)}`, spkiLines.at(-1)].join('\n')],
  ];
  it.each(bad)('rejects %s with a ConfigError naming the setting', (_name, text) => {
    const err = configError(() => LedgerVerifyingKey.parse(text, 'ledger.publicKey'));
    expect(err.message).toContain('ledger.publicKey is not an Ed25519 public key');
    if (text.length >= 8) expectNotEchoed(err.message, text);
    expect(err.message).not.toContain(rawB64.slice(0, 16));
  });

  it('rejects an RSA public key, saying what it is', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const pem = rsa.publicKey.export({ format: 'pem', type: 'spki' }).toString();
    const err = configError(() => LedgerVerifyingKey.parse(pem, 'ledger.publicKey'));
    expect(err.message).toContain('ledger.publicKey is not an Ed25519 public key');
    expect(err.message).toContain('a rsa key');
    expectNotEchoed(err.message, pem);
  });
});

describe('loadSigningKey / loadVerifyingKey', () => {
  const k = generated();
  const other = generated();
  const config = (over: Partial<BackstreamConfig['ledger']> = {}): BackstreamConfig['ledger'] => ({
    signingKey: '',
    signingKeyFile: '',
    publicKey: '',
    publicKeyFile: '',
    allowUnsigned: false,
    sequencerGroupId: '',
    transactionTimeoutMs: 15000,
    ...over,
  });
  const files: Record<string, string> = {
    '/secrets/signing.pem': k.pkcs8Pem,
    '/secrets/public.pem': other.spkiPem,
    '/secrets/garbage': 'garbage garbage garbage',
  };
  const read = (path: string): string => {
    const text = files[path];
    if (text === undefined) {
      throw Object.assign(new Error(`ENOENT: no such file or directory, open '${path}'`), { code: 'ENOENT' });
    }
    return text;
  };
  const neverRead = (path: string): string => {
    throw new Error(`read ${path}`);
  };
  const expectedId = keyIdOf(k.publicKey);

  it('gives undefined when no key is set', () => {
    expect(loadSigningKey(config(), neverRead)).toBeUndefined();
    expect(loadVerifyingKey(config(), neverRead)).toBeUndefined();
  });

  it('loads the signing key inline or from its file', () => {
    expect(loadSigningKey(config({ signingKey: k.seed.toString('hex') }), neverRead)?.verifying.keyId).toBe(expectedId);
    expect(loadSigningKey(config({ signingKeyFile: '/secrets/signing.pem' }), read)?.verifying.keyId).toBe(expectedId);
  });

  it('refuses both signingKey and signingKeyFile, without reading the file', () => {
    const err = configError(() =>
      loadSigningKey(config({ signingKey: k.seed.toString('hex'), signingKeyFile: '/secrets/signing.pem' }), neverRead),
    );
    expect(err.message).toBe('set ledger.signingKey or ledger.signingKeyFile, not both');
  });

  it('refuses both publicKey and publicKeyFile', () => {
    const err = configError(() =>
      loadVerifyingKey(config({ publicKey: k.raw.toString('base64'), publicKeyFile: '/secrets/public.pem' }), read),
    );
    expect(err.message).toBe('set ledger.publicKey or ledger.publicKeyFile, not both');
  });

  it('names the setting and the errno code of a file it cannot read, not the name (it may be a key)', () => {
    const err = configError(() => loadSigningKey(config({ signingKeyFile: '/secrets/missing' }), read));
    expect(err.message).toContain(
      'ledger.signingKeyFile (BACKSTREAM_LEDGER_SIGNING_KEY_FILE): cannot read the file it names (ENOENT)',
    );
    expect(err.message).not.toContain('/secrets/missing');
  });

  it('names the file, not its contents, when the file holds no key', () => {
    const err = configError(() => loadSigningKey(config({ signingKeyFile: '/secrets/garbage' }), read));
    expect(err.message).toContain('ledger.signingKeyFile (/secrets/garbage)');
    expect(err.message).not.toContain('garbage garbage');
  });

  it('names the inline setting, not its value, when it holds no key', () => {
    const err = configError(() => loadSigningKey(config({ signingKey: `${k.seed.toString('hex')}00` }), neverRead));
    expect(err.message).toContain('ledger.signingKey is not');
    expect(err.message).not.toContain(k.seed.toString('hex'));
  });

  it('falls back to the public half of the signing key', () => {
    expect(loadVerifyingKey(config({ signingKey: k.pkcs8Pem }), neverRead)?.keyId).toBe(expectedId);
    expect(loadVerifyingKey(config({ signingKeyFile: '/secrets/signing.pem' }), read)?.keyId).toBe(expectedId);
    expect(loadVerifyingKey(config({ signingKey: k.seed.toString('base64') }), neverRead)?.base64).toBe(
      k.raw.toString('base64'),
    );
  });

  it('prefers publicKey(File) to the signing key', () => {
    const both = { signingKey: k.pkcs8Pem };
    expect(loadVerifyingKey(config({ ...both, publicKey: other.raw.toString('hex') }), neverRead)?.keyId).toBe(
      keyIdOf(other.publicKey),
    );
    expect(loadVerifyingKey(config({ ...both, publicKeyFile: '/secrets/public.pem' }), read)?.keyId).toBe(
      keyIdOf(other.publicKey),
    );
  });

  it('reports a bad publicKey rather than falling back to the signing key', () => {
    const err = configError(() => loadVerifyingKey(config({ signingKey: k.pkcs8Pem, publicKey: 'nope' }), neverRead));
    expect(err.message).toContain('ledger.publicKey is not an Ed25519 public key');
  });

  it('propagates an error of the signing key it falls back to', () => {
    const err = configError(() =>
      loadVerifyingKey(config({ signingKey: 'x', signingKeyFile: '/secrets/signing.pem' }), neverRead),
    );
    expect(err.message).toBe('set ledger.signingKey or ledger.signingKeyFile, not both');
  });
});
