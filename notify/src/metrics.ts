import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';

/** The notification server's metrics (`GET /metrics`, Prometheus text). One registry per server. */
export class NotifyMetrics {
  readonly registry = new Registry();
  readonly records = new Counter({
    name: 'bv_notify_records_total',
    help: 'Records the feed read from Kafka, by topic',
    labelNames: ['topic'],
    registers: [this.registry],
  });
  readonly skipped = new Counter({
    name: 'bv_notify_records_skipped_total',
    help: 'Records of a subscribed topic that are no notification, by reason',
    labelNames: ['topic', 'reason'],
    registers: [this.registry],
  });
  readonly sent = new Counter({
    name: 'bv_notify_notifications_sent_total',
    help: 'Notifications sent to clients, by kind',
    labelNames: ['kind'],
    registers: [this.registry],
  });
  readonly resumes = new Counter({
    name: 'bv_notify_resumes_total',
    help: 'Subscriptions resumed from a token, by where the missed notifications came from (buffer or kafka)',
    labelNames: ['source'],
    registers: [this.registry],
  });
  readonly refused = new Counter({
    name: 'bv_notify_connections_refused_total',
    help: 'Connections closed by the server, by error code',
    labelNames: ['code'],
    registers: [this.registry],
  });
  readonly sessions = new Gauge({
    name: 'bv_notify_sessions',
    help: 'Open WebSocket connections',
    registers: [this.registry],
  });
  readonly buffered = new Gauge({
    name: 'bv_notify_replay_buffer_entries',
    help: 'Notifications held in the in-memory replay buffer',
    registers: [this.registry],
  });
  readonly fetchErrors = new Counter({
    name: 'bv_notify_fetch_errors_total',
    help: 'Failed Kafka fetches of the feed (each retried with backoff)',
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'bv_notify_' });
  }
}
