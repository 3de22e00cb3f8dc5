/** The Kafka topics the platform's aggregates publish to: one per aggregate, named like the outbox aggregate_type. */
export const AGGREGATE_TOPICS = ['ecommerce.product', 'ecommerce.customer', 'ecommerce.order'] as const;
export type AggregateTopic = (typeof AGGREGATE_TOPICS)[number];

/**
 * The dead-letter topic convention every consumer shares: records a job cannot decode or validate go to
 * `<topic>.dlq` with the reason and their source coordinates in headers, never dropped.
 */
export function deadLetterTopicOf(topic: string): string {
  return `${topic}.dlq`;
}
