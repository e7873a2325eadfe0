/**
 * The mode a restored file or directory gets. Owners are not recorded, so the restored
 * entry belongs to whoever runs the restore (often root): setuid and setgid are never
 * recreated, nor sticky on a file (meaningless on Linux). A directory keeps its sticky
 * bit, which only restricts who may delete in it. `dropped` says whether bits were removed.
 */
export function restorableMode(kind: 'file' | 'dir', mode: number): { mode: number; dropped: boolean } {
  const requested = mode & 0o7777;
  const allowed = requested & (kind === 'dir' ? 0o1777 : 0o777);
  return { mode: allowed, dropped: allowed !== requested };
}
