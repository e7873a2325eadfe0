export { restoreSnapshot } from './restore';
export type { RestoreOptions, RestoreDeps, RestoreProgress } from './restore';
export { RestoreError } from './restore-error';
export { OVERWRITE_POLICIES, type OverwritePolicy } from './overwrite';
