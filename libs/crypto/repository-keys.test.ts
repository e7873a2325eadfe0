import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { GearTable } from '../chunking/gear';
import { BlockError } from '../errors';
import { ENVELOPE_OVERHEAD, HEADER_BYTES, openEnvelope, sealEnvelope } from './envelope';
import { ObjectDecryptError } from './errors';
import { RepositoryKeys } from './repository-keys';

const MASTER = Buffer.alloc(32, 0x5a);
const REPO_A = Buffer.alloc(16, 0xa1);
const REPO_B = Buffer.alloc(16, 0xb2);
const KEY = 'snapshots/0123456789abcdef0123456789abcdef.json';

function decryptError(fn: () => unknown, key: string): ObjectDecryptError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ObjectDecryptError);
    expect(err).toBeInstanceOf(BlockError);
    const e = err as ObjectDecryptError;
    expect(e.code).toBe('OBJECT_DECRYPT_FAILED');
    expect(e.retriable).toBe(false);
    expect(e.key).toBe(key);
    expect(e.message).toContain(key);
    return e;
  }
  throw new Error('expected an ObjectDecryptError, nothing was thrown');
}

describe('RepositoryKeys seal/open', () => {
  const keys = RepositoryKeys.derive(MASTER, REPO_A);

  it.each([0, 1, 15, 16, 17, 4096, 1024 * 1024 + 3])('round-trips %i bytes', (n) => {
    const plaintext = randomBytes(n);
    const sealed = keys.seal(KEY, plaintext);
    expect(sealed.length).toBe(n + ENVELOPE_OVERHEAD);
    // Buffer.equals: jest's toEqual walks a 1 MiB buffer element by element (seconds).
    expect(keys.open(KEY, sealed).equals(plaintext)).toBe(true);
  });

  it('writes the header: BSE, version 1, AES-256-GCM, then 24 bytes of salt', () => {
    const sealed = keys.seal(KEY, Buffer.from('x'));
    expect(sealed.subarray(0, 5)).toEqual(Buffer.from([0x42, 0x53, 0x45, 1, 1]));
    expect(HEADER_BYTES).toBe(29);
    expect(ENVELOPE_OVERHEAD).toBe(45);
  });

  it('seals the same plaintext to different bytes every time', () => {
    const plaintext = Buffer.from('BACKSTREAM-PLAINTEXT-MARKER'.repeat(10));
    const one = keys.seal(KEY, plaintext);
    const two = keys.seal(KEY, plaintext);
    expect(one.equals(two)).toBe(false);
    expect(one.subarray(5, HEADER_BYTES).equals(two.subarray(5, HEADER_BYTES))).toBe(false);
    expect(keys.open(KEY, one)).toEqual(keys.open(KEY, two));
  });

  it('refuses an object with any single byte flipped, header, body or tag', () => {
    const sealed = keys.seal(KEY, Buffer.from('BACKSTREAM-PLAINTEXT-MARKER'));
    for (let at = 0; at < sealed.length; at++) {
      const bad = Buffer.from(sealed);
      bad[at] = (bad[at] as number) ^ 0x01;
      decryptError(() => keys.open(KEY, bad), KEY);
    }
  });

  it('refuses truncated and extended objects', () => {
    const sealed = keys.seal(KEY, Buffer.from('some plaintext'));
    for (const bad of [
      sealed.subarray(0, sealed.length - 1),
      sealed.subarray(0, ENVELOPE_OVERHEAD - 1),
      Buffer.alloc(0),
      Buffer.concat([sealed, Buffer.from([0])]),
    ]) {
      decryptError(() => keys.open(KEY, bad), KEY);
    }
  });

  it('refuses an object sealed under another logical key', () => {
    const sealed = keys.seal('snapshots/a.json', Buffer.from('manifest a'));
    const err = decryptError(() => keys.open('snapshots/b.json', sealed), 'snapshots/b.json');
    expect(err.message).toContain('authentication failed');
  });

  it('refuses a plaintext block where an encrypted object belongs', () => {
    const block = Buffer.concat([Buffer.from('BSB'), Buffer.from([1, 0]), Buffer.from('raw chunk bytes')]);
    const err = decryptError(() => keys.open(KEY, block), KEY);
    expect(err.message).toContain('not an encrypted object');
  });

  it('refuses unknown versions and algorithms', () => {
    const sealed = keys.seal(KEY, Buffer.from('x'));
    const v2 = Buffer.from(sealed);
    v2[3] = 2;
    expect(decryptError(() => keys.open(KEY, v2), KEY).message).toContain('version 2');
    const alg = Buffer.from(sealed);
    alg[4] = 9;
    expect(decryptError(() => keys.open(KEY, alg), KEY).message).toContain('algorithm 9');
  });

  it('does not open objects of another repository under the same master key, nor of another master key', () => {
    const sealed = keys.seal(KEY, Buffer.from('x'));
    decryptError(() => RepositoryKeys.derive(MASTER, REPO_B).open(KEY, sealed), KEY);
    decryptError(() => RepositoryKeys.derive(Buffer.alloc(32, 0x5b), REPO_A).open(KEY, sealed), KEY);
  });

  it('agrees with the envelope functions under the derived key (a keyed envelope, nothing hidden)', () => {
    const encryptionKey = randomBytes(32);
    const sealed = sealEnvelope(encryptionKey, KEY, Buffer.from('abc'));
    expect(openEnvelope(encryptionKey, KEY, sealed)).toEqual(Buffer.from('abc'));
    decryptError(() => openEnvelope(randomBytes(32), KEY, sealed), KEY);
  });
});

describe('RepositoryKeys derivation', () => {
  const hash = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

  it('names objects deterministically per repository, differently across repositories and master keys', () => {
    const a = RepositoryKeys.derive(MASTER, REPO_A);
    const name = a.objectName(hash);
    expect(name).toMatch(/^[0-9a-f]{64}$/);
    expect(name).not.toBe(hash);
    expect(RepositoryKeys.derive(MASTER, REPO_A).objectName(hash)).toBe(name);
    expect(RepositoryKeys.derive(MASTER, REPO_B).objectName(hash)).not.toBe(name);
    expect(RepositoryKeys.derive(Buffer.alloc(32, 0x5b), REPO_A).objectName(hash)).not.toBe(name);
  });

  it('derives a 32-byte gear key per repository that GearTable takes', () => {
    const a = RepositoryKeys.derive(MASTER, REPO_A).gearKey;
    const b = RepositoryKeys.derive(MASTER, REPO_B).gearKey;
    expect(a.length).toBe(32);
    expect(a.equals(b)).toBe(false);
    expect(GearTable.fromKey(a).values()).not.toEqual(GearTable.fromKey(b).values());
    expect(RepositoryKeys.derive(MASTER, REPO_A).gearKey).toEqual(a);
  });

  it('keeps its derived keys out of inspect() and JSON (loggers)', () => {
    const keys = RepositoryKeys.derive(MASTER, REPO_A);
    const gear = keys.gearKey.toString('hex');
    const shown = `${inspect(keys, { depth: 5, showHidden: true })} ${JSON.stringify(keys)}`;
    expect(shown).toContain(keys.repositoryId);
    expect(shown).not.toContain(gear);
    expect(shown).not.toMatch(/[0-9a-f]{2}( [0-9a-f]{2}){8}/); // no Buffer dump
  });

  it('checks keys: its own check matches, another repository or key does not', () => {
    const keys = RepositoryKeys.derive(MASTER, REPO_A);
    expect(keys.keyCheck()).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    expect(keys.matchesKeyCheck(keys.keyCheck())).toBe(true);
    expect(RepositoryKeys.derive(MASTER, REPO_B).matchesKeyCheck(keys.keyCheck())).toBe(false);
    expect(RepositoryKeys.derive(Buffer.alloc(32, 1), REPO_A).matchesKeyCheck(keys.keyCheck())).toBe(false);
    expect(keys.matchesKeyCheck('')).toBe(false);
    expect(keys.matchesKeyCheck('AAAA')).toBe(false);
  });

  it('refuses a master key or repository id of the wrong length', () => {
    expect(() => RepositoryKeys.derive(Buffer.alloc(31), REPO_A)).toThrow(/32 bytes, got 31/);
    expect(() => RepositoryKeys.derive(MASTER, Buffer.alloc(8))).toThrow(/16 bytes, got 8/);
  });
});
