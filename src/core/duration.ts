const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION_RE = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/;

/** Parses "250ms", "5s", "10m", "24h", "1d" into milliseconds; undefined when malformed. */
export function parseDuration(text: string): number | undefined {
  const m = DURATION_RE.exec(text.trim());
  if (!m) return undefined;
  const value = Number(m[1]) * (UNITS[m[2] as string] as number);
  return Number.isFinite(value) ? Math.round(value) : undefined;
}

/** Formats milliseconds as the largest whole unit ("90s" stays "90s", "3600000" becomes "1h"). */
export function formatDuration(ms: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    const size = UNITS[unit] as number;
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/**
 * Milliseconds of a duration the schema has already validated (every config duration): the one
 * conversion the compiler and the control plane use, with no fallback of its own, since the schema's
 * default is the only default. Throws on text that never passed the schema (a programming error).
 */
export function durationMs(text: string): number {
  const ms = parseDuration(text);
  if (ms === undefined) throw new Error(`invalid duration "${text}" (not validated by the schema)`);
  return ms;
}
