export {
  applyOutboxConnector,
  defaultOutboxConnector,
  outboxConnectorStatus,
  restartOutboxConnector,
} from './connector.js';
export { type BridgeOptions, READINGS_SUBSCRIPTION, TelemetryBridge } from './telemetry/bridge.js';
export { createTelemetryHttp, type TelemetryHttpOptions } from './telemetry/http.js';
export { TELEMETRY_DLQ_HEADERS, TELEMETRY_DLQ_TOPIC, TelemetryKafkaWriter } from './telemetry/kafka-writer.js';
export { TelemetryMetrics } from './telemetry/metrics.js';
export { DeviceRateLimiter, type RateLimit } from './telemetry/rate-limit.js';
export { type DeviceReading, deviceOfTopic, readingsOf, TELEMETRY_PRODUCER } from './telemetry/readings.js';
export { startTelemetryService, type TelemetryService, type TelemetryServiceOptions } from './telemetry/service.js';
export { deviceIdOf, type FleetOptions, type FleetResult, fleetReading, runFleet } from './telemetry/simulator.js';
export { platformTopics, provisionTopics, type TopicSpec, topicWithDeadLetters } from './topics.js';
