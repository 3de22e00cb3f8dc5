/** What a window operator emits for each firing of a window. */
export interface WindowResult<R> {
  key: string;
  windowStart: string;
  windowEnd: string;
  result: R;
  /** 0 for the on-time firing; each late event inside the allowed lateness fires an update with the next revision. */
  revision: number;
}

export const LATE = 'late';
