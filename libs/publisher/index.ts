export { ChangePublisher, DEFAULT_INLINE_LIMIT, stagingPrefixOf } from './change-publisher';
export type {
  ChangeInput,
  ChangeKey,
  ChangePublisherOptions,
  ChangeTime,
  DeleteOptions,
  PublishedChange,
  UpsertOptions,
} from './change-publisher';
export { connectChangePublisher } from './connect';
export type { ConnectOptions, ConnectedChangePublisher } from './connect';
export { PublishError } from './errors';
