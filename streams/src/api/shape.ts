import type { ZScoreOptions } from '../operators/anomaly/options.js';
import type { Aggregate } from '../operators/windows/aggregates.js';
import type { WindowAssigner } from '../operators/windows/assigners.js';
import type { JobDefinition } from './job.js';

/**
 * A job's state shape: for each stateful operator (by its id), what its state holds. Recorded when the job is
 * deployed; a redeploy (or a worker start on a module changed in place) whose operator under the same id keeps other
 * state is refused while the job has state, instead of restoring it into the wrong operator (nulls, no error).
 */
export type StateShape = Record<string, string>;

export function windowSignature(
  assigner: WindowAssigner,
  aggregate: Aggregate<never, unknown, unknown>,
  emit: 'revisions' | 'final',
): string {
  // The size, slide and gap are not in it: state of a 1-minute window restored into a 2-minute one is well formed
  // (its windows close by their stored ends); only what the accumulator is and how results are emitted matter.
  return `${assigner.kind}Window(${aggregate.signature ?? 'custom'}${emit === 'final' ? ',final' : ''})`;
}

export function zScoreSignature(options: ZScoreOptions<never>): string {
  const window = options.window && 'duration' in options.window ? 'duration' : 'points';
  const parts = [
    `window:${window}`,
    `center:${options.center ?? 'mean'}`,
    `seasonality:${options.seasonality ?? 'none'}`,
  ];
  return `zScore(${parts.join(',')})`;
}

export function stateShape(job: JobDefinition): StateShape {
  const shape: StateShape = {};
  for (const node of job.nodes)
    if (node.kind === 'operator' && node.state.length > 0) shape[node.id] = node.signature ?? node.state.join('+');
  return shape;
}

/** Each operator whose state the new shape would read as something else: `id: was -> now`. */
export function incompatibleState(previous: StateShape, next: StateShape): string[] {
  return Object.entries(next)
    .filter(([id, signature]) => previous[id] !== undefined && previous[id] !== signature)
    .map(([id, signature]) => `${id}: ${previous[id]} -> ${signature}`);
}
