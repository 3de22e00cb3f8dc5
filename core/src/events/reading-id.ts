import { hash as digestOf } from 'node:crypto';

/** The namespace of reading ids (a fixed random UUID): ids of readings never collide with other UUIDv5 names. */
const READING_NAMESPACE = Buffer.from('6f1c2b9e3a7d4e0f8b5a1c2d3e4f5a6b', 'hex');

export interface ReadingIdentity {
  tenantId: string;
  deviceId: string;
  metric: string;
  /** Exactly as the device sent it: the id must not change when the same reading is sent again. */
  recordedAt: string;
  seq?: number | undefined;
}

/**
 * The eventId of a device reading, derived (UUIDv5: SHA-1 over a namespace and the name) from what identifies the
 * measurement, so a reading delivered twice (MQTT QoS 1 after a bridge crash, an HTTP retry) keeps its id and
 * dedupe downstream removes the copy. Fields are joined with a NUL, which none of them may contain.
 */
export function readingEventId(reading: ReadingIdentity): string {
  const name = `${reading.tenantId}\0${reading.deviceId}\0${reading.metric}\0${reading.recordedAt}\0${reading.seq ?? ''}`;
  // One-shot hash over namespace + name: a Hash object per reading costs more than the SHA-1 itself.
  const named = Buffer.allocUnsafe(READING_NAMESPACE.length + Buffer.byteLength(name, 'utf8'));
  READING_NAMESPACE.copy(named, 0);
  named.write(name, READING_NAMESPACE.length, 'utf8');
  const hash = digestOf('sha1', named, 'buffer');
  hash[6] = ((hash[6] ?? 0) & 0x0f) | 0x50; // version 5
  hash[8] = ((hash[8] ?? 0) & 0x3f) | 0x80; // RFC 4122 variant
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}
