import { createHash } from 'node:crypto';
import type { LedgerRecord } from '../events';
import { LedgerSigningKey } from './signing';

/** Fixtures of the ledger and audit unit tests: commit records and a fixed signing key. */
export const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');
/** A 32-hex-digit snapshot id derived from a name. */
export const idOf = (name: string): string => createHash('md5').update(name).digest('hex');
export const T0 = Date.parse('2024-05-01T00:00:00.000Z');
export const iso = (ms: number): string => new Date(ms).toISOString();

/** RFC 8032 §7.1 test 1 secret key: a fixed signer, so that determinism is checked across runs too. */
export const TEST_SEED_HEX = '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60';
export const testSigner = LedgerSigningKey.parse(TEST_SEED_HEX, 'test key');

/** The commit record of snapshot `snapshotId`, the i-th of a test ledger. */
export function snapshotCommit(
  snapshotId: string,
  i: number,
  manifestSha256: string,
  parent: string | null = null,
): LedgerRecord {
  return {
    type: 'snapshot-commit',
    record: {
      snapshotId,
      source: 'host-1:/data',
      host: 'host-1',
      root: '/data',
      parent,
      startedAt: iso(T0 + i * 1000),
      finishedAt: iso(T0 + i * 1000 + 400),
      chunkCount: i,
      files: i,
      dirs: 1,
      symlinks: 0,
      totalBytes: 1000 * i,
      sentBytes: 10 * i,
      committedAt: iso(T0 + i * 1000 + 500),
      manifest: { key: `snapshots/${snapshotId}.json`, sha256: manifestSha256, size: 100 + i },
    },
  };
}

/** The commit record of change batch `snapshotId`, the i-th of a test ledger (offsets 10i … 10i+9). */
export function changesCommit(snapshotId: string, i: number, manifestSha256: string): LedgerRecord {
  return {
    type: 'changes-commit',
    record: {
      snapshotId,
      topic: 'orders',
      partition: 0,
      fromOffset: String(i * 10),
      toOffset: String(i * 10 + 9),
      versions: 10,
      sources: ['orders-db'],
      minTsMs: T0 + i,
      maxTsMs: T0 + i + 9,
      committedAt: iso(T0 + i * 1000 + 500),
      manifest: { key: `snapshots/${snapshotId}.json`, sha256: manifestSha256, size: 100 + i },
    },
  };
}
