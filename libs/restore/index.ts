export { restoreSnapshot, RestoreError } from './restore';
export type { RestoreOptions, RestoreDeps, RestoreProgress } from './restore';
