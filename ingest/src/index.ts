export {
  type ApplyReport,
  applyOutboxConnector,
  type ConnectorStatus,
  defaultOutboxConnector,
  type OutboxConnectorOptions,
  outboxConnectorConfig,
  outboxConnectorStatus,
  restartOutboxConnector,
} from './connector.js';
export { type ProvisionReport, platformTopics, provisionTopics, type TopicSpec } from './topics.js';
