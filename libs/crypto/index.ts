export { loadMasterKey, generateMasterKey, decodeKeyText, MASTER_KEY_BYTES } from './master-key';
export { readKeyFile, type ReadFile } from './key-file';
export { RepositoryKeys, REPOSITORY_ID_BYTES } from './repository-keys';
export { sealEnvelope, openEnvelope, ENVELOPE_OVERHEAD } from './envelope';
export { EncryptedObjectStore, PLAINTEXT_PREFIXES } from './encrypted-object-store';
export {
  openRepository,
  initRepositoryKeys,
  readKeyCheckObject,
  KEY_CHECK_OBJECT,
  DATA_PREFIXES,
  type KeyCheckObject,
  type OpenedRepository,
} from './key-check';
export { RepositoryKeyError, RepositoryKeysInvalidError, ObjectDecryptError } from './errors';
