import type { ObjectRef } from '../events';
import { fileListKey } from '../store';

/** snapshots/<snapshot id>.json, the one shape of a manifest key (libs/store snapshotManifestKey). */
const MANIFEST_KEY = /^snapshots\/([0-9a-f]{32})\.json$/;

/** What a reference read from the ledger or a manifest may name. */
export type ContentKind = 'manifest' | 'segment';

/**
 * Why `ref` may not be read as a `kind`, or undefined when it may: a manifest only under
 * `snapshots/<snapshot id>.json`, a segment only at `filelists/<its sha256>`. Anything else
 * — `staging/`, `ledger/`, `keys/`, which an encrypted store keeps in plaintext, or any
 * other name — would let whoever can write there (a publisher, a ledger-intents writer
 * whose intent the sequencer signs) hand readers a manifest of their own.
 */
export function contentKeyProblem(ref: ObjectRef, kind: ContentKind): string | undefined {
  if (kind === 'manifest') {
    return MANIFEST_KEY.test(ref.key)
      ? undefined
      : `${ref.key} is not a manifest key (snapshots/<snapshot id>.json): refused`;
  }
  const expected = fileListKey(ref.sha256);
  return ref.key === expected ? undefined : `${ref.key} is not a file-list segment key (${expected}): refused`;
}

/** The snapshot id a manifest key names, or undefined for a key of another shape. */
export function snapshotIdOfManifestKey(key: string): string | undefined {
  return MANIFEST_KEY.exec(key)?.[1];
}
