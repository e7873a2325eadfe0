export {
  snapshotManifestSchema,
  changeBatchManifestSchema,
  sha256Hex,
  writeSegment,
  buildManifest,
  buildChangeBatchManifest,
  writeManifest,
  readManifest,
  readChangeBatchManifest,
  fileEntries,
  changeVersions,
  readContentObject,
  joinFileParts,
  metadataDecoder,
  MAX_METADATA_OBJECT_BYTES,
} from './manifest';
export type { SnapshotManifest, ChangeBatchManifest, JoinedFile } from './manifest';
export { contentKeyProblem, snapshotIdOfManifestKey } from './object-keys';
export type { ContentKind } from './object-keys';
