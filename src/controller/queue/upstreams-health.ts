// The UpstreamsHealthy condition, from the relays' GET /queue summaries (`upstreams`: each
// upstream's circuit breaker and last error). Pure. Quiet by construction: the message carries
// upstream names, breaker states, reasons and error codes only (an SMTP reply code, an
// enhanced status code, an errno name, an OAuth error code), never times, counters, reply text
// or anything that changes while nothing changes (the churn rule).
import { ConditionType } from '../../api/types.js';
import type { UpstreamHealth } from '../../common/queue-summary.js';
import type { ConditionInput } from '../conditions.js';
import { Reason } from '../reasons.js';
import type { ObservedQueuePod } from './drain.js';

type BreakerState = UpstreamHealth['state'];
type FailureReason = typeof Reason.UpstreamAuthFailed | typeof Reason.UpstreamUnavailable | typeof Reason.UpstreamRejecting;

/**
 * The breaker as status shows it. Half-open is reported as open: an open breaker turns
 * half-open when its cool-down ends, by time alone, and status must not change by time alone.
 */
type BreakerBucket = 'open' | 'closed';

export interface FailingUpstream {
  name: string;
  /** The worst breaker state over the pods: open (or half-open), then closed (its last transaction failed). */
  state: BreakerBucket;
  reason: FailureReason;
  /** Stable codes only: SMTP reply code, enhanced status code, errno name, OAuth error code. */
  codes: string[];
}

const STATE_RANK: Record<BreakerBucket, number> = { closed: 0, open: 1 };
const bucket = (s: BreakerState): BreakerBucket => (s === 'closed' ? 'closed' : 'open');
/** Which reason names the condition when several upstreams fail: a login refused needs a human first. */
const REASON_RANK: FailureReason[] = [Reason.UpstreamAuthFailed, Reason.UpstreamUnavailable, Reason.UpstreamRejecting];

function failureReason(e: UpstreamHealth['lastError']): FailureReason {
  if (!e) return Reason.UpstreamUnavailable;
  if (e.reason === 'UpstreamAuthFailed') return Reason.UpstreamAuthFailed;
  if (e.reason === 'UpstreamDeferred' || (e.code !== undefined && e.code >= 400)) return Reason.UpstreamRejecting;
  return Reason.UpstreamUnavailable;
}

/**
 * Failing: its breaker is not closed, or its last transaction failed and nothing succeeded
 * since (a throttling 4xx does not open the breaker: the upstream answered). A 5xx is about
 * one message, not the upstream: it does not count.
 */
function isFailing(u: UpstreamHealth): boolean {
  if (u.state !== 'closed') return true;
  const e = u.lastError;
  return e !== undefined && !(e.code !== undefined && e.code >= 500);
}

/** The stable parts of an error: never its text, which may carry ids, addresses or times. */
export function errorCodes(e: UpstreamHealth['lastError']): string[] {
  if (!e) return [];
  const codes: string[] = [];
  if (e.oauthError && /^[a-z0-9_]{1,64}$/.test(e.oauthError)) codes.push(e.oauthError);
  // A refused login is reported with the relay's own 451 4.4.1: only the OAuth2 code says more.
  if (e.reason === 'UpstreamAuthFailed') return codes;
  if (e.reason === 'UpstreamUnreachable' || e.reason === 'UpstreamTimeout') {
    // The text is the relay's own (4.4.1 / 4.4.2): say which, and the errno name when it carries one.
    codes.push(e.reason === 'UpstreamTimeout' ? 'timeout' : 'unreachable');
    const errno = /\b(E[A-Z]{3,}[A-Z_]*)\b/.exec(e.message)?.[1];
    if (errno) codes.push(errno);
    return codes;
  }
  // The upstream answered: its reply code and enhanced status code.
  if (e.code !== undefined) codes.push(String(e.code));
  const enhanced = /\b([245]\.\d{1,3}\.\d{1,3})\b/.exec(e.message)?.[1];
  if (enhanced) codes.push(enhanced);
  return codes;
}

/** Upstreams failing in some pod, by name, with their worst state and last error. */
export function failingUpstreams(pods: ObservedQueuePod[]): FailingUpstream[] {
  const byName = new Map<string, FailingUpstream>();
  for (const pod of [...pods].sort((a, b) => a.name.localeCompare(b.name))) {
    for (const u of pod.summary?.upstreams ?? []) {
      if (!isFailing(u)) continue;
      const seen = byName.get(u.name);
      const candidate: FailingUpstream = { name: u.name, state: bucket(u.state), reason: failureReason(u.lastError), codes: errorCodes(u.lastError) };
      // Keep the worst state; at equal state the more serious reason (pods sorted by name: deterministic).
      const [now, before] = [STATE_RANK[candidate.state], seen ? STATE_RANK[seen.state] : -1];
      if (!seen || now > before || (now === before && REASON_RANK.indexOf(candidate.reason) < REASON_RANK.indexOf(seen.reason))) {
        byName.set(u.name, candidate);
      }
    }
  }
  return [...byName.values()].sort((a, b) => a.name.localeCompare(b.name));
}

function describe(f: FailingUpstream): string {
  const codes = f.codes.length > 0 ? `: ${f.codes.join(' ')}` : '';
  return `${f.name} (breaker ${f.state}, ${f.reason}${codes})`;
}

const HINT: Record<FailureReason, string> = {
  [Reason.UpstreamAuthFailed]: 'the upstream or its token endpoint refused the login: check the credentials Secret or the OAuth2 app (docs/troubleshooting.md)',
  [Reason.UpstreamUnavailable]: 'the relay cannot reach it (connection, TLS or timeout)',
  [Reason.UpstreamRejecting]: 'it answers with temporary errors (4xx), such as throttling',
};

/** True when every upstream's breaker is closed and its last transaction succeeded, in every pod that answered; False names the failing ones. */
export function upstreamsHealthyCondition(pods: ObservedQueuePod[]): ConditionInput {
  const type = ConditionType.UpstreamsHealthy;
  const reporting = pods.filter((p) => p.summary?.upstreams);
  if (reporting.length === 0) {
    return {
      type,
      status: 'Unknown',
      reason: Reason.UpstreamsNotObserved,
      message: pods.some((p) => p.summary) ? 'The relays do not report their upstreams (an older relay image).' : 'The relays\' upstreams have not been read yet (GET /queue on each pod\'s metrics port).',
    };
  }
  const failing = failingUpstreams(reporting);
  if (failing.length === 0) {
    const names = [...new Set(reporting.flatMap((p) => p.summary!.upstreams!.map((u) => u.name)))].sort();
    return { type, status: 'True', reason: Reason.UpstreamsAvailable, message: `Every upstream takes mail: ${names.join(', ')}.` };
  }
  const worst = [...failing].sort((a, b) => REASON_RANK.indexOf(a.reason) - REASON_RANK.indexOf(b.reason))[0]!;
  return {
    type,
    status: 'False',
    reason: worst.reason,
    message:
      `Failing upstream${failing.length > 1 ? 's' : ''}: ${failing.map(describe).join('; ')}. ${worst.name}: ${HINT[worst.reason]}. ` +
      'Mail moves on to the next upstream of its route while a breaker is open; with none left it waits in the queue (Durable) or gets 451 (PassThrough).',
  };
}
