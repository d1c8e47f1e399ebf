// From check results to one verdict and the CLI exit code. Pure.
import type { CheckResult, Verdict } from './types.js';

export const EXIT = { healthy: 0, warning: 1, failing: 2, usage: 64 } as const;

export function verdictOf(checks: CheckResult[]): Verdict {
  if (checks.some((c) => c.result === 'fail')) return 'failing';
  if (checks.some((c) => c.result === 'warn')) return 'warning';
  return 'healthy';
}

/** The worst of several verdicts (fast probe and deep scan together). */
export function worstVerdict(...verdicts: Verdict[]): Verdict {
  if (verdicts.includes('failing')) return 'failing';
  if (verdicts.includes('warning')) return 'warning';
  return 'healthy';
}

export function exitCodeFor(verdict: Verdict): number {
  return EXIT[verdict];
}

/** Warn and fail results only, in order. */
export function problems(checks: CheckResult[]): CheckResult[] {
  return checks.filter((c) => c.result !== 'pass');
}
