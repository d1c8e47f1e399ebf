// GitOps tools judge an SmtpRelay by kstatus rules (Flux `wait: true`, Config
// Sync, kpt) or by CEL expressions (Flux healthCheckExprs, docs/flux.md).
// Here the operator's real computeStatus drives one relay through create,
// update, failure and recovery, and at each step the status it writes must
// read the way a GitOps tool should see it.
import { describe, expect, test } from '@jest/globals';
import type { EndpointStatus, SmtpRelay, SmtpRelayStatus } from '../../../src/api/types.js';
import { computeStatus, type Observed } from '../../../src/controller/status.js';
import { fluxCelHealth, kstatus } from './kstatus.js';

const T0 = new Date('2026-11-28T12:00:00Z');
const later = (minutes: number) => new Date(T0.getTime() + minutes * 60_000);

function relay(generation: number, status?: SmtpRelayStatus): SmtpRelay {
  return {
    apiVersion: 'smtprelay.dev/v1alpha1',
    kind: 'SmtpRelay',
    metadata: { name: 'outbound', namespace: 'mail', uid: 'u-1', generation },
    spec: {
      hostname: 'smtp.example.com',
      replicas: 2,
      tls: { issuerRef: { name: 'letsencrypt', kind: 'ClusterIssuer' } },
      upstream: { host: 'email-smtp.eu-west-1.amazonaws.com', port: 587, tls: 'starttls' },
    },
    ...(status ? { status } : {}),
  };
}

const healthyEndpoints: EndpointStatus[] = [
  { name: 'submission', port: 587, mode: 'starttls', healthy: true },
  { name: 'submissions', port: 465, mode: 'implicit', healthy: true },
];
const secretFacts = { notBefore: '2026-11-01T00:00:00Z', notAfter: '2027-01-30T00:00:00Z', fingerprint: 'ab'.repeat(32) };
const rolledOut = (gen: number) => ({ generation: gen, observedGeneration: gen, replicas: 2, updatedReplicas: 2, readyReplicas: 2, availableReplicas: 2 });

const observedReady = (deploymentGen = 1): Observed => ({
  problems: [],
  deployment: rolledOut(deploymentGen),
  certificate: { ready: 'True' },
  tlsSecret: secretFacts,
  probe: { enabled: true, endpoints: healthyEndpoints },
});

/** One reconcile: the operator writes computeStatus' output through the status subresource. */
function reconcile(current: SmtpRelay, observed: Observed, now: Date): SmtpRelay {
  return { ...current, status: computeStatus(current, observed, now) };
}

const ready = (r: SmtpRelay) => r.status?.conditions?.find((c) => c.type === 'Ready');

describe('kstatus reading of the operator-written status', () => {
  test('create: a bare object is Current to kstatus, so the first reconcile must mark it in progress', () => {
    const created = relay(1);
    // kstatus' documented leniency for custom resources: nothing to say means Current.
    expect(kstatus(created).status).toBe('Current');
    // Flux CEL (docs/flux.md) is strict: no observedGeneration, no Ready -> InProgress.
    expect(fluxCelHealth(created)).toBe('InProgress');

    const first = reconcile(created, { problems: [], probe: { enabled: true } }, T0);
    expect(first.status?.observedGeneration).toBe(1);
    expect(kstatus(first)).toEqual({ status: 'InProgress', message: expect.stringContaining('cert-manager') });
    expect(fluxCelHealth(first)).toBe('InProgress');
    expect(ready(first)?.status).toBe('False');
  });

  test('create: certificate issued, pods rolling out, then first TLS probe -> Current only when all done', () => {
    let r = reconcile(relay(1), { problems: [], probe: { enabled: true } }, T0);
    r = reconcile(r, { problems: [], certificate: { ready: 'True' }, tlsSecret: secretFacts, deployment: { generation: 1, observedGeneration: 1, replicas: 2, updatedReplicas: 1, availableReplicas: 0 }, probe: { enabled: true } }, later(1));
    expect(kstatus(r).status).toBe('InProgress');
    r = reconcile(r, { ...observedReady(), probe: { enabled: true } }, later(2));
    expect(kstatus(r)).toEqual({ status: 'InProgress', message: expect.stringContaining('TLS probe') });
    r = reconcile(r, observedReady(), later(3));
    expect(kstatus(r)).toEqual({ status: 'Current', message: 'Resource is Ready' });
    expect(fluxCelHealth(r)).toBe('Current');
    expect(ready(r)?.status).toBe('True');
  });

  test('update: a new generation is InProgress until observed and rolled out, then Current again', () => {
    const v1 = reconcile(relay(1), observedReady(), T0);
    expect(kstatus(v1).status).toBe('Current');
    const edited = { ...v1, metadata: { ...v1.metadata, generation: 2 } };
    expect(kstatus(edited)).toEqual({ status: 'InProgress', message: 'SmtpRelay generation is 2, but latest observed generation is 1' });
    expect(fluxCelHealth(edited)).toBe('InProgress');

    const rolling = reconcile(edited, { ...observedReady(), deployment: { generation: 2, observedGeneration: 2, replicas: 3, updatedReplicas: 1, availableReplicas: 2 } }, later(1));
    expect(rolling.status?.observedGeneration).toBe(2);
    expect(kstatus(rolling).status).toBe('InProgress');
    const done = reconcile(rolling, observedReady(2), later(2));
    expect(kstatus(done).status).toBe('Current');
    expect(fluxCelHealth(done)).toBe('Current');
  });

  test('failure: a missing Secret stalls the relay (Failed), recovery makes it Current and moves Ready.lastTransitionTime', () => {
    const ok = reconcile(relay(1), observedReady(), T0);
    const readySince = ready(ok)?.lastTransitionTime;
    const broken = reconcile(ok, { ...observedReady(), problems: [{ reason: 'SecretNotFound', message: 'Secret outbound-users does not exist. Create it.' }] }, later(5));
    expect(kstatus(broken)).toEqual({ status: 'Failed', message: 'Secret outbound-users does not exist. Create it.' });
    expect(fluxCelHealth(broken)).toBe('Failed');
    expect(ready(broken)).toMatchObject({ status: 'False', reason: 'SecretNotFound' });

    const recovered = reconcile(broken, observedReady(), later(10));
    expect(kstatus(recovered).status).toBe('Current');
    expect(fluxCelHealth(recovered)).toBe('Current');
    expect(ready(recovered)?.lastTransitionTime).not.toBe(readySince);
    expect(ready(recovered)?.lastTransitionTime).toBe('2026-11-28T12:10:00Z');
  });

  test('failure: an expired certificate is Failed, not an endless InProgress', () => {
    const expired = reconcile(relay(1), { ...observedReady(), tlsSecret: { ...secretFacts, notAfter: '2026-11-20T00:00:00Z' } }, T0);
    expect(kstatus(expired).status).toBe('Failed');
    expect(fluxCelHealth(expired)).toBe('Failed');
  });

  test('TLS probe failing: Ready=False without Stalled is InProgress (a GitOps wait times out rather than passing)', () => {
    const endpoints: EndpointStatus[] = [{ ...healthyEndpoints[0]!, healthy: false, failures: [{ check: 'certificate', result: 'fail', reason: 'StaleCertificateServed', message: 'served certificate differs from the Secret' }] }, healthyEndpoints[1]!];
    const unhealthy = reconcile(relay(1), { ...observedReady(), probe: { enabled: true, endpoints } }, T0);
    expect(ready(unhealthy)).toMatchObject({ status: 'False', reason: 'TLSUnhealthy' });
    expect(kstatus(unhealthy)).toEqual({ status: 'InProgress', message: expect.stringContaining('TLS checks failed') });
    expect(fluxCelHealth(unhealthy)).toBe('InProgress');
  });

  test('deletion is Terminating', () => {
    const r = reconcile(relay(1), observedReady(), T0);
    expect(kstatus({ ...r, metadata: { ...r.metadata, deletionTimestamp: '2026-11-28T12:30:00Z' } }).status).toBe('Terminating');
  });
});
