import type { ChangeVersionEvent } from '../events';

/**
 * One committed version of one key: a line of a change-batch manifest whose offset its
 * ledger record commits, with where it came from. It holds references to the payload's
 * blocks (chunks), never the payload's bytes.
 */
export type CommittedVersion = Omit<ChangeVersionEvent, 'snapshotId'> & {
  /** The change topic partition the record was read from (`offset` is its offset there). */
  topic: string;
  partition: number;
  /** The change batch that committed it, and the ledger offset of its commit record. */
  batchId: string;
  ledgerOffset: string;
};

/** Versions are kept per (source, key): the one map key of both. */
export function versionKey(v: { source: string; key: string }): string {
  return `${v.source}\u0000${v.key}`;
}

/** Order of output: by source, then by key, both by UTF-16 code units (deterministic, locale-free). */
export function compareKeys(a: { source: string; key: string }, b: { source: string; key: string }): number {
  if (a.source !== b.source) return a.source < b.source ? -1 : 1;
  if (a.key !== b.key) return a.key < b.key ? -1 : 1;
  return 0;
}
