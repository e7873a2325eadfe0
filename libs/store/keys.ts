/**
 * The layout of a repository in the bucket (below s3.prefix):
 *   blocks/<aa>/<sha256>            one chunk, content-addressed (see libs/blocks)
 *   filelists/<sha256>              a segment of a snapshot's file list, content-addressed
 *   snapshots/<snapshot-id>.json    a snapshot manifest, written once by the archiver
 */
export function blockKey(hash: string): string {
  return `blocks/${hash.slice(0, 2)}/${hash}`;
}

export function fileListKey(sha256: string): string {
  return `filelists/${sha256}`;
}

export function snapshotManifestKey(snapshotId: string): string {
  return `snapshots/${snapshotId}.json`;
}
