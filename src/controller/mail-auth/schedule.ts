// When a relay's sender domains are looked up again. Pure: clock and random source are
// arguments. DNS changes rarely and is cached by everyone, so once a day is enough;
// ±10% jitter spreads relays created together. A failed lookup is retried sooner, and a
// change of what is checked (domains, selectors, signing key) makes a check due at once.
import { createHash } from 'node:crypto';
import type { MailAuthTarget } from './evaluate.js';

export const MAIL_AUTH_INTERVAL_MS = 24 * 3_600_000;
export const MAIL_AUTH_RETRY_MS = 15 * 60_000;
export const MAIL_AUTH_JITTER_FRACTION = 0.1;

export interface MailAuthScheduleState {
  /** When the next check is due (ms since epoch); undefined before the first. */
  nextDueAt?: number;
  /** targetsKey of the last check. */
  targetsKey?: string;
}

/** Identity of what is checked: a change makes a check due now. */
export function targetsKey(targets: readonly MailAuthTarget[]): string {
  const parts = targets.map((t) => `${t.domain}|${t.dkim?.selector ?? ''}|${t.dkim?.publicKey ? createHash('sha256').update(t.dkim.publicKey).digest('hex') : ''}`);
  return parts.sort().join(',');
}

export function jittered(intervalMs: number, random: () => number): number {
  return Math.max(1, Math.round(intervalMs * (1 + MAIL_AUTH_JITTER_FRACTION * (2 * random() - 1))));
}

/** Whether a check is due now, or the time until it is. */
export function mailAuthDue(state: MailAuthScheduleState, key: string, now: number): { due: boolean; dueInMs: number } {
  const due = state.nextDueAt === undefined || state.targetsKey !== key || now >= state.nextDueAt;
  return { due, dueInMs: due ? 0 : state.nextDueAt! - now };
}

/** The schedule after a check that started at `now`; lookupFailed: some answer was a failure. */
export function afterMailAuthCheck(key: string, now: number, lookupFailed: boolean, random: () => number): MailAuthScheduleState {
  return { targetsKey: key, nextDueAt: now + jittered(lookupFailed ? MAIL_AUTH_RETRY_MS : MAIL_AUTH_INTERVAL_MS, random) };
}
