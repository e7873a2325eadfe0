import { isSpanContextValid, trace } from '@opentelemetry/api';
import { tracingEnabled } from './state';

/**
 * trace_id / span_id of the active span, for every log line written inside it. A fresh
 * object each call: pino merges the line's fields into what a mixin returns.
 */
export function traceFields(): Record<string, string> {
  if (!tracingEnabled()) return {};
  const span = trace.getActiveSpan();
  if (!span) return {};
  const ctx = span.spanContext();
  if (!isSpanContextValid(ctx)) return {};
  return { trace_id: ctx.traceId, span_id: ctx.spanId, trace_flags: `0${ctx.traceFlags.toString(16)}`.slice(-2) };
}
