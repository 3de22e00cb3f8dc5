import { createLogger, EventSchemaRegistry, errorMessage, type Logger, type PlatformConfig } from '@bitvelocity/core';
import mqtt, { type IPublishPacket, type MqttClient, type Packet } from 'mqtt';
import { TelemetryKafkaWriter, type WriterOptions } from './kafka-writer.js';
import { TelemetryMetrics } from './metrics.js';
import { DeviceRateLimiter, type RateLimit } from './rate-limit.js';
import {
  type DeviceAddress,
  deviceKey,
  deviceOfTopic,
  parseBody,
  type ReadingRecord,
  type ReadingReject,
  readingsOf,
} from './readings.js';
import { TraceIds } from './trace-ids.js';

/** Every device's readings topic; `+` is one level: devices/<tenant>/<deviceId>/readings. */
export const READINGS_SUBSCRIPTION = 'devices/+/+/readings';

export interface BridgeOptions {
  mqtt: NonNullable<PlatformConfig['mqtt']>;
  kafka: Pick<WriterOptions, 'bootstrapServers' | 'maxBatchRecords' | 'lingerMs' | 'maxInflightBatches' | 'producers'> &
    Partial<Pick<WriterOptions, 'topic' | 'deadLetterTopic'>>;
  /**
   * The persistent session's client id: a restarted bridge with the same id gets the readings the broker holds for
   * it (those not acknowledged before a crash, and those published while it was away).
   */
  clientId?: string;
  /** The broker sends at most this many unacknowledged QoS 1 messages (MQTT 5 Receive Maximum, 1-65535). */
  receiveMaximum?: number;
  rateLimit?: RateLimit;
  /** A shared subscription group (`$share/<group>/...`) lets several bridges split the devices; off by default. */
  shareGroup?: string;
  logger?: Logger;
  metrics?: TelemetryMetrics;
  registry?: EventSchemaRegistry;
}

/** What the broker sends: an MQTT 5 PUBLISH with QoS 1 carries a packet id to acknowledge. */
interface InFlight {
  messageId: number | undefined;
  /** The connection it arrived on: a PUBACK is only meaningful on that one. */
  connection: number;
  written: boolean;
  /** Sends the PUBACK that mqtt.js prepared for this message. */
  sendPuback?: () => void;
}

type SendPacket = (packet: Packet, cb?: (error?: Error) => void, cbStorePut?: () => void) => void;

/**
 * MQTT -> Kafka. Each reading is validated, wrapped in the canonical envelope (eventId from readingEventId, so a
 * redelivery keeps its id), produced to `iot.device` keyed `<tenant>:<deviceId>`, and only then acknowledged
 * (PUBACK) to the broker. Bad readings go to `iot.device.dlq` with the reason and are acknowledged once that write
 * is in Kafka. A crash before the PUBACK makes the broker redeliver: duplicates, never loss.
 *
 * Why PUBACKs are held by hand: mqtt.js handles incoming packets one at a time and sends the PUBACK (after
 * `customHandleAcks`/`handleMessage` call back) before it reads the next packet, so waiting for Kafka there would
 * allow one message in flight per connection. The bridge lets mqtt.js prepare the PUBACK at once, keeps it, and
 * writes it when Kafka acknowledged the message, in the order the messages came (MQTT-4.6.0-2).
 */
export class TelemetryBridge {
  /** Messages in arrival order, not yet acknowledged; `head` is the oldest (Array#shift copies 10,000 entries). */
  private queue: (InFlight | undefined)[] = [];
  private head = 0;
  private readonly byMessageId = new Map<number, InFlight>();
  private connection = 0;
  private sweeper: NodeJS.Timeout | undefined;
  private readonly traceIds = new TraceIds();
  private readonly mqttReadings: ReturnType<TelemetryMetrics['readings']['labels']>;

  private constructor(
    private readonly client: MqttClient,
    readonly writer: TelemetryKafkaWriter,
    readonly metrics: TelemetryMetrics,
    private readonly registry: EventSchemaRegistry,
    private readonly limiter: DeviceRateLimiter | undefined,
    private readonly logger: Logger,
  ) {
    this.mqttReadings = metrics.readings.labels('mqtt');
  }

  static async create(options: BridgeOptions): Promise<TelemetryBridge> {
    const logger = options.logger ?? createLogger('telemetry-bridge');
    const metrics = options.metrics ?? new TelemetryMetrics();
    const writer = new TelemetryKafkaWriter({ ...options.kafka, logger });
    const client = mqtt.connect(options.mqtt.url, {
      protocolVersion: 5,
      clientId: options.clientId ?? 'bv-telemetry-bridge',
      username: options.mqtt.username,
      password: options.mqtt.password,
      clean: false,
      // MQTT 5 ends a session when the connection closes unless it has an expiry: keep it for a week.
      properties: { sessionExpiryInterval: 7 * 24 * 3600, receiveMaximum: options.receiveMaximum ?? 10_000 },
      reconnectPeriod: 1000,
      connectTimeout: 10_000,
      // The session's subscription lives in the broker; subscribing again on reconnect is harmless.
      resubscribe: true,
      manualConnect: true,
    });
    const limiter = options.rateLimit ? new DeviceRateLimiter(options.rateLimit) : undefined;
    const bridge = new TelemetryBridge(
      client,
      writer,
      metrics,
      options.registry ?? EventSchemaRegistry.load(),
      limiter,
      logger,
    );
    await bridge.start(options.shareGroup);
    return bridge;
  }

  private async start(shareGroup: string | undefined): Promise<void> {
    const internal = this.client as unknown as { _sendPacket: SendPacket };
    const sendPacket = internal._sendPacket.bind(this.client);
    internal._sendPacket = (packet, cb, cbStorePut) => {
      const messageId = (packet as { messageId?: number }).messageId;
      const message = packet.cmd === 'puback' && messageId !== undefined ? this.byMessageId.get(messageId) : undefined;
      if (!message) return sendPacket(packet, cb, cbStorePut);
      this.byMessageId.delete(messageId as number);
      message.sendPuback = () => sendPacket(packet);
      cb?.(); // mqtt.js goes on with the next packet now; the PUBACK itself waits for Kafka
      this.release();
    };
    this.client.on('message', (topic, payload, packet) => this.receive(topic, payload, packet));
    this.client.on('connect', () => {
      this.connection++;
      this.metrics.mqttConnected.set(1);
      this.logger.info({ connection: this.connection }, 'connected to the MQTT broker');
    });
    this.client.on('close', () => {
      this.metrics.mqttConnected.set(0);
      // PUBACKs prepared on the closed connection are void: the broker redelivers those messages on the new one.
      this.byMessageId.clear();
    });
    this.client.on('error', (error) => this.logger.warn({ error: errorMessage(error) }, 'MQTT client error'));
    const connected = new Promise<void>((resolve, reject) => {
      this.client.once('connect', () => resolve());
      this.client.once('error', reject);
    });
    this.client.connect();
    await connected;
    const subscription = shareGroup ? `$share/${shareGroup}/${READINGS_SUBSCRIPTION}` : READINGS_SUBSCRIPTION;
    const [granted] = await this.client.subscribeAsync(subscription, { qos: 1 });
    if (granted?.qos !== 1) throw new Error(`the broker refused ${subscription}: ${JSON.stringify(granted)}`);
    if (this.limiter) this.sweeper = setInterval(() => this.limiter?.sweep(), 10_000).unref();
  }

  private receive(topic: string, payload: Buffer, packet: IPublishPacket): void {
    const message: InFlight = { messageId: packet.messageId, connection: this.connection, written: false };
    if (packet.qos > 0 && packet.messageId !== undefined) this.byMessageId.set(packet.messageId, message);
    this.queue.push(message);
    this.metrics.unacked.inc();
    const done = () => {
      message.written = true;
      this.release();
    };
    this.process(topic, payload).then(done, (error: unknown) => {
      // Kafka writes retry until they succeed; this is reached only when the bridge is closing.
      this.logger.warn({ error: errorMessage(error), topic }, 'reading not written; the broker will redeliver it');
    });
  }

  private async process(topic: string, payload: Buffer): Promise<void> {
    const source = `mqtt:${topic}`;
    const device = deviceOfTopic(topic);
    if (typeof device === 'string') {
      const reject: ReadingReject = {
        index: undefined,
        code: 'TELEMETRY_TOPIC_INVALID',
        reason: device,
        raw: payload.toString(),
      };
      return this.deadLetter([reject], topic, source);
    }
    const parsed = parseBody(payload);
    if ('reason' in parsed) {
      const reject: ReadingReject = {
        index: undefined,
        code: 'UNDECODABLE',
        reason: parsed.reason,
        raw: payload.toString(),
      };
      return this.deadLetter([reject], deviceKey(device), source);
    }
    const traceId = this.traceIds.traceId();
    const outcome = readingsOf(this.registry, device, parsed.body, { traceId });
    const rejects = outcome.rejects;
    let records = outcome.records;
    if (this.limiter && records.length) {
      const granted = this.limiter.takeUpTo(deviceKey(device), records.length);
      for (let i = granted; i < records.length; i++) {
        const index = Array.isArray(parsed.body) ? outcome.indexes[i] : undefined;
        rejects.push(rateLimited(device, index, JSON.stringify((records[i] as ReadingRecord).envelope.payload)));
      }
      if (granted < records.length) records = records.slice(0, granted);
    }
    if (rejects.length === 0) {
      this.mqttReadings.inc(records.length);
      return this.writer.writeReadings(records, { traceparent: this.traceIds.traceparent(traceId) });
    }
    const writes: Promise<void>[] = [this.deadLetter(rejects, deviceKey(device), source)];
    if (records.length) {
      writes.push(this.writer.writeReadings(records, { traceparent: this.traceIds.traceparent(traceId) }));
      this.mqttReadings.inc(records.length);
    }
    await Promise.all(writes);
  }

  private deadLetter(rejects: ReadingReject[], key: string, source: string): Promise<void> {
    for (const r of rejects) this.metrics.deadLetters.inc({ source: 'mqtt', code: r.code });
    return this.writer.writeDeadLetters(rejects, { key, source });
  }

  /** Sends the PUBACKs of the messages at the head of the queue that Kafka has, in arrival order. */
  private release(): void {
    while (this.head < this.queue.length) {
      const head = this.queue[this.head] as InFlight;
      if (head.connection !== this.connection) {
        this.dequeue(); // from a closed connection: redelivered on this one
        continue;
      }
      const needsPuback = head.messageId !== undefined;
      if (!head.written || (needsPuback && !head.sendPuback)) return;
      this.dequeue();
      head.sendPuback?.();
    }
  }

  private dequeue(): void {
    this.queue[this.head++] = undefined; // let the message go now, not at the next compaction
    this.metrics.unacked.dec();
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head >= 4096 && this.head * 2 >= this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
  }

  /** True while the bridge holds its MQTT connection (and so its session's subscription). */
  get connected(): boolean {
    return this.client.connected;
  }

  /** Messages received and not yet acknowledged to the broker (waiting for Kafka, or for an earlier one). */
  get unacknowledged(): number {
    return this.queue.length - this.head;
  }

  /** Writes what was received, acknowledges it, and disconnects (the session stays in the broker). */
  async close(): Promise<void> {
    if (this.sweeper) clearInterval(this.sweeper);
    await this.writer.close();
    this.release();
    await this.client.endAsync(false);
  }
}

function rateLimited(device: DeviceAddress, index: number | undefined, raw: string): ReadingReject {
  return {
    index,
    code: 'TELEMETRY_RATE_LIMITED',
    reason: `rate_limited: device ${deviceKey(device)} is over its reading rate limit`,
    raw,
  };
}
