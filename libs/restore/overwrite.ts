import type { Stats } from 'node:fs';
import type { FileEvent } from '../events';

/** What restore does with an entry already in the target (named after restic's --overwrite). */
export const OVERWRITE_POLICIES = ['always', 'if-changed', 'never'] as const;
export type OverwritePolicy = (typeof OVERWRITE_POLICIES)[number];

type Kind = FileEvent['kind'] | 'special file';

export function kindOf(st: Stats): Kind {
  return st.isDirectory() ? 'dir' : st.isFile() ? 'file' : st.isSymbolicLink() ? 'symlink' : 'special file';
}

const article = (kind: Kind): string =>
  kind === 'dir' ? 'a directory' : kind === 'file' ? 'a file' : kind === 'symlink' ? 'a symlink' : 'a special file';

/**
 * Why an existing entry that differs from the snapshot's stays, or undefined when it may be
 * replaced: `never` keeps everything; `if-changed` (the default) replaces an entry of the
 * same kind only; `always` also replaces one of another kind. A directory is never replaced
 * (`always` removes an empty one only: the caller checks), and nothing is deleted that the
 * snapshot does not have.
 */
export function keepReason(policy: OverwritePolicy, existing: Kind, wanted: FileEvent['kind']): string | undefined {
  const what = `${article(existing)} where the snapshot has ${article(wanted)}`;
  if (policy === 'never') return `${article(existing)} is there already (--overwrite never)`;
  if (existing === wanted) return undefined;
  if (policy === 'if-changed')
    return `${what} (--overwrite always replaces it${existing === 'dir' ? ' if it is empty' : ''})`;
  return undefined;
}

/** The reason for a directory `always` could not remove. */
export const NOT_EMPTY = 'a directory that is not empty, where the snapshot has no directory';
