import { describe, expect, it } from 'vitest';
import { TimerIndex } from '../src/operators/timers.js';

describe('timers drained with shift() were quadratic; the heap keeps their order and loses none', () => {
  it('hands out due timers earliest first, keys sorted within a time, each once', () => {
    const timers = new TimerIndex();
    for (const [time, key] of [
      [30, 'b'],
      [10, 'z'],
      [30, 'a'],
      [10, 'a'],
      [20, 'm'],
      [10, 'z'],
    ] as const)
      timers.add(time, key);
    expect([...timers.due(25)]).toEqual([
      [10, 'a'],
      [10, 'z'],
      [20, 'm'],
    ]);
    expect(timers.size).toBe(2);
    expect([...timers.due(100)]).toEqual([
      [30, 'a'],
      [30, 'b'],
    ]);
  });

  it('removes only the timers it handed out when the caller stops (a firing threw)', () => {
    const timers = new TimerIndex();
    for (let i = 0; i < 5; i++) timers.add(i, `k${i}`);
    for (const [time] of timers.due(10)) if (time === 1) break;
    expect([...timers.due(10)].map(([, key]) => key)).toEqual(['k2', 'k3', 'k4']);
  });

  it('fires timers added while draining when they are due', () => {
    const timers = new TimerIndex();
    timers.add(1, 'a');
    const fired: string[] = [];
    for (const [, key] of timers.due(10)) {
      fired.push(key);
      if (key === 'a') timers.add(5, 'b');
    }
    expect(fired).toEqual(['a', 'b']);
  });
});
