export { buildNotifyApp, type NotifyAppOptions } from './app.js';
export { type Cursor, decodeCursor, encodeCursor } from './cursor.js';
export { type FeedTopics, NotificationFeed, type NotificationStream, STREAMS } from './feed.js';
export { NotifyMetrics } from './metrics.js';
export type { DeviceAnomalyNotification, Notification, OrderStatusNotification } from './notification.js';
export { CLOSE_CODES, type ClientMessage, NOTIFICATIONS_PATH, type SubscribeMessage } from './protocol.js';
export { type NotifyServer, type NotifyServerOptions, startNotifyServer } from './server.js';
