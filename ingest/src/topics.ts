import { AGGREGATE_TOPICS, deadLetterTopicOf, TELEMETRY_TOPIC } from '@bitvelocity/core';
import { type Admin, ConfigResourceTypes, IncrementalAlterConfigOperationTypes } from '@platformatic/kafka';

export interface TopicSpec {
  name: string;
  partitions: number;
  /** Kafka topic configs, e.g. retention.ms, cleanup.policy. */
  configs: Record<string, string>;
}

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * The declared topics: aggregate topics (keyed by aggregate id), the telemetry topic (device readings and the device
 * registry's events, keyed `<tenantId>:<deviceId>`), and their dead-letter topics.
 */
export function platformTopics(options: { partitions?: number; retentionDays?: number } = {}): TopicSpec[] {
  const partitions = options.partitions ?? 6;
  const retention = String((options.retentionDays ?? 7) * DAY_MS);
  return [...AGGREGATE_TOPICS, TELEMETRY_TOPIC].flatMap((name) => [
    { name, partitions, configs: { 'cleanup.policy': 'delete', 'retention.ms': retention } },
    // Dead letters are kept longer: someone has to look at them.
    {
      name: deadLetterTopicOf(name),
      partitions: 1,
      configs: { 'cleanup.policy': 'delete', 'retention.ms': String(30 * DAY_MS) },
    },
  ]);
}

export interface ProvisionReport {
  created: string[];
  partitionsIncreased: string[];
  unchanged: string[];
}

/**
 * Creates missing topics with their partitions and configs, raises the partition count of topics that have fewer
 * (never lowers it: that would reorder keys), and sets the declared configs on existing ones. Idempotent.
 */
export async function provisionTopics(admin: Admin, specs: TopicSpec[]): Promise<ProvisionReport> {
  const report: ProvisionReport = { created: [], partitionsIncreased: [], unchanged: [] };
  const existing = new Set(await admin.listTopics({ includeInternals: false }));
  for (const spec of specs) {
    const configs = Object.entries(spec.configs).map(([name, value]) => ({ name, value }));
    if (!existing.has(spec.name)) {
      await admin.createTopics({ topics: [spec.name], partitions: spec.partitions, replicas: 1, configs });
      report.created.push(spec.name);
      continue;
    }
    const metadata = await admin.metadata({ topics: [spec.name] });
    const current = metadata.topics.get(spec.name)?.partitionsCount ?? 0;
    if (current < spec.partitions) {
      await admin.createPartitions({ topics: [{ name: spec.name, count: spec.partitions }] });
      report.partitionsIncreased.push(spec.name);
    } else {
      report.unchanged.push(spec.name);
    }
    await admin.incrementalAlterConfigs({
      resources: [
        {
          resourceType: ConfigResourceTypes.TOPIC,
          resourceName: spec.name,
          configs: configs.map((c) => ({
            name: c.name,
            value: c.value,
            configOperation: IncrementalAlterConfigOperationTypes.SET,
          })),
        },
      ],
    });
  }
  return report;
}
