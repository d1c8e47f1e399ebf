// Lease-based leader election (coordination.k8s.io/v1), with client-go's
// semantics: acquire when the lease is free or expired, renew with optimistic
// concurrency (resourceVersion), give up leadership when no renewal succeeded
// within renewDeadline, release on graceful shutdown so failover is fast.
//
// Expiry is judged on the local clock from when *we* last saw the lease record
// change (as client-go does), so clock skew between replicas does not matter.
import type { KubeConfig } from './kube-config.js';
import { isConflict, isNotFound, KubeError } from './errors.js';
import { kubeRequest } from './http.js';

export interface LeaseSpec {
  holderIdentity?: string | null;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

export interface Lease {
  apiVersion: 'coordination.k8s.io/v1';
  kind: 'Lease';
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec?: LeaseSpec;
}

export interface LeaderElectionOptions {
  kc: KubeConfig;
  namespace: string;
  /** Lease name. */
  name: string;
  /** This replica's identity (pod name + random suffix). */
  identity: string;
  /** Called once this replica leads (not awaited: it may run for the whole term); `leading` aborts when leadership ends. */
  onStartedLeading: (leading: AbortSignal) => void | Promise<void>;
  /** Called once when leadership ends (lost, or released on shutdown). Stop writing now. */
  onStoppedLeading: () => void;
  /** Called when the observed leader changes (including to ourselves). */
  onNewLeader?: (identity: string) => void;
  /** Abort to stop campaigning / leading (graceful shutdown). */
  signal: AbortSignal;
  /** Default 15. */
  leaseDurationSeconds?: number;
  /** Default 10: leadership is given up when no renewal succeeded for this long. */
  renewDeadlineSeconds?: number;
  /** Default 2. */
  retryPeriodSeconds?: number;
  /** Release the lease when signal aborts while leading. Default true. */
  releaseOnCancel?: boolean;
  /** Failures (other than conflicts) while trying; never thrown. */
  onError?: (err: unknown) => void;
}

/** How the election ended. */
export type LeaderElectionEnd = 'cancelled' | 'lost' | 'released';

/** Kubernetes MicroTime (RFC 3339 with microseconds). Pure. */
export function microTime(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/** Whether a lease held by someone else may be taken now. Pure. */
export function leaseIsFree(spec: LeaseSpec | undefined, observedAtMs: number, nowMs: number): boolean {
  if (!spec?.holderIdentity) return true;
  const durationMs = (spec.leaseDurationSeconds ?? 0) * 1000;
  return observedAtMs + durationMs <= nowMs;
}

const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });

/** Runs the election until the signal aborts or leadership is lost. Rejects only for invalid options. */
export async function runLeaderElection(opts: LeaderElectionOptions): Promise<LeaderElectionEnd> {
  const leaseDurationS = opts.leaseDurationSeconds ?? 15;
  const renewDeadlineMs = (opts.renewDeadlineSeconds ?? 10) * 1000;
  const retryMs = (opts.retryPeriodSeconds ?? 2) * 1000;
  if (!(leaseDurationS * 1000 > renewDeadlineMs && renewDeadlineMs > retryMs && retryMs > 0)) {
    throw new Error('leader election needs leaseDuration > renewDeadline > retryPeriod > 0');
  }
  if (!opts.identity) throw new Error('leader election needs an identity');
  const path = `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(opts.namespace)}/leases/${encodeURIComponent(opts.name)}`;
  const collection = `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(opts.namespace)}/leases`;

  // What we last saw, and when (local clock) it last changed.
  let observed: Lease | undefined;
  let observedAt = 0;
  let leaderSeen = '';
  const observe = (lease: Lease): void => {
    const prev = observed?.spec;
    const next = lease.spec;
    if (!prev || prev.holderIdentity !== next?.holderIdentity || prev.renewTime !== next?.renewTime || observed?.metadata.resourceVersion !== lease.metadata.resourceVersion) {
      observedAt = Date.now();
    }
    observed = lease;
    const holder = next?.holderIdentity ?? '';
    if (holder && holder !== leaderSeen) {
      leaderSeen = holder;
      try {
        opts.onNewLeader?.(holder);
      } catch {
        // a callback must not break the election
      }
    }
  };
  const report = (err: unknown): void => {
    try {
      opts.onError?.(err);
    } catch {
      // ignore
    }
  };

  /** One attempt to acquire or renew; true when we hold the lease afterwards. */
  async function tryAcquireOrRenew(timeoutMs: number): Promise<boolean> {
    const now = new Date();
    let current: Lease | undefined;
    try {
      current = await kubeRequest<Lease>(opts.kc, { method: 'GET', path, timeoutMs });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    if (!current) {
      const created = await kubeRequest<Lease>(opts.kc, {
        method: 'POST',
        path: collection,
        timeoutMs,
        body: {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name: opts.name, namespace: opts.namespace },
          spec: { holderIdentity: opts.identity, leaseDurationSeconds: leaseDurationS, acquireTime: microTime(now), renewTime: microTime(now), leaseTransitions: 0 },
        },
      });
      observe(created);
      return true;
    }
    observe(current);
    const spec = current.spec ?? {};
    const weHold = spec.holderIdentity === opts.identity;
    if (!weHold && !leaseIsFree(spec, observedAt, Date.now())) return false;
    const updated = await kubeRequest<Lease>(opts.kc, {
      method: 'PUT',
      path,
      timeoutMs,
      body: {
        ...current,
        spec: {
          ...spec,
          holderIdentity: opts.identity,
          leaseDurationSeconds: leaseDurationS,
          renewTime: microTime(now),
          acquireTime: weHold && spec.acquireTime ? spec.acquireTime : microTime(now),
          leaseTransitions: weHold ? (spec.leaseTransitions ?? 0) : (spec.leaseTransitions ?? 0) + 1,
        },
      },
    });
    observe(updated);
    return true;
  }

  async function attempt(timeoutMs: number): Promise<boolean> {
    try {
      return await tryAcquireOrRenew(timeoutMs);
    } catch (err) {
      // A 409 means someone else wrote first: not an error, just "not this time".
      if (!isConflict(err)) report(err);
      return false;
    }
  }

  // ---- acquire ----
  for (;;) {
    if (opts.signal.aborted) return 'cancelled';
    if (await attempt(retryMs * 2)) break;
    await sleep(retryMs * (1 + Math.random() * 0.2), opts.signal);
  }

  // ---- lead ----
  const leading = new AbortController();
  let stopped = false;
  const stopLeading = (): void => {
    if (stopped) return;
    stopped = true;
    leading.abort();
    try {
      opts.onStoppedLeading();
    } catch (err) {
      report(err);
    }
  };
  // Not awaited: the callback may run the whole controller; renewals go on meanwhile.
  Promise.resolve()
    .then(() => opts.onStartedLeading(leading.signal))
    .catch(report);

  let lastRenew = Date.now();
  let end: LeaderElectionEnd = 'lost';
  while (!opts.signal.aborted) {
    await sleep(retryMs, opts.signal);
    if (opts.signal.aborted) break;
    const left = renewDeadlineMs - (Date.now() - lastRenew);
    if (left > 0 && (await attempt(Math.max(100, left)))) {
      lastRenew = Date.now();
      continue;
    }
    // Someone else holds it now, or we could not renew within the deadline.
    const takenOver = observed?.spec?.holderIdentity !== opts.identity;
    if (takenOver || Date.now() - lastRenew >= renewDeadlineMs) {
      end = 'lost';
      stopLeading();
      return end;
    }
  }

  // ---- graceful shutdown ----
  end = 'cancelled';
  stopLeading();
  if (opts.releaseOnCancel ?? true) {
    try {
      const current = await kubeRequest<Lease>(opts.kc, { method: 'GET', path, timeoutMs: retryMs * 2 });
      if (current.spec?.holderIdentity === opts.identity) {
        await kubeRequest<Lease>(opts.kc, {
          method: 'PUT',
          path,
          timeoutMs: retryMs * 2,
          body: { ...current, spec: { ...current.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: microTime(new Date()) } },
        });
        end = 'released';
      }
    } catch (err) {
      report(err instanceof KubeError ? err : new Error(`releasing lease ${opts.namespace}/${opts.name}: ${String(err)}`));
    }
  }
  return end;
}
