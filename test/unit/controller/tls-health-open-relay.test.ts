// An open relay found by the probe, through the whole pure chain: probe result ->
// status.endpoints[] -> TLSHealthy/Ready -> Events.
import { describe, expect, test } from '@jest/globals';
import { createLogger } from '../../../src/common/logger.js';
import { computeStatus, type Observed } from '../../../src/controller/status.js';
import { tlsHealthEvents } from '../../../src/controller/tls-health/events.js';
import { TlsHealthScheduler } from '../../../src/controller/tls-health/scheduler.js';
import type { ProbeOptions } from '../../../src/probe/types.js';
import { toEndpointStatus } from '../../../src/probe/endpoint-status.js';
import { renderReport } from '../../../src/probe/report.js';
import type { CheckResult } from '../../../src/probe/types.js';
import { PASSING, probeResult } from '../probe/fixtures.js';
import { relay } from './fixtures.js';

const T0 = Date.parse('2026-11-28T10:00:00Z');
const OPEN: CheckResult = { check: 'open-relay', result: 'fail', reason: 'open-relay', message: 'RCPT TO:<postmaster@open-relay-check.invalid> from an outside sender accepted without AUTH (250 Ok): open relay' };
const CLOSED: CheckResult = { check: 'open-relay', result: 'pass', message: 'MAIL FROM without AUTH refused (530)' };
const STALE: CheckResult = { check: 'certificate-fingerprint', result: 'fail', reason: 'stale-certificate-served', message: 'served x, expected y' };

function observed(...endpoints: { name: string; checks: CheckResult[] }[]): Observed {
  return {
    problems: [],
    deployment: { generation: 1, observedGeneration: 1, replicas: 1, updatedReplicas: 1, readyReplicas: 1, availableReplicas: 1 },
    tlsSecret: { notBefore: '2026-11-01T00:00:00Z', notAfter: '2027-02-01T00:00:00Z', fingerprint: 'ab'.repeat(32) },
    probe: { enabled: true, endpoints: endpoints.map((e) => toEndpointStatus({ name: e.name, probe: probeResult(e.checks) })) },
  };
}
const cond = (s: ReturnType<typeof computeStatus>, type: string) => s.conditions?.find((c) => c.type === type);

describe('an open relay in status and events', () => {
  const r = relay({ tls: { secretName: 'byo' } });
  const healthy = computeStatus(r, observed({ name: 'submission', checks: [...PASSING, CLOSED] }), new Date(T0));
  const open = computeStatus({ ...r, status: healthy }, observed({ name: 'submission', checks: [...PASSING, OPEN] }), new Date(T0 + 60_000));

  test('TLSHealthy=False and Ready=False, both with reason OpenRelay', () => {
    expect(cond(healthy, 'TLSHealthy')).toMatchObject({ status: 'True', reason: 'AllEndpointsHealthy' });
    expect(cond(open, 'TLSHealthy')).toMatchObject({ status: 'False', reason: 'OpenRelay', message: expect.stringContaining('open relay') });
    expect(cond(open, 'Ready')).toMatchObject({ status: 'False', reason: 'OpenRelay' });
    expect(open.endpoints?.[0]).toMatchObject({ healthy: false, failures: [{ check: 'open-relay', result: 'fail', reason: 'open-relay' }] });
  });

  test('OpenRelay outranks every other failure when naming the reason', () => {
    const both = computeStatus(r, observed({ name: 'submission', checks: [...PASSING, STALE] }, { name: 'relay', checks: [...PASSING, OPEN] }), new Date(T0));
    expect(cond(both, 'TLSHealthy')?.reason).toBe('OpenRelay');
  });

  test('a Warning OpenRelay Event on the crossing, once, even when TLSHealthy was already False', () => {
    expect(tlsHealthEvents(healthy, open)).toEqual([
      { type: 'Warning', reason: 'TLSUnhealthy', message: expect.stringMatching(/^OpenRelay: /) },
      { type: 'Warning', reason: 'OpenRelay', message: expect.stringMatching(/^Endpoint submission \(port 587\) is an open relay: .*250 Ok/) },
    ]);
    expect(tlsHealthEvents(open, open)).toEqual([]);
    const stale = computeStatus({ ...r, status: healthy }, observed({ name: 'submission', checks: [...PASSING, STALE] }), new Date(T0));
    const staleAndOpen = computeStatus({ ...r, status: stale }, observed({ name: 'submission', checks: [...PASSING, STALE, OPEN] }), new Date(T0));
    expect(tlsHealthEvents(stale, staleAndOpen).map((e) => e.reason)).toEqual(['OpenRelay']);
  });

  test('the CLI report names it under Checks and What to fix', () => {
    const text = renderReport(probeResult([...PASSING, OPEN]), undefined, 'failing');
    expect(text).toMatch(/FAIL {2}open-relay +\[open-relay\] RCPT TO:<postmaster@open-relay-check\.invalid>/);
    expect(text).toMatch(/- open-relay: .*open relay/);
  });
});

describe('the scheduler tells the probe which listener authorises by address', () => {
  test('the relay listener is probed as an unauthenticated listener, submission ports are not', async () => {
    const seen: ProbeOptions[] = [];
    const sched = new TlsHealthScheduler({
      concurrency: 2,
      logger: createLogger('test', 'error'),
      onProbed: () => undefined,
      probe: async (o) => {
        seen.push(o);
        return probeResult([...PASSING, CLOSED]);
      },
      deepScan: async () => ({ checks: [], startedAt: new Date(T0).toISOString() }) as never,
    });
    const targets = [
      { name: 'submission', host: '127.0.0.1', port: 1587, servicePort: 587, mode: 'starttls' as const },
      { name: 'relay', host: '127.0.0.1', port: 2525, servicePort: 2525, mode: 'starttls' as const },
    ];
    sched.observe({ relay: relay({ tls: { secretName: 'x' } }), targets, servername: 'smtp.example.com', canProbe: true });
    await sched.stop();
    expect(seen.map((o) => [o.port, o.unauthenticatedListener])).toEqual([[1587, false], [2525, true]]);
  });
});
