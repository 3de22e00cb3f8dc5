/** Where a record came from: the Kafka coordinates of the input record that produced it. */
export interface Origin {
  topic: string;
  partition: number;
  offset: bigint;
  /** The envelope's eventId when the source decodes envelopes. */
  eventId?: string | undefined;
  traceparent?: string | undefined;
  /** The input record's Kafka key, when it crossed a repartition topic (the key there is the partitioning key). */
  key?: string | undefined;
}

/** A value travelling between operators, with its event time and (after keyBy) its key. */
export interface StreamRecord<T> {
  value: T;
  /** Event time, epoch milliseconds. */
  timestamp: number;
  key: string | undefined;
  origin: Origin;
}

/** The bytes of a record read from Kafka, before decoding. */
export interface RawRecord {
  topic: string;
  partition: number;
  offset: bigint;
  /** Broker timestamp (epoch ms). */
  timestamp: number;
  key: Buffer | undefined;
  value: Buffer | undefined;
  headers: ReadonlyMap<string, Buffer>;
}

/** A record for a Kafka sink, ready to send. */
export interface OutputRecord {
  topic: string;
  key: string | undefined;
  value: string | Buffer;
  timestamp: number;
  headers: Record<string, string>;
}
