export {
  CHANGE_EVENT_VERSION,
  CHANGE_LIMITS,
  CHANGE_EVENT_SCHEMA_FILE,
  DEFAULT_CONTENT_TYPE,
  STAGING_PREFIX,
  changeEventSchema,
  changeEventJsonSchema,
  changeRefSchema,
} from './schema';
export type { ChangeEvent, ChangeRef } from './schema';
export { CHANGE_HEADERS, canonicalKey, parseChangeRecord } from './parse';
export type { ParseOptions, RawChangeMessage } from './parse';
export { changeId, inlinePayload } from './record';
export type {
  Change,
  ChangeFormat,
  ChangePayload,
  ChangeRecord,
  InlinePayload,
  RecordCoordinates,
  RefPayload,
} from './record';
export { renderDebezium, renderNative } from './render';
export type { DebeziumRenderOptions } from './render';
export { ExactNumber, canonicalJson, parseJson } from './json';
export type { JsonValue } from './json';
