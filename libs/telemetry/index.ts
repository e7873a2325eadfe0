export { startTelemetry, type Telemetry, type TelemetryOptions } from './sdk';
export {
  backstreamMetrics,
  handledMessagesCounter,
  recordConsumerLag,
  recordDedup,
  resetMetrics,
  type BackstreamMetrics,
} from './metrics';
export {
  inInternalSpan,
  linksOf,
  processMessage,
  sendMessage,
  traceContextOf,
  tracer,
  withTraceContext,
  type ConsumedMessage,
  type SendOptions,
} from './messaging';
export { setTracingEnabled, tracingEnabled } from './state';
export { traceFields } from './log-fields';
export { instrumentS3Client } from './s3';
