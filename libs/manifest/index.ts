export {
  snapshotManifestSchema,
  sha256Hex,
  writeSegment,
  buildManifest,
  writeManifest,
  readManifest,
  fileEntries,
  readContentObject,
  joinFileParts,
  metadataDecoder,
  MAX_METADATA_OBJECT_BYTES,
} from './manifest';
export type { SnapshotManifest, JoinedFile } from './manifest';
