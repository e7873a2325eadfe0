import type { BackstreamConfig } from '../config';
import { ConfigError } from '../errors';
import { testSigner } from './test-fixtures';
import { UNVERIFIED_WARNING, loadLedgerTrust } from './trust';

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
const neverRead = (): string => {
  throw new Error('no file read expected');
};

describe('loadLedgerTrust', () => {
  it('without a key refuses with a ConfigError naming the settings and the development flag', () => {
    let err: unknown;
    try {
      loadLedgerTrust(config(), () => undefined, neverRead);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const text = `${(err as ConfigError).message} ${(err as ConfigError).hint}`;
    for (const name of ['ledger.publicKey', 'ledger.publicKeyFile', 'ledger.signingKey', 'ledger.allowUnsigned']) {
      expect(text).toContain(name);
    }
  });

  it('with ledger.allowUnsigned runs unverified and warns', () => {
    const warnings: string[] = [];
    expect(loadLedgerTrust(config({ allowUnsigned: true }), (w) => warnings.push(w), neverRead)).toEqual({
      unverified: true,
    });
    expect(warnings).toEqual([UNVERIFIED_WARNING]);
  });

  it('uses the public key, or the signing key, and then ignores the flag', () => {
    const byPublic = loadLedgerTrust(config({ publicKey: testSigner.verifying.base64, allowUnsigned: true }), () => {
      throw new Error('no warning expected');
    });
    expect('key' in byPublic && byPublic.key.keyId).toBe(testSigner.verifying.keyId);
    const bySigning = loadLedgerTrust(config({ signingKey: testSigner.exportSeed() }), () => undefined);
    expect('key' in bySigning && bySigning.key.keyId).toBe(testSigner.verifying.keyId);
  });
});
