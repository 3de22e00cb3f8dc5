import type { OperatorFactory } from '../operator.js';

/**
 * A window operator in final-only mode (Kafka Streams' `suppress(untilWindowCloses)`): one result per window, when the
 * watermark passes the window's end plus the allowed lateness, with every event accepted until then folded in.
 *
 * It is the revisions operator built with no lateness and shown the watermark `lateness` behind: that operator fires a
 * window once, when the (shifted) watermark reaches its end, refuses what comes after as too late, and never revises.
 */
export function finalOnly(windowOperator: OperatorFactory, lateness: number): OperatorFactory {
  return (context) => {
    const operator = windowOperator(context);
    const { onWatermark } = operator;
    if (!onWatermark) return operator;
    return { ...operator, onWatermark: (watermark, out) => onWatermark(watermark - lateness, out) };
  };
}
