// Lease leader election against the real API server, with short durations.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { KubeConfig } from '@kubernetes/client-node';
import { kubeRequest } from '../../../src/kube/http.js';
import { microTime, runLeaderElection, type Lease, type LeaderElectionEnd } from '../../../src/kube/leader.js';
import { createTestNamespace, kubeConfig, waitFor, type TestNamespace } from '../../harness/kube.js';

const T = 60_000;

interface Candidate {
  id: string;
  leading: boolean;
  startedAt?: number;
  stoppedAt?: number;
  stop: AbortController;
  done: Promise<LeaderElectionEnd>;
}

describe('leader election (shared control plane)', () => {
  let kc: KubeConfig;
  let ns: TestNamespace;
  let concurrentLeaders = 0;
  let maxConcurrentLeaders = 0;

  function candidate(lease: string, id: string, extra: { leaseDurationSeconds: number; releaseOnCancel?: boolean }): Candidate {
    const stop = new AbortController();
    const c: Candidate = { id, leading: false, stop, done: Promise.resolve('cancelled') };
    c.done = runLeaderElection({
      kc,
      namespace: ns.name,
      name: lease,
      identity: id,
      signal: stop.signal,
      leaseDurationSeconds: extra.leaseDurationSeconds,
      renewDeadlineSeconds: Math.min(2, extra.leaseDurationSeconds - 1),
      retryPeriodSeconds: 0.5,
      releaseOnCancel: extra.releaseOnCancel,
      onStartedLeading: () => {
        c.leading = true;
        c.startedAt = Date.now();
        concurrentLeaders++;
        maxConcurrentLeaders = Math.max(maxConcurrentLeaders, concurrentLeaders);
        // Like a controller: runs for the whole term and never returns.
        return new Promise<void>(() => undefined);
      },
      onStoppedLeading: () => {
        c.leading = false;
        c.stoppedAt = Date.now();
        concurrentLeaders--;
      },
    });
    return c;
  }

  beforeAll(async () => {
    kc = kubeConfig();
    ns = await createTestNamespace('kube-leader');
  }, T);
  afterAll(async () => {
    await ns?.cleanup();
  }, T);

  test('only one leads; after a graceful stop (release) the other takes over before the lease would expire', async () => {
    maxConcurrentLeaders = 0;
    const a = candidate('release', 'a', { leaseDurationSeconds: 15 });
    await waitFor(() => a.leading, { description: 'a to lead' });
    const b = candidate('release', 'b', { leaseDurationSeconds: 15 });
    await new Promise((r) => setTimeout(r, 2000)); // several retry periods
    expect(b.leading).toBe(false);

    const stoppedAt = Date.now();
    a.stop.abort();
    expect(await a.done).toBe('released');
    await waitFor(() => b.leading, { description: 'b to take over the released lease', timeoutMs: 10_000 });
    expect(b.startedAt! - stoppedAt).toBeLessThan(15_000); // failover did not wait for expiry
    expect(maxConcurrentLeaders).toBe(1);

    const lease = await kubeRequest<Lease>(kc, { method: 'GET', path: `/apis/coordination.k8s.io/v1/namespaces/${ns.name}/leases/release` });
    expect(lease.spec?.holderIdentity).toBe('b');
    expect(lease.spec?.leaseTransitions).toBe(1);
    b.stop.abort();
    await b.done;
  }, T);

  test('a leader that dies without releasing is replaced once its lease expires', async () => {
    maxConcurrentLeaders = 0;
    const a = candidate('crash', 'a', { leaseDurationSeconds: 3, releaseOnCancel: false });
    await waitFor(() => a.leading, { description: 'a to lead' });
    const b = candidate('crash', 'b', { leaseDurationSeconds: 3 });
    // Longer than the lease: a keeps renewing although its onStartedLeading never returns.
    await new Promise((r) => setTimeout(r, 4500));
    expect(b.leading).toBe(false);
    expect(a.leading).toBe(true);
    a.stop.abort(); // stops renewing, does not release: like a killed process
    const diedAt = Date.now();
    expect(await a.done).toBe('cancelled');
    await waitFor(() => b.leading, { description: 'b to take over the expired lease', timeoutMs: 15_000 });
    const takeover = b.startedAt! - diedAt;
    // Not before the lease expired (minus one retry period of observation lag), and soon after.
    expect(takeover).toBeGreaterThanOrEqual(2000);
    expect(takeover).toBeLessThan(3000 + 500 + 5000);
    b.stop.abort();
    await b.done;
  }, T);

  test('a leader whose lease is taken stops leading (and must stop writing)', async () => {
    const a = candidate('stolen', 'a', { leaseDurationSeconds: 5 });
    await waitFor(() => a.leading, { description: 'a to lead' });
    const path = `/apis/coordination.k8s.io/v1/namespaces/${ns.name}/leases/stolen`;
    const lease = await kubeRequest<Lease>(kc, { method: 'GET', path });
    await kubeRequest(kc, { method: 'PUT', path, body: { ...lease, spec: { ...lease.spec, holderIdentity: 'intruder', leaseDurationSeconds: 60, renewTime: microTime(new Date()) } } });
    expect(await a.done).toBe('lost');
    expect(a.leading).toBe(false);
    expect(a.stoppedAt).toBeDefined();
  }, T);
});
