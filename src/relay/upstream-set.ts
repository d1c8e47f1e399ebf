// The relay's upstreams: one UpstreamPool per named upstream (its own credentials or OAuth2
// token source, its own CA), each behind a circuit breaker, and the health each one shows
// (GET /queue `upstreams`, metrics). Routes pick their candidates here, in order.
import type { RelayNamedUpstream, RelayRoute } from '../common/relay-config.js';
import type { UpstreamHealth } from '../common/queue-summary.js';
import { CircuitBreaker, type BreakerOptions } from './circuit-breaker.js';
import type { TokenSource } from './oauth2/token-source.js';
import { upstreamText, UpstreamPool, type LeaseRequest, type LeaseResult, type TransactionResult, type UpstreamCredentials, type UpstreamOutcome } from './upstream.js';

/** Failures that say the upstream could not be used at all (no session): they count for the breaker. */
const CONNECTION_LEVEL = new Set(['upstream_unavailable', 'upstream_timeout', 'upstream_auth']);
/** Outcomes that tell nothing about the upstream (our side gave up). */
const NEUTRAL = new Set(['aborted', 'local_error', 'upstream_busy', 'upstream_busy_owner', 'circuit_open']);

/** A failed outcome after which the message may go to the next upstream of its route. */
export function failsOver(o: UpstreamOutcome): boolean {
  if (o.ok || !o.temporary) return false; // 5xx is the answer
  return o.reason !== 'aborted' && o.reason !== 'local_error' && o.reason !== 'upstream_busy_owner';
}

export interface UpstreamInputs {
  credentials?: UpstreamCredentials;
  ca?: Buffer;
  tokenSource?: TokenSource;
}

export interface UpstreamMemberOptions {
  hostname: string;
  breaker: Omit<BreakerOptions, 'now'>;
  perOwnerConcurrency: number;
  onAcquireTimeout: (scope: 'owner' | 'pool') => void;
  now?: () => number;
}

/** One named upstream: its pool, its breaker, its last error. */
export class UpstreamMember {
  readonly name: string;
  readonly pool: UpstreamPool;
  readonly breaker: CircuitBreaker;
  readonly tokenSource: TokenSource | undefined;
  lastError: UpstreamHealth['lastError'];
  private readonly now: () => number;

  constructor(
    readonly config: RelayNamedUpstream,
    inputs: UpstreamInputs,
    o: UpstreamMemberOptions,
  ) {
    this.name = config.name;
    this.now = o.now ?? Date.now;
    this.tokenSource = inputs.tokenSource;
    this.breaker = new CircuitBreaker({ ...o.breaker, now: this.now });
    this.pool = new UpstreamPool({
      config,
      hostname: o.hostname,
      credentials: inputs.credentials,
      ca: inputs.ca,
      tokenSource: inputs.tokenSource,
      perOwnerConcurrency: o.perOwnerConcurrency,
      onAcquireTimeout: o.onAcquireTimeout,
    });
  }

  /**
   * A pool connection, if the breaker lets a transaction through (`force`: even when open,
   * for a route whose every upstream is open). A connection that cannot be made counts as a
   * breaker failure; the transaction's end is reported with report().
   */
  async lease(req: LeaseRequest, force = false): Promise<LeaseResult> {
    if (!force && !this.breaker.tryAcquire()) return { ok: false, code: 451, temporary: true, reason: 'circuit_open', message: `4.4.1 Upstream ${this.name} unavailable (circuit open), try again later` };
    const r = await this.pool.lease(req);
    if (!r.ok) this.report(r);
    return r;
  }

  /** Records how a transaction (or a lease) ended: for the breaker and the health. */
  report(o: UpstreamOutcome | TransactionResult): void {
    const failed = 'ok' in o ? (o.ok ? undefined : o) : o.kind === 'failed' ? o : undefined;
    if (!failed) {
      this.breaker.onSuccess();
      this.lastError = undefined;
      return;
    }
    if (NEUTRAL.has(failed.reason)) return this.breaker.onAbandon();
    const code = 'ok' in failed ? (CONNECTION_LEVEL.has(failed.reason) ? undefined : failed.code) : failed.code;
    const text = 'ok' in failed ? failed.message : failed.response ? upstreamText(failed.response) : failed.message;
    this.lastError = {
      ...(code !== undefined ? { code } : {}),
      message: text.slice(0, 300),
      at: new Date(this.now()).toISOString(),
      reason: healthReason(failed.reason),
      ...('ok' in failed && failed.oauthError ? { oauthError: failed.oauthError } : {}),
    };
    if (failed.reason === 'upstream_auth' && this.tokenSource) {
      const oauth = this.tokenSource.stats().lastErrorCode;
      if (oauth && this.lastError) this.lastError.oauthError ??= oauth;
    }
    if (CONNECTION_LEVEL.has(failed.reason)) this.breaker.onFailure();
    else this.breaker.onSuccess(); // it answered: it is up, whatever it thought of the message
  }

  health(): UpstreamHealth {
    const h: UpstreamHealth = { name: this.name, state: this.breaker.state };
    if (this.lastError) h.lastError = { ...this.lastError };
    return h;
  }
}

function healthReason(reason: string): NonNullable<UpstreamHealth['lastError']>['reason'] {
  switch (reason) {
    case 'upstream_auth':
      return 'UpstreamAuthFailed';
    case 'upstream_timeout':
      return 'UpstreamTimeout';
    case 'upstream_unavailable':
      return 'UpstreamUnreachable';
    default:
      return 'UpstreamDeferred'; // a 4xx reply (message, recipient or throttling)
  }
}

export class UpstreamSet {
  readonly members = new Map<string, UpstreamMember>();

  add(member: UpstreamMember): void {
    this.members.set(member.name, member);
  }

  get(name: string): UpstreamMember {
    const m = this.members.get(name);
    if (!m) throw new Error(`no upstream named ${name}`);
    return m;
  }

  /**
   * The route's upstreams to try, in order: those whose breaker lets a transaction through.
   * When every one is open, the least recently failed one alone, forced (a route never
   * refuses all mail on the breakers' word only: with one upstream, or all down, every
   * message still tries one; the breaker only keeps mail off an upstream while another can
   * take it).
   */
  candidates(route: RelayRoute): Array<{ member: UpstreamMember; force: boolean }> {
    const all = route.upstreams.map((n) => this.get(n));
    const open = all.filter((m) => m.breaker.available);
    if (open.length > 0) return open.map((member) => ({ member, force: false }));
    const oldest = all.reduce((a, b) => (b.breaker.lastFailureAt < a.breaker.lastFailureAt ? b : a));
    return [{ member: oldest, force: true }];
  }

  health(): UpstreamHealth[] {
    return [...this.members.values()].map((m) => m.health());
  }

  close(): void {
    for (const m of this.members.values()) m.pool.close();
  }
}
