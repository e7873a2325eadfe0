import type { Admin } from 'kafkajs';
import type { BackstreamConfig } from '../config';
import { topicDefinitions, type TopicDefinition } from './topics';

export interface TopicReport {
  topic: string;
  action: 'created' | 'updated' | 'unchanged';
  /** What differs from the definition and was not changed (partitions only grow by hand). */
  warnings: string[];
}

const RESOURCE_TOPIC = 2;

/**
 * Creates missing topics and brings the configs of existing ones to their definitions.
 * Safe to run any number of times, from any number of processes at once.
 */
export async function ensureTopics(admin: Admin, config: BackstreamConfig): Promise<TopicReport[]> {
  const definitions = topicDefinitions(config);
  const existing = new Set(await admin.listTopics());
  const missing = definitions.filter((d) => !existing.has(d.name));
  const reports: TopicReport[] = [];
  if (missing.length > 0) {
    try {
      await admin.createTopics({
        waitForLeaders: true,
        topics: missing.map((d) => ({
          topic: d.name,
          numPartitions: d.partitions,
          replicationFactor: config.topics.replicationFactor,
          configEntries: Object.entries(d.configs).map(([name, value]) => ({ name, value })),
        })),
      });
    } catch (err) {
      // Another process created them in between: fine, the configs are checked below.
      if ((err as { type?: string }).type !== 'TOPIC_ALREADY_EXISTS') throw err;
    }
    for (const d of missing) reports.push({ topic: d.name, action: 'created', warnings: [] });
  }
  const present = definitions.filter((d) => existing.has(d.name));
  if (present.length > 0) reports.push(...(await reconcile(admin, present)));
  return reports;
}

async function reconcile(admin: Admin, definitions: TopicDefinition[]): Promise<TopicReport[]> {
  const described = await admin.describeConfigs({
    includeSynonyms: false,
    resources: definitions.map((d) => ({ type: RESOURCE_TOPIC, name: d.name, configNames: Object.keys(d.configs) })),
  });
  const metadata = await admin.fetchTopicMetadata({ topics: definitions.map((d) => d.name) });
  const reports: TopicReport[] = [];
  for (const d of definitions) {
    const actual = new Map(
      (described.resources.find((r) => r.resourceName === d.name)?.configEntries ?? []).map((e) => [
        e.configName,
        e.configValue,
      ]),
    );
    const differing = Object.entries(d.configs).filter(([name, value]) => actual.get(name) !== value);
    const warnings: string[] = [];
    const partitions = metadata.topics.find((t) => t.name === d.name)?.partitions.length ?? 0;
    if (partitions < d.partitions) {
      warnings.push(
        `has ${partitions} partitions, the definition ${d.partitions}: grow it with kafka-topics --alter if you need more instances`,
      );
    }
    if (differing.length > 0) {
      await admin.alterConfigs({
        validateOnly: false,
        resources: [
          {
            type: RESOURCE_TOPIC,
            name: d.name,
            configEntries: Object.entries(d.configs).map(([name, value]) => ({ name, value })),
          },
        ],
      });
    }
    reports.push({ topic: d.name, action: differing.length > 0 ? 'updated' : 'unchanged', warnings });
  }
  return reports;
}
