// The TLS-health scheduler's rules with an injected clock, random source and prober:
// next-due computation, jitter bounds, deep-scan triggers, status churn, events and
// metric series. The prober itself is tested against real servers elsewhere.
import { describe, expect, test } from '@jest/globals';
import { Registry } from 'prom-client';
import type { EndpointStatus, SmtpRelayStatus } from '../../../src/api/types.js';
import { createLogger } from '../../../src/common/logger.js';
import type { DeepScanResult, ProbeOptions, ProbeResult } from '../../../src/probe/index.js';
import { computeStatus, type Observed } from '../../../src/controller/status.js';
import {
  DEEP_SCAN_MAX_AGE_MS,
  HEARTBEAT_MS,
  ProbeMetrics,
  TlsHealthScheduler,
  deepKey,
  jitteredInterval,
  parseAddress,
  plan,
  probeKey,
  probeTargets,
  started,
  statusWriteDecision,
  tlsHealthEvents,
  type ScheduleState,
} from '../../../src/controller/tls-health/index.js';
import { healthyEndpoint, relay } from './fixtures.js';

const T0 = Date.parse('2026-11-28T10:00:00Z');
const MIN = 60_000;

describe('schedule', () => {
  const input = (now: number, gen = 1, fp = 'aa') => ({ now, probeKey: probeKey(gen, fp, ['submission=mail.team-a.svc:587']), deepKey: deepKey(gen, fp) });

  test('the first observation probes and deep-scans at once', () => {
    expect(plan({}, input(T0))).toEqual({ probe: true, deep: true, dueInMs: 0 });
  });

  test('the next probe is due one jittered interval after the last one started', () => {
    const i = input(T0);
    const s = started({}, i, plan({}, i), MIN, () => 0.5); // random 0.5 = no jitter
    expect(s.nextDueAt).toBe(T0 + MIN);
    expect(plan(s, input(T0 + 20_000))).toEqual({ probe: false, deep: false, dueInMs: 40_000 });
    expect(plan(s, input(T0 + MIN))).toMatchObject({ probe: true, deep: false });
  });

  test('jitter stays within ±10% of the interval', () => {
    expect(jitteredInterval(MIN, () => 0)).toBe(54_000);
    expect(jitteredInterval(MIN, () => 0.999999)).toBeLessThanOrEqual(66_000);
    expect(jitteredInterval(MIN, () => 0.999999)).toBeGreaterThan(65_999);
    for (let r = 0; r < 1; r += 0.01) {
      const v = jitteredInterval(MIN, () => r);
      expect(v).toBeGreaterThanOrEqual(54_000);
      expect(v).toBeLessThanOrEqual(66_000);
    }
  });

  test('a new spec generation or a new Secret certificate makes a probe and a deep scan due at once', () => {
    const i = input(T0);
    const s = started({}, i, plan({}, i), MIN, () => 0.5);
    expect(plan(s, input(T0 + 1000, 2, 'aa'))).toEqual({ probe: true, deep: true, dueInMs: 0 });
    expect(plan(s, input(T0 + 1000, 1, 'bb'))).toEqual({ probe: true, deep: true, dueInMs: 0 });
  });

  test('a new probe address makes a probe due at once, but no deep scan', () => {
    const i = input(T0);
    const s = started({}, i, plan({}, i), MIN, () => 0.5);
    const moved = { ...input(T0 + 1000), probeKey: probeKey(1, 'aa', ['submission=127.0.0.1:40000']) };
    expect(plan(s, moved)).toEqual({ probe: true, deep: false, dueInMs: 0 });
  });

  test('the deep scan repeats daily', () => {
    let s: ScheduleState = {};
    let now = T0;
    let deeps = 0;
    // Probe every minute for 25 hours: exactly 2 deep scans (at the start and after 24h).
    for (; now < T0 + 25 * 3_600_000; now += MIN) {
      const p = plan(s, input(now));
      if (p.probe) s = started(s, input(now), p, MIN, () => 0.5);
      if (p.deep) deeps++;
    }
    expect(deeps).toBe(2);
    expect(s.lastDeepAt).toBe(T0 + DEEP_SCAN_MAX_AGE_MS);
  });

  test('the daily deep scan is jittered by ±10 %, so relays created together spread their next deep scans over ±2.4 h', () => {
    const day = DEEP_SCAN_MAX_AGE_MS;
    for (const [random, after] of [[0, 0.9 * day], [0.999999, 1.1 * day]] as const) {
      let s: ScheduleState = started({}, input(T0), plan({}, input(T0)), MIN, () => random);
      expect(s.nextDeepAt).toBeCloseTo(T0 + after, -3);
      // Probe every minute: the first cycle at or after nextDeepAt carries the deep scan, none before.
      let firstDeep: number | undefined;
      for (let now = T0 + MIN; now <= T0 + 1.2 * day && firstDeep === undefined; now += MIN) {
        const p = plan(s, input(now));
        if (p.deep) firstDeep = now;
        if (p.probe) s = started(s, input(now), p, MIN, () => random);
      }
      expect(firstDeep! - (T0 + after)).toBeGreaterThanOrEqual(0);
      expect(firstDeep! - (T0 + after)).toBeLessThan(2 * MIN);
    }
  });
});

describe('targets', () => {
  const svc = (annotations?: Record<string, string>) => ({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'mail', namespace: 'team-a', annotations } });

  test('Service DNS name and Service port per enabled listener', () => {
    const r = probeTargets(relay({ listeners: { relay: { enabled: true, allowedNetworks: ['10.0.0.0/8'], allowedSenderDomains: ['example.com'] } } }), undefined, false);
    expect(r).toEqual({
      ok: true,
      targets: [
        { name: 'submission', host: 'mail.team-a.svc', port: 587, servicePort: 587, mode: 'starttls' },
        { name: 'submissions', host: 'mail.team-a.svc', port: 465, servicePort: 465, mode: 'implicit' },
        // The relay listener is only on its own ClusterIP Service.
        { name: 'relay', host: 'mail-internal.team-a.svc', port: 2525, servicePort: 2525, mode: 'starttls' },
      ],
    });
  });

  test('--probe-local-endpoints reads the Service annotation, and says what is missing', () => {
    const ok = probeTargets(relay(), svc({ 'local.smtprelay.dev/endpoints': JSON.stringify({ submission: '127.0.0.1:40001', submissions: '127.0.0.1:40002' }) }), true);
    expect(ok).toEqual({ ok: true, targets: [{ name: 'submission', host: '127.0.0.1', port: 40001, servicePort: 587, mode: 'starttls' }, { name: 'submissions', host: '127.0.0.1', port: 40002, servicePort: 465, mode: 'implicit' }] });
    expect(probeTargets(relay(), svc(), true)).toMatchObject({ ok: false, why: expect.stringContaining('no local.smtprelay.dev/endpoints annotation') });
    expect(probeTargets(relay(), svc({ 'local.smtprelay.dev/endpoints': '{' }), true)).toMatchObject({ ok: false, why: expect.stringContaining('not JSON') });
    expect(probeTargets(relay(), svc({ 'local.smtprelay.dev/endpoints': '{"submission":"127.0.0.1:1"}' }), true)).toMatchObject({ ok: false, why: expect.stringContaining('listener submissions') });
    expect(parseAddress('[::1]:25')).toEqual({ host: '::1', port: 25 });
    expect(parseAddress('127.0.0.1:99999')).toBeUndefined();
  });
});

// ---- status churn ----

const ep = healthyEndpoint;

function observed(endpoints: EndpointStatus[]): Observed {
  return {
    problems: [],
    deployment: { generation: 1, observedGeneration: 1, replicas: 1, updatedReplicas: 1, readyReplicas: 1, availableReplicas: 1 },
    tlsSecret: { notBefore: '2026-11-01T00:00:00Z', notAfter: '2027-02-01T00:00:00Z', fingerprint: 'ab'.repeat(32) },
    probe: { enabled: true, endpoints },
  };
}

describe('status churn', () => {
  const r = relay({ tls: { secretName: 'byo' } });
  const first = computeStatus(r, observed([ep()]), new Date(T0));
  const stored: SmtpRelayStatus = first;
  const at = (ms: number, over: Partial<EndpointStatus> = {}) =>
    computeStatus({ ...r, status: stored }, observed([ep({ lastProbeTime: new Date(T0 + ms).toISOString(), latencyMilliseconds: 12 + (ms % 7), ...over })]), new Date(T0 + ms));

  test('the first status is written', () => {
    expect(statusWriteDecision(undefined, first)).toEqual({ write: true, why: 'changed' });
  });

  test('the same outcome again, with new latency and probe time: no write', () => {
    expect(statusWriteDecision(stored, at(MIN))).toEqual({ write: false });
    expect(statusWriteDecision(stored, at(9 * MIN))).toEqual({ write: false });
  });

  test('a changed cipher or a new failure is written at once', () => {
    expect(statusWriteDecision(stored, at(MIN, { cipher: 'TLS_CHACHA20_POLY1305_SHA256' }))).toEqual({ write: true, why: 'changed' });
    const failing = at(MIN, { healthy: false, matchesSecret: false, failures: [{ check: 'certificate-fingerprint', result: 'fail', reason: 'stale-certificate-served', message: 'x' }] });
    expect(statusWriteDecision(stored, failing)).toEqual({ write: true, why: 'changed' });
  });

  test('10 minutes after the stored probe time: one heartbeat write', () => {
    expect(statusWriteDecision(stored, at(HEARTBEAT_MS))).toEqual({ write: true, why: 'heartbeat' });
  });
});

describe('events on transitions', () => {
  const r = relay({ tls: { secretName: 'byo' } });
  const healthy = computeStatus(r, observed([ep()]), new Date(T0));
  const stale = computeStatus({ ...r, status: healthy }, observed([ep({ healthy: false, matchesSecret: false, failures: [{ check: 'certificate-fingerprint', result: 'fail', reason: 'stale-certificate-served', message: 'served x, expected y' }] })]), new Date(T0 + MIN));

  test('healthy -> unhealthy: Warning TLSUnhealthy naming the reason; once', () => {
    expect(tlsHealthEvents(healthy, stale)).toEqual([{ type: 'Warning', reason: 'TLSUnhealthy', message: expect.stringMatching(/^StaleCertificateServed: TLS checks failed on submission/) }]);
    expect(tlsHealthEvents(stale, stale)).toEqual([]);
  });

  test('unhealthy -> healthy: Normal TLSHealthy', () => {
    const back = computeStatus({ ...r, status: stale }, observed([ep()]), new Date(T0 + 2 * MIN));
    expect(tlsHealthEvents(stale, back)).toEqual([{ type: 'Normal', reason: 'TLSHealthy', message: 'All 1 endpoints serve healthy TLS.' }]);
    expect(tlsHealthEvents(healthy, back)).toEqual([]);
  });

  test('a served certificate crossing the expiry warning, then expiring: one Warning each', () => {
    const soon = computeStatus({ ...r, status: healthy }, observed([ep({ failures: [{ check: 'certificate-expiry', result: 'warn', reason: 'certificate-expiring-soon', message: 'expires in 13 days' }] })]), new Date(T0));
    expect(tlsHealthEvents(healthy, soon)).toEqual([{ type: 'Warning', reason: 'CertificateExpiringSoon', message: expect.stringContaining('expires in 13 days') }]);
    expect(tlsHealthEvents(soon, soon)).toEqual([]);
    const expired = computeStatus({ ...r, status: soon }, observed([ep({ healthy: false, failures: [{ check: 'certificate-expiry', result: 'fail', reason: 'certificate-expired', message: 'expired' }] })]), new Date(T0));
    expect(tlsHealthEvents(soon, expired).map((e) => e.reason)).toEqual(['TLSUnhealthy', 'CertificateExpired']);
  });
});

describe('metrics', () => {
  test('probe series are set per endpoint and removed with the relay', async () => {
    const registry = new Registry();
    const m = new ProbeMetrics(registry);
    m.setProbes('team-a', 'mail', [
      { endpoint: ep({ notAfter: '2027-02-01T00:00:00Z' }), durationSeconds: 0.012 },
      { endpoint: ep({ name: 'submissions', port: 465, mode: 'implicit', healthy: false, matchesSecret: false }), durationSeconds: 0.02 },
    ]);
    m.setProbes('team-b', 'other', [{ endpoint: ep(), durationSeconds: 0.01 }]);
    m.setReplicas('team-a', 'mail', 2, 1);
    const text = await registry.metrics();
    expect(text).toContain('smtp_relay_probe_success{namespace="team-a",name="mail",endpoint="submission"} 1');
    expect(text).toContain('smtp_relay_probe_success{namespace="team-a",name="mail",endpoint="submissions"} 0');
    expect(text).toContain('smtp_relay_tls_stale_certificate{namespace="team-a",name="mail",endpoint="submissions"} 1');
    expect(text).toContain(`smtp_relay_tls_cert_not_after_seconds{namespace="team-a",name="mail",endpoint="submission"} ${Date.parse('2027-02-01T00:00:00Z') / 1000}`);
    expect(text).toContain('smtp_relay_tls_version_info{namespace="team-a",name="mail",endpoint="submission",version="TLSv1.3",cipher="TLS_AES_256_GCM_SHA384",group="X25519MLKEM768"} 1');
    expect(text).toContain('smtp_relay_probe_duration_seconds{namespace="team-a",name="mail",endpoint="submission"} 0.012');
    expect(text).toContain('smtp_relay_replicas_desired{namespace="team-a",name="mail"} 2');
    expect(text).toContain('smtp_relay_replicas_available{namespace="team-a",name="mail"} 1');

    // A listener goes away: its series go with it.
    m.setProbes('team-a', 'mail', [{ endpoint: ep(), durationSeconds: 0.01 }]);
    expect(await registry.metrics()).not.toContain('endpoint="submissions"');

    m.removeRelay('team-a', 'mail');
    const after = await registry.metrics();
    expect(after).not.toContain('name="mail"');
    expect(after).toContain('smtp_relay_probe_success{namespace="team-b",name="other",endpoint="submission"} 1');
  });
});

// ---- the scheduler with a fake prober ----

function fakeResult(o: ProbeOptions, fingerprint = 'ab'.repeat(32)): ProbeResult {
  const match = !o.expectedFingerprint || o.expectedFingerprint === fingerprint;
  return {
    target: { host: o.host, port: o.port, mode: o.mode, servername: o.servername },
    startedAt: new Date(T0).toISOString(),
    latencyMs: 5,
    handshakes: 1,
    smtp: {},
    tls: { protocol: 'TLSv1.3', cipher: 'TLS_AES_256_GCM_SHA384', group: 'X25519MLKEM768', chain: [{ subject: 's', issuer: 'i', notBefore: '', notAfter: '2027-02-01T00:00:00Z', fingerprint }], hostnameVerified: true, chainVerified: true },
    checks: match ? [{ check: 'certificate-fingerprint', result: 'pass', message: 'ok' }] : [{ check: 'certificate-fingerprint', result: 'fail', reason: 'stale-certificate-served', message: 'stale' }],
    verdict: match ? 'healthy' : 'failing',
  };
}

function deferred<T>() {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

describe('TlsHealthScheduler', () => {
  const logger = createLogger('test', 'error');
  const targets = [
    { name: 'submission', host: 'mail.team-a.svc', port: 587, servicePort: 587, mode: 'starttls' as const },
    { name: 'submissions', host: 'mail.team-a.svc', port: 465, servicePort: 465, mode: 'implicit' as const },
  ];

  test('probes in the background, bounded by the concurrency, and requeues the relay when done', async () => {
    let now = T0;
    const pending: { opts: ProbeOptions; d: ReturnType<typeof deferred<ProbeResult>> }[] = [];
    let active = 0;
    let maxActive = 0;
    const probed: string[] = [];
    const sched = new TlsHealthScheduler({
      concurrency: 3,
      logger,
      now: () => now,
      random: () => 0.5,
      onProbed: (key) => probed.push(key),
      probe: async (opts) => {
        active++;
        maxActive = Math.max(maxActive, active);
        const d = deferred<ProbeResult>();
        pending.push({ opts, d });
        try {
          return await d.promise;
        } finally {
          active--;
        }
      },
      deepScan: async () => ({ checks: [], startedAt: new Date(T0).toISOString() }) as unknown as DeepScanResult,
    });
    const relays = ['a', 'b', 'c'].map((n) => ({ ...relay({ tls: { secretName: 'x' } }), metadata: { name: n, namespace: 'ns', generation: 1 } }));
    for (const r of relays) {
      const view = sched.observe({ relay: r, targets, servername: 'smtp.example.com', expectedFingerprint: 'ab'.repeat(32), canProbe: true });
      // observe() never waits for a probe.
      expect(view).toEqual({ endpoints: undefined, nextProbeInMs: MIN });
    }
    await new Promise((r) => setImmediate(r));
    expect(pending.length).toBe(3); // 6 endpoints, 3 slots
    while (pending.length > 0) {
      const p = pending.shift()!;
      p.d.resolve(fakeResult(p.opts));
      await new Promise((r) => setImmediate(r));
    }
    await new Promise((r) => setTimeout(r, 10));
    expect(maxActive).toBe(3);
    expect(probed.sort()).toEqual(['ns/a', 'ns/b', 'ns/c']);
    expect(pending[0]?.opts).toBeUndefined();

    // The results come back through observe(), with the Service port.
    now += 30_000;
    const view = sched.observe({ relay: relays[0]!, targets, servername: 'smtp.example.com', expectedFingerprint: 'ab'.repeat(32), canProbe: true });
    expect(view.nextProbeInMs).toBe(30_000);
    expect(view.endpoints).toEqual([
      expect.objectContaining({ name: 'submission', port: 587, healthy: true, tlsVersion: 'TLSv1.3', matchesSecret: true }),
      expect.objectContaining({ name: 'submissions', port: 465, healthy: true }),
    ]);
    await sched.stop();
  });

  test('a rotated Secret certificate is probed at once and reported stale; a deep scan runs on it; not before canProbe', async () => {
    let now = T0;
    let served = 'ab'.repeat(32);
    const calls: string[] = [];
    const done: string[] = [];
    const sched = new TlsHealthScheduler({
      concurrency: 10,
      logger,
      now: () => now,
      random: () => 0.5,
      onProbed: (key) => done.push(key),
      probe: async (o) => {
        calls.push('probe');
        return fakeResult(o, served);
      },
      deepScan: async () => {
        calls.push('deep');
        return { checks: [], startedAt: new Date(T0).toISOString() } as unknown as DeepScanResult;
      },
    });
    const r = relay({ tls: { secretName: 'x' } });
    const input = (fp: string, canProbe = true) => ({ relay: r, targets: [targets[0]!], servername: 'smtp.example.com', expectedFingerprint: fp, canProbe });
    expect(sched.observe(input('ab'.repeat(32), false))).toEqual({ endpoints: undefined });
    expect(calls).toEqual([]);
    sched.observe(input('ab'.repeat(32)));
    await new Promise((res) => setTimeout(res, 5));
    expect(calls).toEqual(['probe', 'deep']);
    now += 5000;
    expect(sched.observe(input('ab'.repeat(32))).nextProbeInMs).toBe(55_000);
    // The Secret now holds a new certificate; the relay still serves the old one.
    sched.observe(input('cd'.repeat(32)));
    await new Promise((res) => setTimeout(res, 5));
    expect(calls).toEqual(['probe', 'deep', 'probe', 'deep']);
    const view = sched.observe(input('cd'.repeat(32)));
    expect(view.endpoints![0]).toMatchObject({ healthy: false, matchesSecret: false, failures: [expect.objectContaining({ reason: 'stale-certificate-served' })] });
    // The relay reloads; the next interval's probe (no deep scan) sees it healthy.
    served = 'cd'.repeat(32);
    now += MIN;
    sched.observe(input('cd'.repeat(32)));
    await new Promise((res) => setTimeout(res, 5));
    expect(calls).toEqual(['probe', 'deep', 'probe', 'deep', 'probe']);
    expect(sched.observe(input('cd'.repeat(32))).endpoints![0]).toMatchObject({ healthy: true, matchesSecret: true });
    expect(done.length).toBe(3);
    await sched.stop();
  });

  /** A scheduler whose prober meets `world.served` at `world.now`; world.probes records each probe (ms after T0, certificate). */
  function servingScheduler() {
    const world = { now: T0, served: 'ab'.repeat(32), probes: [] as { at: number; served: string }[] };
    const sched = new TlsHealthScheduler({
      concurrency: 10,
      logger,
      now: () => world.now,
      random: () => 0.5,
      onProbed: () => undefined,
      probe: async (o) => {
        world.probes.push({ at: world.now - T0, served: world.served.slice(0, 2) });
        return { ...fakeResult(o, world.served), startedAt: new Date(world.now).toISOString() };
      },
      deepScan: async () => ({ checks: [], startedAt: new Date(T0).toISOString() }) as unknown as DeepScanResult,
    });
    return { world, sched };
  }

  test('a renewed certificate: stale while the pods roll, probed again the moment the rollout settles, healthy without waiting an interval', async () => {
    const { world, sched } = servingScheduler();
    const calls = () => world.probes.map((p) => `probe:${p.served}`);
    const r = relay({ tls: { secretName: 'x' } });
    const input = (fp: string, settledRollout?: string) => ({ relay: r, targets: [targets[0]!], servername: 'smtp.example.com', expectedFingerprint: fp, canProbe: true, ...(settledRollout ? { settledRollout } : {}) });
    const settle = () => new Promise((res) => setTimeout(res, 5));
    sched.observe(input('ab'.repeat(32), '1'));
    await settle();
    // The Secret renews; the pods still serve the old certificate and start to roll (generation 2, not settled).
    world.now += 5000;
    sched.observe(input('cd'.repeat(32)));
    await settle();
    expect(sched.observe(input('cd'.repeat(32))).endpoints![0]).toMatchObject({ healthy: false, failures: [expect.objectContaining({ reason: 'stale-certificate-served' })] });
    // Rolling: no settled rollout reported, nothing new to probe (the stale re-check is 10 s after the stale probe).
    world.now += 3000;
    world.served = 'cd'.repeat(32);
    expect(sched.observe(input('cd'.repeat(32))).nextProbeInMs).toBe(7000);
    await settle();
    expect(calls()).toEqual(['probe:ab', 'probe:ab']);
    // The rollout of generation 2 settles 8 s after the renewal: probed at once, healthy.
    world.now += 5000;
    sched.observe(input('cd'.repeat(32), '2'));
    await settle();
    expect(calls()).toEqual(['probe:ab', 'probe:ab', 'probe:cd']);
    expect(sched.observe(input('cd'.repeat(32), '2')).endpoints![0]).toMatchObject({ healthy: true, matchesSecret: true });
    // The same settled rollout again (or none reported): no extra probe.
    sched.observe(input('cd'.repeat(32), '2'));
    sched.observe(input('cd'.repeat(32)));
    await settle();
    expect(calls()).toHaveLength(3);
    await sched.stop();
  });

  test('a stale certificate is re-checked every 10 s, six times in a row, then at the interval; a healthy result resets the count', async () => {
    const { world, sched } = servingScheduler();
    const starts = () => world.probes.map((p) => p.at);
    const r = relay({ tls: { secretName: 'x' } });
    const observe = () => sched.observe({ relay: r, targets: [targets[0]!], servername: 'smtp.example.com', expectedFingerprint: 'cd'.repeat(32), canProbe: true });
    // Drive the clock as the reconcile would: observe, wait for the probe, jump to when it asks back.
    let last: ReturnType<typeof observe> | undefined;
    const step = async () => {
      observe();
      await new Promise((res) => setTimeout(res, 5));
      last = observe();
      world.now += last.nextProbeInMs!;
      return last.nextProbeInMs!;
    };
    const waits: number[] = [];
    for (let i = 0; i < 8; i++) waits.push(await step());
    // The first probe, six re-checks 10 s apart, then the minute.
    expect(starts().slice(0, 8)).toEqual([0, 10_000, 20_000, 30_000, 40_000, 50_000, 60_000, 120_000]);
    expect(waits.slice(0, 6)).toEqual([10_000, 10_000, 10_000, 10_000, 10_000, 10_000]);
    // The pod reloads: healthy, and a later stale episode gets its six re-checks again.
    world.served = 'cd'.repeat(32);
    await step();
    expect(last!.endpoints![0]).toMatchObject({ healthy: true });
    world.served = 'ef'.repeat(32);
    const before = starts().length;
    for (let i = 0; i < 3; i++) await step();
    expect(starts().slice(before).map((t, i, a) => (i === 0 ? 0 : t - a[i - 1]!))).toEqual([0, 10_000, 10_000]);
    await sched.stop();
  });
});

describe('issuer index', () => {
  test('relays are found under the issuer they reference; Issuer and ClusterIssuer objects map to the same values', async () => {
    const { issuerIndexValue, issuerIndexValues } = await import('../../../src/controller/issuers.js');
    expect(issuerIndexValues(relay({ tls: { issuerRef: { name: 'ca', kind: 'ClusterIssuer' } } }))).toEqual(['ClusterIssuer:ca']);
    expect(issuerIndexValues(relay({ tls: { issuerRef: { name: 'ca' } } }))).toEqual(['Issuer:team-a/ca']);
    expect(issuerIndexValues(relay({ tls: { issuerRef: { name: 'x', group: 'awspca.cert-manager.io' } } }))).toEqual([]);
    expect(issuerIndexValues(relay({ tls: { secretName: 'own' } }))).toEqual([]);
    expect(issuerIndexValue({ apiVersion: 'cert-manager.io/v1', kind: 'ClusterIssuer', metadata: { name: 'ca' } })).toBe('ClusterIssuer:ca');
    expect(issuerIndexValue({ apiVersion: 'cert-manager.io/v1', kind: 'Issuer', metadata: { name: 'ca', namespace: 'team-a' } })).toBe('Issuer:team-a/ca');
  });
});
