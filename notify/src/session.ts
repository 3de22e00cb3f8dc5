import { BvError, type ErrorCode, type Logger, type Principal } from '@bitvelocity/core';
import { Ajv } from 'ajv';
import type { WebSocket } from 'ws';
import { type Cursor, decodeCursor, encodeCursor, partitionKey } from './cursor.js';
import type { FeedSubscriber, NotificationFeed, NotificationStream } from './feed.js';
import type { NotifyMetrics } from './metrics.js';
import { CLOSE_CODES, type ClientMessage, clientMessageSchema, type SubscribeMessage } from './protocol.js';
import type { FeedEntry } from './replay-buffer.js';

const validMessage = new Ajv({ allErrors: false }).compile<ClientMessage>(clientMessageSchema);

export interface SessionOptions {
  /** Bytes queued on the socket beyond which the client is closed as too slow (it resumes with its token). */
  maxBufferedBytes: number;
}

/**
 * One authenticated WebSocket connection: at most one subscription, its filter and its cursor. The cursor advances
 * with every notification sent, and each notification carries it as `resumeToken`: the connection sends a record
 * only when it lies at or after the cursor, so a replay overlapping what was sent never sends it twice.
 */
export class NotificationSession implements FeedSubscriber {
  readonly tenantId: string;
  streams: NotificationStream[] = [];
  private topics: string[] = [];
  private cursor: Cursor | undefined;
  private orderIds: Set<string> | undefined;
  private deviceIds: Set<string> | undefined;
  private closed = false;

  constructor(
    private readonly socket: WebSocket,
    readonly principal: Principal,
    private readonly feed: NotificationFeed,
    private readonly metrics: NotifyMetrics,
    private readonly logger: Logger,
    private readonly options: SessionOptions,
  ) {
    this.tenantId = principal.tenant;
    metrics.sessions.inc();
    socket.on('message', (data, isBinary) => {
      void this.receive(isBinary ? '' : data.toString());
    });
    socket.on('close', () => this.dispose());
    socket.on('error', () => this.dispose());
  }

  private async receive(text: string): Promise<void> {
    let message: unknown;
    try {
      message = JSON.parse(text);
    } catch {
      return this.fail('NOTIFY_MESSAGE_INVALID', 'a message must be a JSON text frame');
    }
    if (!validMessage(message)) {
      const first = validMessage.errors?.[0];
      const where = first ? `${first.instancePath || '/'} ${first.message ?? ''}`.trim() : 'shape';
      return this.fail('NOTIFY_MESSAGE_INVALID', `the message is not a valid subscribe or ping (${where})`);
    }
    if (message.type === 'ping') return this.send({ type: 'pong' });
    await this.subscribe(message);
  }

  private async subscribe(message: SubscribeMessage): Promise<void> {
    if (this.cursor) return this.fail('NOTIFY_MESSAGE_INVALID', 'this connection has a subscription already');
    const topics = message.streams.map((stream) => this.feed.topicOf(stream));
    let cursor: Cursor;
    try {
      cursor = message.resumeToken
        ? decodeCursor(message.resumeToken, topics, this.feed.partitionsOf)
        : this.feed.positionOf(message.streams);
    } catch (error) {
      return this.failWith(error);
    }
    this.streams = message.streams;
    this.topics = topics;
    this.orderIds = message.orderIds ? new Set(message.orderIds) : undefined;
    this.deviceIds = message.deviceIds ? new Set(message.deviceIds) : undefined;
    this.cursor = cursor;
    this.send({ type: 'subscribed', streams: this.streams, resumeToken: encodeCursor(cursor, this.topics) });
    try {
      const source = await this.feed.subscribe(this, cursor);
      if (this.closed) return this.feed.unsubscribe(this);
      if (message.resumeToken) this.metrics.resumes.inc({ source });
      this.send({ type: 'caught_up', source, resumeToken: encodeCursor(cursor, this.topics) });
    } catch (error) {
      this.failWith(error);
    }
  }

  offer(entry: FeedEntry): void {
    const cursor = this.cursor;
    if (!cursor || this.closed) return;
    const { notification } = entry;
    if (notification.tenantId !== this.tenantId) return;
    const key = partitionKey(entry.topic, entry.partition);
    // A partition that appeared after the subscription started is read from its start.
    const next = cursor.get(key) ?? (this.topics.includes(entry.topic) ? 0n : undefined);
    if (next === undefined || entry.offset < next) return;
    if (notification.kind === 'order.status') {
      if (!this.streams.includes('orders') || (this.orderIds && !this.orderIds.has(notification.orderId))) return;
    } else if (!this.streams.includes('devices') || (this.deviceIds && !this.deviceIds.has(notification.deviceId))) {
      return;
    }
    if (this.socket.bufferedAmount > this.options.maxBufferedBytes) {
      this.fail('NOTIFY_SLOW_CONSUMER', 'the client reads too slowly; reconnect and resume with the last resumeToken');
      return;
    }
    cursor.set(key, entry.offset + 1n);
    this.send({ type: 'notification', resumeToken: encodeCursor(cursor, this.topics), ...notification });
    this.metrics.sent.inc({ kind: notification.kind });
  }

  private send(message: object): void {
    if (!this.closed && this.socket.readyState === this.socket.OPEN) this.socket.send(JSON.stringify(message));
  }

  private failWith(error: unknown): void {
    if (error instanceof BvError && CLOSE_CODES[error.code as ErrorCode]) {
      this.fail(error.code as ErrorCode, error.message);
      return;
    }
    this.logger.error({ err: error }, 'notification session failed');
    this.fail('NOTIFY_UNAVAILABLE', 'the notification server failed; resume with the last resumeToken');
  }

  /** Sends the error, then closes with its close code (the reason is the code). */
  fail(code: ErrorCode, message: string): void {
    if (this.closed) return;
    this.send({ type: 'error', code, message });
    this.metrics.refused.inc({ code });
    this.socket.close(CLOSE_CODES[code] ?? 1011, code);
    this.dispose();
  }

  close(code: number, reason: string): void {
    if (this.closed) return;
    this.socket.close(code, reason);
    this.dispose();
  }

  private dispose(): void {
    if (this.closed) return;
    this.closed = true;
    this.feed.unsubscribe(this);
    this.metrics.sessions.dec();
  }
}
