export { runBackup, BackupFailedError } from './backup';
export type { BackupOptions, BackupDeps, BackupProgress, BackupResult } from './backup';
export { walkTree, compareTreePaths } from './walk';
export type { TreeEntry, SkippedEntry, WalkOptions } from './walk';
export { ParentCursor } from './parent-cursor';
export type { ParentFile } from './parent-cursor';
