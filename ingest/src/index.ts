export {
  applyOutboxConnector,
  defaultOutboxConnector,
  outboxConnectorStatus,
  restartOutboxConnector,
} from './connector.js';
