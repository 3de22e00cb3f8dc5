import type { ErrorCode } from '@bitvelocity/core';
import { STREAMS } from './feed.js';

/** The path of the WebSocket endpoint. */
export const NOTIFICATIONS_PATH = '/v1/notifications';

/** The messages a client sends (validated before anything else looks at them). */
export interface SubscribeMessage {
  type: 'subscribe';
  /** What to be told about: order status changes, device anomaly alerts, or both. */
  streams: ('orders' | 'devices')[];
  /** Only these orders (default: every order of the tenant). */
  orderIds?: string[];
  /** Only these devices (default: every device of the tenant). */
  deviceIds?: string[];
  /** The `resumeToken` of the last message handled: everything after it is delivered, nothing before. */
  resumeToken?: string;
}
export interface PingMessage {
  type: 'ping';
}
export type ClientMessage = SubscribeMessage | PingMessage;

const ids = {
  type: 'array',
  maxItems: 1000,
  uniqueItems: true,
  items: { type: 'string', minLength: 1, maxLength: 200 },
};

export const clientMessageSchema = {
  oneOf: [
    {
      type: 'object',
      additionalProperties: false,
      required: ['type', 'streams'],
      properties: {
        type: { const: 'subscribe' },
        streams: { type: 'array', minItems: 1, uniqueItems: true, items: { enum: [...STREAMS] } },
        orderIds: ids,
        deviceIds: ids,
        resumeToken: { type: 'string', minLength: 1, maxLength: 8192 },
      },
    },
    { type: 'object', additionalProperties: false, required: ['type'], properties: { type: { const: 'ping' } } },
  ],
} as const;

/**
 * The WebSocket close code of each error that ends a connection (the close reason is the error code). 4401/4403 mirror
 * HTTP 401/403; 4400 a message the server cannot act on; 4410 a resume token whose records Kafka no longer holds;
 * 4429 a client too slow to keep up (it resumes with its token); 1011 the server cannot read Kafka for now.
 */
export const CLOSE_CODES: Partial<Record<ErrorCode, number>> = {
  NOTIFY_TOKEN_MISSING: 4401,
  NOTIFY_TOKEN_INVALID: 4401,
  NOTIFY_TOKEN_EXPIRED: 4401,
  NOTIFY_FORBIDDEN: 4403,
  NOTIFY_MESSAGE_INVALID: 4400,
  NOTIFY_RESUME_INVALID: 4400,
  NOTIFY_RESUME_EXPIRED: 4410,
  NOTIFY_SLOW_CONSUMER: 4429,
  NOTIFY_UNAVAILABLE: 1011,
};
/** The server is shutting down: resume elsewhere or later with the last token. */
export const CLOSE_GOING_AWAY = 1001;
