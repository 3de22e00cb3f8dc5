const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;

export type DurationUnit = keyof typeof UNIT_MS;

/**
 * The one duration parser: `<number><unit>` (500ms, 5s, 30m, 24h, 7d, 2w) to milliseconds, or undefined when the text
 * is not one. Each edge says which units (and whether fractions) it accepts and raises its own error.
 */
export function parseDuration(
  text: string,
  options: { units?: readonly DurationUnit[]; fractions?: boolean } = {},
): number | undefined {
  const match = /^(\d+(?:\.\d+)?)([a-z]+)$/.exec(text.trim());
  const unit = match?.[2] as DurationUnit | undefined;
  if (!match || unit === undefined || !(unit in UNIT_MS)) return undefined;
  if (options.units && !options.units.includes(unit)) return undefined;
  if (!options.fractions && match[1]?.includes('.')) return undefined;
  return Number(match[1]) * UNIT_MS[unit];
}
