// Small, pure statistics for benchmark reports: medians over runs, latency
// percentiles, ratios. No I/O, no clock.

/** Sorted copy; throws on an empty sample or a non-finite value (a bench bug, not a result). */
function sorted(values: readonly number[]): number[] {
  if (values.length === 0) throw new Error('statistics of an empty sample');
  for (const v of values) if (!Number.isFinite(v)) throw new Error(`non-finite value in sample: ${v}`);
  return [...values].sort((a, b) => a - b);
}

/**
 * The p-th percentile (0..100) with linear interpolation between closest ranks
 * (numpy's default), so p50 of [1,2,3,4] is 2.5 and p100 is the maximum.
 */
export function percentile(values: readonly number[], p: number): number {
  if (!(p >= 0 && p <= 100)) throw new Error(`percentile must be within 0..100, got ${p}`);
  const s = sorted(values);
  const rank = (p / 100) * (s.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return s[lo]! + (s[hi]! - s[lo]!) * (rank - lo);
}

export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

export function mean(values: readonly number[]): number {
  return sorted(values).reduce((a, b) => a + b, 0) / values.length;
}

export interface Summary {
  n: number;
  min: number;
  p50: number;
  p99: number;
  max: number;
  mean: number;
}

export function summarize(values: readonly number[]): Summary {
  return { n: values.length, min: percentile(values, 0), p50: percentile(values, 50), p99: percentile(values, 99), max: percentile(values, 100), mean: mean(values) };
}

/**
 * Median of per-run ratios a[i]/b[i]: each run measured both sides back to back,
 * so pairing them cancels most of the machine's drift between runs.
 */
export function pairedRatio(a: readonly number[], b: readonly number[]): number {
  if (a.length !== b.length) throw new Error(`paired samples differ in length (${a.length} vs ${b.length})`);
  return median(a.map((x, i) => {
    const y = b[i]!;
    if (y === 0) throw new Error('ratio with a zero denominator');
    return x / y;
  }));
}

/** Rounds to a number of significant digits for tables (0 stays 0). */
export function round(value: number, digits = 3): number {
  if (value === 0 || !Number.isFinite(value)) return value;
  return Number(value.toPrecision(digits));
}
