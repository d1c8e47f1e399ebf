// When to try a deferred message again: exponential backoff with jitter, within
// [minMs, maxMs] (Postfix's minimal_backoff_time / maximal_backoff_time). Pure.

/**
 * Delay before the next attempt after `failures` failed attempts in a row (1 = the first
 * failure). The base doubles per failure from minMs, capped at maxMs; the jitter spreads
 * it over [base/2, 1.5 x base) so messages deferred together do not retry together; the
 * result is clamped to [minMs, maxMs]. `random` returns [0, 1).
 */
export function retryDelayMs(failures: number, minMs: number, maxMs: number, random: () => number = Math.random): number {
  const n = Math.max(1, Math.floor(failures));
  // 2 ** 40 x minMs is far beyond any maxMs: cap the exponent so the number stays finite.
  const base = Math.min(maxMs, minMs * 2 ** Math.min(n - 1, 40));
  const jittered = base * (0.5 + random());
  return Math.round(Math.min(maxMs, Math.max(minMs, jittered)));
}
