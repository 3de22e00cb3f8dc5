/** What a window operator emits for each firing of a window. */
export interface WindowResult<R> {
  key: string;
  windowStart: string;
  windowEnd: string;
  result: R;
  /** 0 for the on-time firing; each late event inside the allowed lateness fires an update with the next revision. */
  revision: number;
  /**
   * The job's reprocessing epoch, present from the first `bv jobs reset` on (absent means 0). Revisions start again at
   * 0 in a new epoch: a window's versions are ordered by (epoch, revision), so a reprocessed result supersedes the
   * results of earlier epochs whatever their revisions.
   */
  epoch?: number;
  /**
   * Present (true) only on a retraction: a session merged into another. Its `result` is null; the row of
   * (key, windowStart) is no longer part of the output. Window kinds other than sessions never retract.
   */
  retracted?: true;
}

export const LATE = 'late';
