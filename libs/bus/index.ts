export { createKafka } from './kafka-client';
export type { KafkaClientOptions } from './kafka-client';
export { createIdempotentProducer } from './producer';
export { EventPublisher } from './publisher';
export type { PublisherOptions, TopicCounters } from './publisher';
export { runStage } from './stage';
export type { StageOptions, StageOutput, RunningStage, StageStats } from './stage';
export { readTopic } from './topic-reader';
export type { TopicReader, TopicReaderOptions } from './topic-reader';
