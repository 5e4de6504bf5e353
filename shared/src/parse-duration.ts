const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Parses a duration written as Go and kubectl write them: one or more
 * integer-and-unit parts (`ms`, `s`, `m`, `h`, `d`), such as `720h`, `30m`
 * or `1h30m`. Returns milliseconds, or `undefined` for anything else
 * (a bare number, a fraction, an unknown unit, zero).
 */
export function parseDuration(text: string): number | undefined {
  if (!/^(\d{1,9}(ms|s|m|h|d))+$/.test(text)) return undefined;
  let total = 0;
  for (const [, n, unit] of text.matchAll(/(\d+)(ms|s|m|h|d)/g)) total += Number(n) * (UNITS[unit as string] ?? 0);
  return total > 0 && Number.isSafeInteger(total) ? total : undefined;
}
