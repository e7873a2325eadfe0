export {
  snapshotManifestSchema,
  sha256Hex,
  writeSegment,
  buildManifest,
  writeManifest,
  readManifest,
  fileEntries,
  readContentObject,
} from './manifest';
export type { SnapshotManifest } from './manifest';
