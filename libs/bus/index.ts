export { createKafka } from './kafka-client';
export type { KafkaClientOptions } from './kafka-client';
