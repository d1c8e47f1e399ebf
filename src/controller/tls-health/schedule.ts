// When to probe a relay next, and when to deep-scan it. Pure: the clock and the
// random source come in as arguments, so the timing rules are unit-tested.
//
// - A fast probe runs every interval, jittered by ±10% so relays created together
//   do not probe in lock step.
// - A change of what is probed (spec generation, the TLS Secret's fingerprint, the
//   probed addresses) makes a probe due at once: a rotated certificate is checked
//   within one reconcile, not one interval later.
// - So does a finished rollout of the relay's workload (a new generation with every replica
//   updated and available): a renewed certificate rolls the pods, and the probe that ran when
//   the Secret changed may have met a pod still serving the old one (StaleCertificateServed).
//   Probing again once the roll is done clears that in seconds, not one interval later.
// - A stale result (the relay serves another certificate than its Secret's) is re-checked after
//   STALE_RECHECK_MS, up to STALE_RECHECKS times in a row: a pod that reloads (the kubelet's
//   Secret sync) or a Service that stops routing to a terminating pod clears it within seconds;
//   one that stays stale falls back to the interval.
// - A deep scan (protocol/cipher/group sweep, many handshakes) runs when the spec
//   generation or the Secret's certificate changes, and at least daily, jittered by ±10% like the
//   interval: relays created together (10,000 deep scans are ~4 minutes of a prober's 2 cores,
//   bench/probe-scale.ts) must not deep-scan together every day after.
// - A relay whose newest result is older than the interval plus a grace (max(30 s, half the
//   interval): the +10% jitter and a queue of probes fit in it) shows ProbeDelayed: the operator
//   could not probe it on time, and its last result is no longer news.

export const DEFAULT_PROBE_INTERVAL_MS = 60_000;
export const JITTER_FRACTION = 0.1;
export const DEEP_SCAN_MAX_AGE_MS = 24 * 3_600_000;
export const PROBE_DELAY_GRACE_MIN_MS = 30_000;
export const PROBE_DELAY_GRACE_FRACTION = 0.5;
export const STALE_RECHECK_MS = 10_000;
export const STALE_RECHECKS = 6;

/** What the scheduler remembers per relay between probes. */
export interface ScheduleState {
  /** When the current interval ends (ms since epoch). */
  nextDueAt?: number;
  /** Identity of what the last probe looked at (see probeKey). */
  probeKey?: string;
  /** When the last deep scan started. */
  lastDeepAt?: number;
  /** When the next routine deep scan is due (lastDeepAt + a jittered day); unset: a day after lastDeepAt. */
  nextDeepAt?: number;
  /** Identity of what the last deep scan looked at (see deepKey). */
  deepKey?: string;
}

export interface ScheduleInput {
  now: number;
  probeKey: string;
  deepKey: string;
}

export interface SchedulePlan {
  /** Run a fast probe now. */
  probe: boolean;
  /** Run a deep scan with it. */
  deep: boolean;
  /** Time until the next probe is due (0 when due now). */
  dueInMs: number;
}

/** The interval stretched or shrunk by a uniform ±JITTER_FRACTION; random() in [0, 1). */
export function jitteredInterval(intervalMs: number, random: () => number): number {
  const factor = 1 + JITTER_FRACTION * (2 * random() - 1);
  return Math.max(1, Math.round(intervalMs * factor));
}

/** Identity of a fast probe's subject: a change makes a probe due now. */
export function probeKey(generation: number | undefined, fingerprint: string | undefined, addresses: string[], settledRollout?: string): string {
  return `${generation ?? 0}|${fingerprint ?? ''}|${addresses.join(',')}|${settledRollout ?? ''}`;
}

/** Identity of a deep scan's subject: the spec and the certificate. */
export function deepKey(generation: number | undefined, fingerprint: string | undefined): string {
  return `${generation ?? 0}|${fingerprint ?? ''}`;
}

export function plan(state: ScheduleState, input: ScheduleInput): SchedulePlan {
  const probe = state.nextDueAt === undefined || state.probeKey !== input.probeKey || input.now >= state.nextDueAt;
  const deepDueAt = state.nextDeepAt ?? (state.lastDeepAt === undefined ? undefined : state.lastDeepAt + DEEP_SCAN_MAX_AGE_MS);
  const deep = probe && (state.deepKey !== input.deepKey || deepDueAt === undefined || input.now >= deepDueAt);
  return { probe, deep, dueInMs: probe ? 0 : state.nextDueAt! - input.now };
}

/** The state after a probe (and maybe a deep scan) started at `now`. */
export function started(state: ScheduleState, input: ScheduleInput, p: SchedulePlan, intervalMs: number, random: () => number): ScheduleState {
  const next: ScheduleState = { ...state, nextDueAt: input.now + jitteredInterval(intervalMs, random), probeKey: input.probeKey };
  if (p.deep) {
    next.lastDeepAt = input.now;
    next.nextDeepAt = input.now + jitteredInterval(DEEP_SCAN_MAX_AGE_MS, random);
    next.deepKey = input.deepKey;
  }
  return next;
}

/**
 * When to probe again after a cycle that started at `startedAt` found a stale certificate
 * (`staleRechecks` such cycles in a row, this one included); undefined: keep the interval.
 */
export function staleRecheckAt(startedAt: number, staleRechecks: number, intervalMs: number): number | undefined {
  if (staleRechecks > STALE_RECHECKS || intervalMs <= STALE_RECHECK_MS) return undefined;
  return startedAt + STALE_RECHECK_MS;
}

export interface ProbeDelay {
  /** When the next probe was due: one interval after the oldest shown result. */
  dueAt: number;
  /** When an absent probe counts as delayed: dueAt plus the grace. */
  delayedAt: number;
  delayed: boolean;
}

/**
 * Whether results from `lastProbeAt` (the oldest endpoint's probe start) are overdue at `now`.
 * `minGraceMs` is lowered only by tests; the grace never drops below half the interval.
 */
export function probeDelay(lastProbeAt: number, intervalMs: number, now: number, minGraceMs = PROBE_DELAY_GRACE_MIN_MS): ProbeDelay {
  const dueAt = lastProbeAt + intervalMs;
  const delayedAt = dueAt + Math.max(minGraceMs, Math.round(intervalMs * PROBE_DELAY_GRACE_FRACTION));
  return { dueAt, delayedAt, delayed: now >= delayedAt };
}
