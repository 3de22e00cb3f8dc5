import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';

/** The bridge's Prometheus metrics; one registry per bridge (no global state). */
export class TelemetryMetrics {
  readonly registry = new Registry();
  readonly readings = new Counter({
    name: 'bv_telemetry_readings_total',
    help: 'Readings written to iot.device, by source (mqtt, http)',
    labelNames: ['source'] as const,
    registers: [this.registry],
  });
  readonly deadLetters = new Counter({
    name: 'bv_telemetry_dead_letters_total',
    help: 'Readings sent to iot.device.dlq, by source and code',
    labelNames: ['source', 'code'] as const,
    registers: [this.registry],
  });
  readonly unacked = new Gauge({
    name: 'bv_telemetry_mqtt_unacked',
    help: 'MQTT messages received and not yet acknowledged (waiting for Kafka)',
    registers: [this.registry],
  });
  readonly mqttConnected = new Gauge({
    name: 'bv_telemetry_mqtt_connected',
    help: '1 while the bridge is connected to the MQTT broker',
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'bv_telemetry_' });
  }
}
