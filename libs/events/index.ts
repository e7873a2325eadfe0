export * from './schemas';
export { topicDefinitions, topicName, consumerGroupId } from './topics';
export type { TopicDefinition, TopicRole, ConsumerService } from './topics';
export { ensureTopics } from './ensure-topics';
export type { TopicReport } from './ensure-topics';
export {
  HEADERS,
  encodeChunk,
  encodeJson,
  decodeChunk,
  decodeJson,
  decodeCommitIntent,
  decodeLedgerMessage,
  decodeLedgerRecord,
  headerString,
} from './codec';
export type { IncomingMessage, LedgerMessage, OutgoingMessage } from './codec';
export { deadLetter, deadLetterReason, DEAD_LETTER_HEADERS } from './dead-letter';
export type { DeadLetterOrigin } from './dead-letter';
