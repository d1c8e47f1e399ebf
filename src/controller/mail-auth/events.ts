// Events on a change of the MailAuthentication condition (the Event says what changed;
// an unchanged result says nothing). Pure.
import type { MailAuthCondition } from './condition.js';

export interface MailAuthEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

/** The Event for before → after, or undefined when status, reason and message are the same. */
export function mailAuthEvent(before: Pick<MailAuthCondition, 'status' | 'reason' | 'message'> | undefined, after: MailAuthCondition): MailAuthEvent | undefined {
  if (before && before.status === after.status && before.reason === after.reason && before.message === after.message) return undefined;
  if (after.reason === 'MailAuthenticationPending') return undefined;
  return { type: after.status === 'False' ? 'Warning' : 'Normal', reason: after.reason, message: after.message };
}
