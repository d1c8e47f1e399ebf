// The Delivering condition and the Queue printer column, from the relays' GET /queue
// summaries. Pure. Status stays quiet: ages go into buckets, depths never appear, so a
// queue that merely moves writes nothing (the churn rule of tls-health/churn.ts).
import { ConditionType, type QueueState, type QueueStatus, type StrandedClaim } from '../../api/types.js';
import type { ConditionInput } from '../conditions.js';
import { Reason } from '../reasons.js';
import type { ObservedQueuePod } from './drain.js';

/** Oldest message older than this (seconds): the queue shows Backlog. */
export const BACKLOG_AGE_S = 60;
/** Deferred mail older than this, or any mail older than STALE_AGE_S: Stuck. */
export const STUCK_AGE_S = 5 * 60;
export const STALE_AGE_S = 60 * 60;
/** Mail older than this with no failed attempt: Delivering False, QueueBacklog (a slow upstream). */
export const SLOW_AGE_S = 15 * 60;

export interface QueueObservation {
  durable: boolean;
  /** Every relay pod of either workload, with its latest summary. */
  pods: ObservedQueuePod[];
  drain?: QueueStatus['drain'];
  stranded: StrandedClaim[];
  /** spec.replicas, for the stranded message. */
  desiredReplicas: number;
}

const BUCKETS: [number, string][] = [
  [86_400, '1 day'],
  [6 * 3600, '6 hours'],
  [3600, '1 hour'],
  [15 * 60, '15 minutes'],
  [5 * 60, '5 minutes'],
  [60, '1 minute'],
];

/** "over 1 hour": a bucket, so the text does not change while the age merely grows within it. */
export function ageBucket(seconds: number): string {
  const b = BUCKETS.find(([s]) => seconds >= s);
  return b ? `over ${b[1]}` : 'under 1 minute';
}

const summaries = (pods: ObservedQueuePod[]) => pods.flatMap((p) => (p.summary ? [{ pod: p.name, s: p.summary }] : []));

export function queueState(q: QueueObservation): QueueState {
  if (q.drain) return 'Draining';
  if (q.stranded.length > 0) return 'Stranded';
  if (!q.durable) return 'PassThrough';
  const all = summaries(q.pods).map((x) => x.s);
  if (all.length === 0) return 'Unknown';
  if (all.some((s) => (s.deferred > 0 && s.oldestAgeSeconds >= STUCK_AGE_S) || s.oldestAgeSeconds >= STALE_AGE_S)) return 'Stuck';
  if (all.some((s) => s.deferred > 0 || s.oldestAgeSeconds >= BACKLOG_AGE_S)) return 'Backlog';
  return 'Empty';
}

function strandedMessage(q: QueueObservation): string {
  const list = q.stranded.map((c) => `${c.claim} (${c.messages === undefined ? 'its pod could not be read' : `${c.messages} messages`}, since ${c.strandedTime})`).join(', ');
  const ordinals = q.stranded.map((c) => Number(/-(\d+)$/.exec(c.claim)?.[1] ?? 0));
  const back = Math.max(...ordinals) + 1;
  return (
    `A drain timed out and left undelivered mail on PersistentVolumeClaim(s) ${list}. ` +
    `Set spec.queue.mode Durable and spec.replicas to at least ${back} to deliver it (the relay delivers what its claim holds when it starts), or delete the claim to discard the mail.`
  );
}

/** Delivering: False names the upstream's last error; True when mail flows. */
export function deliveringCondition(q: QueueObservation): ConditionInput {
  const type = ConditionType.Delivering;
  if (q.stranded.length > 0) return { type, status: 'False', reason: Reason.QueueStranded, message: strandedMessage(q) };
  const seen = summaries(q.pods);
  if (seen.length === 0) {
    return { type, status: 'Unknown', reason: Reason.QueueNotObserved, message: 'The relays\' queues have not been read yet (GET /queue on each pod\'s metrics port).' };
  }
  const oldest = Math.max(...seen.map((x) => x.s.oldestAgeSeconds));
  // Durable: a failed last attempt matters while mail waits for it; pass-through: the client just got it.
  const failing = seen
    .filter((x) => x.s.lastError && (x.s.mode === 'pass-through' || x.s.deferred > 0))
    .sort((a, b) => a.pod.localeCompare(b.pod));
  const first = failing[0];
  if (first) {
    const e = first.s.lastError!;
    const unreachable = e.code === undefined || e.code < 400;
    const said = unreachable ? `could not be reached: ${e.message}` : `answered: ${e.message}`;
    const impact = q.durable
      ? `Mail waits in the queue (oldest ${ageBucket(oldest)}) and is retried with backoff.`
      : 'Clients get a temporary error (451) and must retry: spec.queue.mode PassThrough keeps no queue.';
    return { type, status: 'False', reason: unreachable ? Reason.UpstreamUnavailable : Reason.UpstreamRejecting, message: `The upstream ${e.upstream} ${said}. ${impact}` };
  }
  if (q.durable && oldest >= SLOW_AGE_S) {
    return {
      type,
      status: 'False',
      reason: Reason.QueueBacklog,
      message: `Mail waits in the queue for ${ageBucket(oldest)} although no delivery attempt failed: the upstream accepts more slowly than mail arrives. See smtp_relay_queue_depth on the relays.`,
    };
  }
  return {
    type,
    status: 'True',
    reason: Reason.UpstreamAccepting,
    message: q.durable ? 'The upstream accepts mail; nothing waits longer than a few minutes.' : 'The upstream accepted the last message each relay passed on.',
  };
}
