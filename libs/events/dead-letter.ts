import type { IHeaders } from 'kafkajs';
import { headerString, type IncomingMessage } from './codec';

/** Headers a dead letter gains on top of the original message's own. */
export const DEAD_LETTER_HEADERS = {
  reason: 'bs-dlq-reason',
  topic: 'bs-dlq-topic',
  partition: 'bs-dlq-partition',
  offset: 'bs-dlq-offset',
  service: 'bs-dlq-service',
  at: 'bs-dlq-at',
} as const;

export interface DeadLetterOrigin {
  topic: string;
  partition: number;
  offset: string;
  service: string;
}

/**
 * The original message, byte for byte (key, value, headers), plus where it came from and
 * why it was rejected — enough to inspect it with kcat and to re-publish it once fixed.
 */
export function deadLetter(
  message: IncomingMessage,
  origin: DeadLetterOrigin,
  reason: string,
): { key: Buffer | null; value: Buffer | null; headers: IHeaders } {
  return {
    key: message.key ?? null,
    value: message.value,
    headers: {
      ...(message.headers ?? {}),
      [DEAD_LETTER_HEADERS.reason]: reason.slice(0, 2000),
      [DEAD_LETTER_HEADERS.topic]: origin.topic,
      [DEAD_LETTER_HEADERS.partition]: String(origin.partition),
      [DEAD_LETTER_HEADERS.offset]: origin.offset,
      [DEAD_LETTER_HEADERS.service]: origin.service,
      [DEAD_LETTER_HEADERS.at]: new Date().toISOString(),
    },
  };
}

export function deadLetterReason(headers: IHeaders | undefined): string | undefined {
  return headerString(headers, DEAD_LETTER_HEADERS.reason);
}
