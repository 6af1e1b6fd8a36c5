/**
 * Fixed quota windows in UTC (SPEC §2: `per: 1h | 1d | 30d`). Pure.
 *
 * Unix time has no leap seconds, so aligning to multiples of the window length since the
 * epoch gives whole UTC hours and UTC days. `30d` is not a calendar month: it is a run of
 * 30-day windows aligned to the epoch (1970-01-01T00:00Z), the same for every replica and
 * every timezone, and always exactly 2,592,000 s long, so RateLimit-Policy `w` is honest.
 */

/** The quota periods the config allows. */
export type QuotaPeriod = '1h' | '1d' | '30d';

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

/** Window length in milliseconds for each period. */
export const QUOTA_PERIOD_MS: Readonly<Record<QuotaPeriod, number>> = Object.freeze({
  '1h': HOUR_MS,
  '1d': DAY_MS,
  '30d': 30 * DAY_MS,
});

/** A half-open window [startMs, endMs). */
export interface QuotaWindow {
  readonly startMs: number;
  readonly endMs: number;
}

/** The window that contains `nowMs`. */
export function quotaWindow(nowMs: number, per: QuotaPeriod): QuotaWindow {
  const size = QUOTA_PERIOD_MS[per];
  const startMs = Math.floor(nowMs / size) * size;
  return { startMs, endMs: startMs + size };
}

/** Narrows a config string to a QuotaPeriod (the schema already restricts it). */
export function isQuotaPeriod(per: string): per is QuotaPeriod {
  return per === '1h' || per === '1d' || per === '30d';
}
