import { describe, expect, test } from '@jest/globals';
import type { SmtpRelay, SmtpRelayStatus } from '../../../src/api/types.js';
import { conditionTransitions, getCondition, setCondition } from '../../../src/controller/conditions.js';
import { Reason } from '../../../src/controller/reasons.js';
import { computeStatus, statusEqual, type Observed } from '../../../src/controller/status.js';
import { relay } from './fixtures.js';

const t0 = new Date('2026-11-28T10:00:00Z');
const later = (s: number) => new Date(t0.getTime() + s * 1000);
const facts = { notBefore: '2026-11-01T00:00:00Z', notAfter: '2027-02-01T00:00:00Z', fingerprint: 'ab'.repeat(32) };
const byo = () => relay({ tls: { secretName: 'byo-tls' } });

function observedReady(): Observed {
  return {
    problems: [],
    deployment: { generation: 1, observedGeneration: 1, replicas: 1, updatedReplicas: 1, readyReplicas: 1, availableReplicas: 1 },
    tlsSecret: facts,
    probe: { enabled: false },
  };
}
const cond = (s: SmtpRelayStatus, type: string) => getCondition(s.conditions, type)!;
const withStatus = (r: SmtpRelay, status: SmtpRelayStatus): SmtpRelay => ({ ...r, status });

describe('setCondition', () => {
  test('keeps lastTransitionTime when the status does not flip, and moves it when it does', () => {
    let list = setCondition([], { type: 'Ready', status: 'False', reason: 'A', message: 'a' }, t0);
    list = setCondition(list, { type: 'Ready', status: 'False', reason: 'B', message: 'b', observedGeneration: 2 }, later(60));
    expect(list).toEqual([{ type: 'Ready', status: 'False', reason: 'B', message: 'b', observedGeneration: 2, lastTransitionTime: '2026-11-28T10:00:00Z' }]);
    list = setCondition(list, { type: 'Ready', status: 'True', reason: 'Ready', message: 'ok' }, later(120));
    expect(list[0]!.lastTransitionTime).toBe('2026-11-28T10:02:00Z');
  });

  test('conditionTransitions reports status or reason changes only', () => {
    const before = setCondition([], { type: 'Ready', status: 'False', reason: 'A', message: 'a' }, t0);
    expect(conditionTransitions(before, setCondition(before, { type: 'Ready', status: 'False', reason: 'A', message: 'other words' }, t0))).toEqual([]);
    expect(conditionTransitions(before, setCondition(before, { type: 'Ready', status: 'True', reason: 'Ready', message: '' }, t0)).map((t) => t.to.status)).toEqual(['True']);
  });
});

describe('computeStatus', () => {
  test('is Ready with a valid certificate and an available deployment; TLS probing off does not block it', () => {
    const s = computeStatus(byo(), observedReady(), t0);
    expect(cond(s, 'Ready')).toMatchObject({ status: 'True', reason: Reason.Ready, observedGeneration: 1 });
    expect(cond(s, 'Reconciling').status).toBe('False');
    expect(cond(s, 'Stalled').status).toBe('False');
    expect(cond(s, 'CertificateReady')).toMatchObject({ status: 'True', reason: Reason.CertificateValid });
    expect(cond(s, 'Available')).toMatchObject({ status: 'True', reason: Reason.MinimumReplicasAvailable });
    expect(cond(s, 'TLSHealthy')).toMatchObject({ status: 'Unknown', reason: Reason.NotProbed });
    expect(s).toMatchObject({ observedGeneration: 1, replicas: 1, readyReplicas: 1, tlsHealth: 'Unknown' });
    expect(s.certificate).toEqual({ secretName: 'byo-tls', ...facts });
  });

  test('sequence: create -> progressing -> ready -> secret deleted (Stalled) -> restored (Ready)', () => {
    let r = byo();
    // Just created: nothing observed yet.
    let s = computeStatus(r, { problems: [], tlsSecret: facts, probe: { enabled: false } }, t0);
    expect(cond(s, 'Ready').status).toBe('False');
    expect(cond(s, 'Reconciling')).toMatchObject({ status: 'True', reason: Reason.DeploymentRollingOut });
    r = withStatus(r, s);
    // Deployment exists, pods not available yet.
    s = computeStatus(r, { ...observedReady(), deployment: { generation: 1, observedGeneration: 1, replicas: 1, updatedReplicas: 1, availableReplicas: 0 } }, later(5));
    expect(cond(s, 'Ready')).toMatchObject({ status: 'False', reason: Reason.NoReplicasAvailable });
    expect(cond(s, 'Reconciling')).toMatchObject({ status: 'True', reason: Reason.ReplicasUnavailable });
    const notReadySince = cond(s, 'Ready').lastTransitionTime;
    expect(notReadySince).toBe('2026-11-28T10:00:00Z');
    r = withStatus(r, s);
    // Available.
    s = computeStatus(r, observedReady(), later(10));
    expect(cond(s, 'Ready')).toMatchObject({ status: 'True', lastTransitionTime: '2026-11-28T10:00:10Z' });
    expect(cond(s, 'Stalled').lastTransitionTime).toBe('2026-11-28T10:00:00Z');
    r = withStatus(r, s);
    // The Secret is deleted: a human must act.
    const missing = { reason: Reason.SecretNotFound, message: 'Secret byo-tls was not found. Create it.', certificate: true };
    s = computeStatus(r, { ...observedReady(), tlsSecret: undefined, problems: [missing] }, later(20));
    expect(cond(s, 'Stalled')).toMatchObject({ status: 'True', reason: Reason.SecretNotFound, lastTransitionTime: '2026-11-28T10:00:20Z' });
    expect(cond(s, 'Ready')).toMatchObject({ status: 'False', reason: Reason.SecretNotFound });
    expect(cond(s, 'CertificateReady')).toMatchObject({ status: 'False', reason: Reason.SecretNotFound });
    expect(cond(s, 'Reconciling').status).toBe('False');
    r = withStatus(r, s);
    // Restored.
    s = computeStatus(r, observedReady(), later(30));
    expect(cond(s, 'Ready')).toMatchObject({ status: 'True', reason: Reason.Ready, lastTransitionTime: '2026-11-28T10:00:30Z' });
    expect(cond(s, 'Stalled').status).toBe('False');
  });

  test('waits for cert-manager with issuerRef: Reconciling CertificateIssuing, not Stalled', () => {
    const s = computeStatus(relay(), { ...observedReady(), tlsSecret: undefined, certificate: { ready: 'False', message: 'Issuing certificate as Secret does not exist' } }, t0);
    expect(cond(s, 'CertificateReady')).toMatchObject({ status: 'False', reason: Reason.CertificateIssuing });
    expect(cond(s, 'CertificateReady').message).toContain('Issuing certificate as Secret does not exist');
    expect(cond(s, 'Reconciling')).toMatchObject({ status: 'True', reason: Reason.CertificateIssuing });
    expect(cond(s, 'Stalled').status).toBe('False');
    expect(cond(s, 'Ready').status).toBe('False');
    const issued = computeStatus(relay(), { ...observedReady(), certificate: { ready: 'True', renewalTime: '2027-01-01T00:00:00Z' } }, t0);
    expect(cond(issued, 'Ready').status).toBe('True');
    expect(issued.certificate?.renewalTime).toBe('2027-01-01T00:00:00Z');
  });

  test('an expired certificate stalls the relay; one expiring soon only warns', () => {
    const expired = computeStatus(byo(), { ...observedReady(), tlsSecret: { ...facts, notAfter: '2026-11-27T00:00:00Z' } }, t0);
    expect(cond(expired, 'CertificateReady')).toMatchObject({ status: 'False', reason: Reason.CertificateExpired });
    expect(cond(expired, 'Stalled')).toMatchObject({ status: 'True', reason: Reason.CertificateExpired });
    const soon = computeStatus(byo(), { ...observedReady(), tlsSecret: { ...facts, notAfter: '2026-12-05T00:00:00Z' } }, t0);
    expect(cond(soon, 'CertificateReady')).toMatchObject({ status: 'True', reason: Reason.CertificateExpiringSoon });
    expect(cond(soon, 'Ready').status).toBe('True');
    // healthCheck.expiryWarning moves the threshold.
    const custom = computeStatus(relay({ tls: { secretName: 'x' }, healthCheck: { expiryWarning: '24h' } }), { ...observedReady(), tlsSecret: { ...facts, notAfter: '2026-12-05T00:00:00Z' } }, t0);
    expect(cond(custom, 'CertificateReady').reason).toBe(Reason.CertificateValid);
  });

  test('a rollout in progress is Reconciling and not Ready', () => {
    const s = computeStatus(byo(), { ...observedReady(), deployment: { generation: 2, observedGeneration: 1, replicas: 1, updatedReplicas: 1, availableReplicas: 1 } }, t0);
    expect(cond(s, 'Reconciling')).toMatchObject({ status: 'True', reason: Reason.DeploymentRollingOut });
    expect(cond(s, 'Available').status).toBe('True');
    expect(cond(s, 'Ready').status).toBe('False');
  });

  test('with probing on, Ready waits for the first probe and follows TLS health', () => {
    const waiting = computeStatus(byo(), { ...observedReady(), probe: { enabled: true } }, t0);
    expect(cond(waiting, 'Ready')).toMatchObject({ status: 'False', reason: Reason.AwaitingTLSProbe });
    expect(cond(waiting, 'TLSHealthy')).toMatchObject({ status: 'Unknown', reason: Reason.NotProbed });
    const ep = { name: 'submission', port: 587, mode: 'starttls' as const, healthy: true };
    const healthy = computeStatus(byo(), { ...observedReady(), probe: { enabled: true, endpoints: [ep] } }, t0);
    expect(cond(healthy, 'Ready').status).toBe('True');
    expect(healthy.tlsHealth).toBe('Healthy');
    expect(healthy.endpoints).toEqual([ep]);
    // The prober reports kebab-case codes; the CRD wants CamelCase condition reasons.
    const stale = { ...ep, healthy: false, failures: [{ check: 'certificate-fingerprint', result: 'fail' as const, reason: 'stale-certificate-served', message: 'serves an old certificate' }] };
    const bad = computeStatus(byo(), { ...observedReady(), probe: { enabled: true, endpoints: [stale] } }, t0);
    expect(cond(bad, 'TLSHealthy')).toMatchObject({ status: 'False', reason: 'StaleCertificateServed' });
    expect(cond(bad, 'TLSHealthy').message).toContain('submission (port 587): serves an old certificate');
    expect(cond(bad, 'Ready')).toMatchObject({ status: 'False', reason: Reason.TLSUnhealthy });
    expect(bad.tlsHealth).toBe('Unhealthy');
    const warned = computeStatus(byo(), { ...observedReady(), probe: { enabled: true, endpoints: [{ ...ep, failures: [{ check: 'x', result: 'warn', reason: 'weak-cipher-accepted' }] }] } }, t0);
    expect(warned.tlsHealth).toBe('Degraded');
    expect(cond(warned, 'Ready').status).toBe('True');
    expect(cond(warned, 'TLSHealthy')).toMatchObject({ status: 'True', reason: Reason.EndpointsHealthyWithWarnings });
  });

  test('TLSHealthy names the worst failure over all endpoints, always as a CamelCase reason', () => {
    const fail = (reason: string) => ({ check: 'c', result: 'fail' as const, reason, message: reason });
    const endpoints = [
      { name: 'submission', port: 587, mode: 'starttls' as const, healthy: false, failures: [fail('stale-certificate-served')] },
      { name: 'submissions', port: 465, mode: 'implicit' as const, healthy: false, failures: [fail('certificate-expired'), fail('stale-certificate-served')] },
    ];
    const s = computeStatus(byo(), { ...observedReady(), probe: { enabled: true, endpoints } }, t0);
    expect(cond(s, 'TLSHealthy').reason).toBe('CertificateExpired');
    const refused = computeStatus(byo(), { ...observedReady(), probe: { enabled: true, endpoints: [{ ...endpoints[0]!, failures: [fail('tls-handshake-failed')] }, endpoints[1]!] } }, t0);
    expect(cond(refused, 'TLSHealthy').reason).toBe('TLSHandshakeFailed');
    // Every reason matches the CRD's condition reason pattern.
    for (const st of [s, refused]) for (const c of st.conditions!) expect(c.reason).toMatch(/^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/);
  });

  test('probing on but nothing answers yet: TLSHealthy Unknown with the pending reason, Ready waits', () => {
    const s = computeStatus(byo(), { ...observedReady(), probe: { enabled: true, pendingMessage: 'Not probed yet: waiting for an available relay replica.' } }, t0);
    expect(cond(s, 'TLSHealthy')).toMatchObject({ status: 'Unknown', reason: Reason.NotProbed, message: 'Not probed yet: waiting for an available relay replica.' });
    expect(cond(s, 'Ready')).toMatchObject({ status: 'False', reason: Reason.AwaitingTLSProbe });
  });

  test('healthCheck disabled: TLSHealthy Unknown/NotProbed does not block Ready', () => {
    const s = computeStatus(byo(), { ...observedReady(), probe: { enabled: false, disabledMessage: 'TLS health checks are off for this relay (spec.healthCheck.enabled: false).' } }, t0);
    expect(cond(s, 'TLSHealthy')).toMatchObject({ status: 'Unknown', reason: Reason.NotProbed });
    expect(cond(s, 'Ready').status).toBe('True');
  });

  test('replicas 0 is a deliberate stop: Ready (kstatus Current) with reason ScaledToZero, Available False, neither progressing nor stalled', () => {
    const s = computeStatus(relay({ tls: { secretName: 'x' }, replicas: 0 }), { ...observedReady(), deployment: { generation: 1, observedGeneration: 1, replicas: 0, updatedReplicas: 0, availableReplicas: 0 } }, t0);
    expect(cond(s, 'Available')).toMatchObject({ status: 'False', reason: Reason.ScaledToZero });
    expect(cond(s, 'Ready')).toMatchObject({ status: 'True', reason: Reason.ScaledToZero });
    expect(cond(s, 'Reconciling').status).toBe('False');
    expect(cond(s, 'Stalled').status).toBe('False');
  });

  test('every condition carries the generation it was computed for', () => {
    const s = computeStatus(relay({}, 7), observedReady(), t0);
    expect(s.observedGeneration).toBe(7);
    expect(s.conditions!.map((c) => c.observedGeneration)).toEqual([7, 7, 7, 7, 7, 7]);
    expect(s.conditions!.map((c) => c.type)).toEqual(['Ready', 'Reconciling', 'Stalled', 'CertificateReady', 'Available', 'TLSHealthy']);
  });
});

describe('statusEqual', () => {
  test('equal for the same meaning, different for any relevant change', () => {
    const a = computeStatus(byo(), observedReady(), t0);
    // Recomputing later with nothing changed gives an equal status: no patch.
    const again = computeStatus(withStatus(byo(), a), observedReady(), later(300));
    expect(statusEqual(a, again)).toBe(true);
    expect(statusEqual(a, { ...a, conditions: [...a.conditions!].reverse() })).toBe(true);
    expect(statusEqual(a, { ...a, readyReplicas: 0 })).toBe(false);
    expect(statusEqual(a, { ...a, conditions: a.conditions!.map((c) => (c.type === 'Ready' ? { ...c, message: 'changed' } : c)) })).toBe(false);
    expect(statusEqual(undefined, a)).toBe(false);
  });
});
