import pino, { type Logger } from 'pino';
import type { BackstreamConfig } from '../config';

export type { Logger } from 'pino';

/**
 * Structured JSON logs on stderr, so stdout stays free for a command's own output
 * (tables, JSON lines for scripts). One root logger a process; children add context.
 */
export function createLogger(level: BackstreamConfig['log']['level'], name: string): Logger {
  return pino({ name, level, base: { pid: process.pid } }, pino.destination({ fd: 2, sync: false }));
}
