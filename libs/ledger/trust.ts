import type { BackstreamConfig } from '../config';
import { ConfigError } from '../errors';
import type { LedgerTrust } from './follower';
import { loadVerifyingKey } from './signing';

/** What a process that acts on the ledger logs when ledger.allowUnsigned lets it run without a key. */
export const UNVERIFIED_WARNING =
  'ledger.allowUnsigned is set and no ledger key is configured: ledger signatures are NOT verified, so anyone who can write to the ledger topic or the ledger/ mirror decides what this process believes (development only)';

/**
 * The trust a ledger reader runs with: the public key (ledger.publicKey(File), or the public
 * half of ledger.signingKey(File)). Without one it refuses to run (a ConfigError: exit 2)
 * unless ledger.allowUnsigned is set, and then `warn` is told that nothing is verified.
 */
export function loadLedgerTrust(
  config: BackstreamConfig['ledger'],
  warn: (message: string) => void,
  read?: (path: string) => string,
): LedgerTrust {
  const key = loadVerifyingKey(config, read);
  if (key) return { key };
  if (config.allowUnsigned) {
    warn(UNVERIFIED_WARNING);
    return { unverified: true };
  }
  throw new ConfigError(
    'no ledger key: set ledger.publicKey or ledger.publicKeyFile (or ledger.signingKey / ledger.signingKeyFile) so that only records the ledger key signed are believed',
    {
      key: 'ledger.publicKey',
      hint: '`backstream ledger keygen` makes a key pair; for development only, ledger.allowUnsigned=true (BACKSTREAM_LEDGER_ALLOW_UNSIGNED) reads without checking',
    },
  );
}
