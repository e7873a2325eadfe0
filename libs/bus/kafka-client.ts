import { Kafka, logLevel, type KafkaConfig, type LogEntry } from 'kafkajs';
import type { BackstreamConfig } from '../config';
import type { Logger } from '../log';
import { registerBatchCodecs } from './compression';

const LEVEL_NAMES: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

export interface KafkaClientOptions {
  /** Appended to kafka.clientId so brokers can tell the services apart. */
  clientSuffix: string;
  logger?: Logger;
  /** Retries of kafkajs' own connection logic; 0 for probes that must answer fast. */
  retries?: number;
}

/** Builds the one kafkajs client of a process from the shared kafka settings. */
export function createKafka(config: BackstreamConfig['kafka'], options: KafkaClientOptions): Kafka {
  const { logger } = options;
  registerBatchCodecs(config.maxUncompressedBatchBytes);
  const kafkaConfig: KafkaConfig = {
    clientId: `${config.clientId}-${options.clientSuffix}`,
    brokers: config.brokers,
    connectionTimeout: config.connectionTimeoutMs,
    requestTimeout: config.requestTimeoutMs,
    ssl: config.ssl,
    retry: { retries: options.retries ?? 8, initialRetryTime: 200, maxRetryTime: 5000 },
    // kafkajs logs through our logger (JSON on stderr) or not at all.
    logLevel: logger ? logLevel.WARN : logLevel.NOTHING,
    logCreator: () => (entry: LogEntry) => {
      const level = LEVEL_NAMES[entry.level] ?? 'info';
      const { message, ...rest } = entry.log;
      logger?.[level]({ kafkajs: entry.namespace, ...rest }, message);
    },
  };
  if (config.sasl.mechanism !== '') {
    kafkaConfig.sasl = {
      mechanism: config.sasl.mechanism,
      username: config.sasl.username,
      password: config.sasl.password,
    } as KafkaConfig['sasl'];
  }
  return new Kafka(kafkaConfig);
}
