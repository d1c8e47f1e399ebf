// Events for the queue, from the stored status to the new one. Pure.
// - A drain starts: Normal DrainStarted; ends with every pod empty: Normal DrainCompleted.
// - A drain times out leaving mail on a claim: Warning DrainTimedOut, once per claim.
// - Delivering goes False: Warning with its reason (UpstreamUnavailable, ...); back to True: Normal.
import { ConditionType, type SmtpRelayStatus } from '../../api/types.js';
import { getCondition } from '../conditions.js';
import { Reason } from '../reasons.js';
import type { RelayEvent } from '../tls-health/events.js';

export function queueEvents(before: SmtpRelayStatus | undefined, after: SmtpRelayStatus): RelayEvent[] {
  const events: RelayEvent[] = [];
  const wasDraining = before?.queue?.drain;
  const draining = after.queue?.drain;
  if (draining && (!wasDraining || wasDraining.reason !== draining.reason)) {
    events.push({ type: 'Normal', reason: Reason.DrainStarted, message: `Pod(s) ${draining.pods.join(', ')} stopped accepting mail and deliver their queues before ${draining.reason === 'ScaleDown' ? 'the scale-down' : 'the switch to PassThrough'}.` });
  }
  const recorded = new Set((before?.queue?.strandedClaims ?? []).map((c) => c.claim));
  const stranded = (after.queue?.strandedClaims ?? []).filter((c) => !recorded.has(c.claim));
  for (const c of stranded) {
    events.push({
      type: 'Warning',
      reason: Reason.DrainTimedOut,
      message: `The drain timed out: PersistentVolumeClaim ${c.claim} keeps ${c.messages === undefined ? 'mail (its pod could not be read)' : `${c.messages} undelivered messages`}. It is retained; scale back up to deliver it, or delete the claim to discard it.`,
    });
  }
  if (wasDraining && !draining && stranded.length === 0 && (after.queue?.strandedClaims ?? []).length === (before?.queue?.strandedClaims ?? []).length) {
    events.push({ type: 'Normal', reason: Reason.DrainCompleted, message: `Pod(s) ${wasDraining.pods.join(', ')} delivered their queues; the workload was ${wasDraining.reason === 'ScaleDown' ? 'scaled down' : 'replaced'}.` });
  }
  const was = getCondition(before?.conditions, ConditionType.Delivering);
  const now = getCondition(after.conditions, ConditionType.Delivering);
  if (now?.status === 'False' && (was?.status !== 'False' || was.reason !== now.reason)) {
    events.push({ type: 'Warning', reason: now.reason, message: now.message });
  } else if (now?.status === 'True' && was?.status === 'False') {
    events.push({ type: 'Normal', reason: now.reason, message: now.message });
  }
  return events;
}
