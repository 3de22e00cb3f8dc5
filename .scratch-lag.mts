import { loadPlatformConfig } from '@bitvelocity/core';
import { Admin } from '@platformatic/kafka';
const admin = new Admin({ clientId: 'x', bootstrapBrokers: loadPlatformConfig().kafka.bootstrapServers });
for (const [group, topic] of [['bv.job.order-streams', 'ecommerce.order'], ['bv.job.product-metrics', 'analytics.order_lines'], ['bv.job.lake-gold', 'analytics.orders_per_product_1m'], ['bv.job.lake-bronze', 'ecommerce.order']]) {
  const md = await admin.metadata({ topics: [topic] });
  const n = md.topics.get(topic)?.partitionsCount ?? 0;
  const ends = await admin.listOffsets({ topics: [{ name: topic, partitions: Array.from({ length: n }, (_, partitionIndex) => ({ partitionIndex, timestamp: -1n })) }] });
  const committed = await admin.listConsumerGroupOffsets({ groups: [{ groupId: group, topics: [{ name: topic, partitionIndexes: Array.from({ length: n }, (_, i) => i) }] }] });
  let lag = 0n;
  for (const p of ends[0]?.partitions ?? []) { const c = committed[0]?.topics[0]?.partitions.find((x) => x.partitionIndex === p.partitionIndex)?.committedOffset ?? 0n; lag += p.offset - (c < 0n ? 0n : c); }
  console.log(group, topic, 'lag', lag.toString());
}
await admin.close();
