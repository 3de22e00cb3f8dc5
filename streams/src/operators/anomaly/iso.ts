/**
 * `new Date(ms).toISOString()` costs about 380 ns, more than scoring a point: the text up to the minute is cached and
 * seconds and milliseconds come from tables (the same output as Date's).
 */
let cachedDay = Number.NaN;
let cachedPrefix = '';

const DAY = 86_400_000;
const PAD2 = Array.from({ length: 60 }, (_, i) => String(i).padStart(2, '0'));
const PAD3 = Array.from({ length: 1000 }, (_, i) => `.${String(i).padStart(3, '0')}Z`);
let cachedMinute = Number.NaN;
let cachedMinutePrefix = '';

export function isoTime(ms: number): string {
  const minute = Math.floor(ms / 60_000);
  if (minute !== cachedMinute) {
    cachedMinutePrefix = minutePrefix(ms);
    cachedMinute = minute;
  }
  const rest = ms - minute * 60_000;
  const s = Math.floor(rest / 1000);
  return cachedMinutePrefix + PAD2[s] + PAD3[Math.floor(rest - s * 1000)];
}

function minutePrefix(ms: number): string {
  const day = Math.floor(ms / DAY);
  if (day !== cachedDay) {
    const iso = new Date(ms).toISOString();
    if (iso.length !== 24) return iso.slice(0, -7); // an extended year
    cachedDay = day;
    cachedPrefix = iso.slice(0, 11);
  }
  const rest = ms - day * DAY;
  const h = Math.floor(rest / 3_600_000);
  const m = Math.floor((rest - h * 3_600_000) / 60_000);
  return `${cachedPrefix}${PAD2[h]}:${PAD2[m]}:`;
}
