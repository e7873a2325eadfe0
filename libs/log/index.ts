import pino, { type Logger } from 'pino';
import type { BackstreamConfig } from '../config';
import { traceFields } from '../telemetry';

export type { Logger } from 'pino';

/**
 * Structured JSON logs on stderr, so stdout stays free for a command's own output
 * (tables, JSON lines for scripts). One root logger a process; children add context.
 * A line written while a span is active carries its trace_id and span_id, so logs and
 * traces join up in whatever backend holds both.
 */
export function createLogger(level: BackstreamConfig['log']['level'], name: string): Logger {
  return pino(
    { name, level, base: { pid: process.pid }, mixin: traceFields },
    pino.destination({ fd: 2, sync: false }),
  );
}
