// Probing at scale: a relay the operator could not probe on time shows ProbeDelayed (not a
// stale Healthy), and relays whose probed subject changed are probed before routine ones.
// The pure rules, and the scheduler with an injected clock and a stand-in prober; the real
// prober against a real relay is in test/e2e/probe/probe-delayed.test.ts.
import { describe, expect, test } from '@jest/globals';
import { Registry } from 'prom-client';
import type { EndpointStatus, SmtpRelay, SmtpRelayStatus } from '../../../src/api/types.js';
import { createLogger } from '../../../src/common/logger.js';
import { Semaphore } from '../../../src/common/semaphore.js';
import { computeStatus, type Observed } from '../../../src/controller/status.js';
import { ProbeMetrics, TlsHealthScheduler, probeDelay, statusWriteDecision, tlsHealthEvents, type TlsHealthInput } from '../../../src/controller/tls-health/index.js';
import type { DeepScanResult, ProbeOptions, ProbeResult } from '../../../src/probe/index.js';
import { healthyEndpoint, relay } from './fixtures.js';

const T0 = Date.parse('2026-11-28T10:00:00Z');
const SEC = 1000;
const MIN = 60 * SEC;
const iso = (ms: number) => new Date(ms).toISOString();

describe('probeDelay: interval + max(30 s, half the interval) after the oldest result', () => {
  test('a 1-minute interval: due at +60 s, delayed from +90 s', () => {
    expect(probeDelay(T0, MIN, T0 + 89_999)).toEqual({ dueAt: T0 + MIN, delayedAt: T0 + 90 * SEC, delayed: false });
    expect(probeDelay(T0, MIN, T0 + 90 * SEC).delayed).toBe(true);
  });

  test('a 10-minute interval: the grace is half the interval (5 minutes)', () => {
    expect(probeDelay(T0, 10 * MIN, T0 + 15 * MIN - 1).delayed).toBe(false);
    expect(probeDelay(T0, 10 * MIN, T0 + 15 * MIN)).toEqual({ dueAt: T0 + 10 * MIN, delayedAt: T0 + 15 * MIN, delayed: true });
  });

  test('a lowered minimum grace (tests) never goes below half the interval', () => {
    expect(probeDelay(T0, 2 * SEC, T0, 100).delayedAt).toBe(T0 + 3 * SEC);
    expect(probeDelay(T0, 2 * SEC, T0, 2 * SEC).delayedAt).toBe(T0 + 4 * SEC);
  });
});

function observed(endpoints: EndpointStatus[], delayedSince?: string): Observed {
  return {
    problems: [],
    deployment: { generation: 1, observedGeneration: 1, replicas: 1, updatedReplicas: 1, readyReplicas: 1, availableReplicas: 1 },
    tlsSecret: { notBefore: '2026-11-01T00:00:00Z', notAfter: '2027-02-01T00:00:00Z', fingerprint: 'ab'.repeat(32) },
    probe: { enabled: true, endpoints, ...(delayedSince ? { delayedSince } : {}) },
  };
}

const cond = (s: SmtpRelayStatus, type: string) => s.conditions!.find((c) => c.type === type)!;

describe('status: ProbeDelayed', () => {
  const r = relay({ tls: { secretName: 'byo' } });
  const ep = (over: Partial<EndpointStatus> = {}) => healthyEndpoint({ lastProbeTime: iso(T0), ...over });
  const healthy = computeStatus(r, observed([ep(), ep({ name: 'submissions', port: 465, mode: 'implicit' })]), new Date(T0));
  const delayed = computeStatus({ ...r, status: healthy }, observed([ep(), ep({ name: 'submissions', port: 465, mode: 'implicit' })], iso(T0 + MIN)), new Date(T0 + 95 * SEC));

  test('overdue healthy results: TLSHealthy Unknown/ProbeDelayed saying since when; the summary is Unknown; Ready stays on the last results', () => {
    expect(cond(healthy, 'TLSHealthy')).toMatchObject({ status: 'True', reason: 'AllEndpointsHealthy' });
    expect(cond(delayed, 'TLSHealthy')).toMatchObject({
      status: 'Unknown',
      reason: 'ProbeDelayed',
      message: expect.stringContaining(`No TLS probe since ${iso(T0)}: the probe due at ${iso(T0 + MIN)} is overdue`),
    });
    expect(cond(delayed, 'TLSHealthy').message).toContain('The last probe found: All 2 endpoints serve healthy TLS.');
    expect(delayed.tlsHealth).toBe('Unknown');
    // The operator's missing capacity is not the relay's fault: no AwaitingTLSProbe, Ready as before.
    expect(cond(delayed, 'Ready')).toMatchObject({ status: 'True', reason: 'Ready' });
    expect(cond(delayed, 'Reconciling')).toMatchObject({ status: 'False' });
    // The last results stay visible, with their probe times.
    expect(delayed.endpoints!.map((e) => e.lastProbeTime)).toEqual([iso(T0), iso(T0)]);
  });

  test('written once when it starts, not again while it lasts, and cleared (written) by the next probe', () => {
    expect(statusWriteDecision(healthy, delayed)).toEqual({ write: true, why: 'changed' });
    const still = computeStatus({ ...r, status: delayed }, observed([ep(), ep({ name: 'submissions', port: 465, mode: 'implicit' })], iso(T0 + MIN)), new Date(T0 + 4 * MIN));
    expect(statusWriteDecision(delayed, still)).toEqual({ write: false });
    const probed = computeStatus({ ...r, status: delayed }, observed([ep({ lastProbeTime: iso(T0 + 5 * MIN) }), ep({ name: 'submissions', port: 465, mode: 'implicit', lastProbeTime: iso(T0 + 5 * MIN) })]), new Date(T0 + 5 * MIN));
    expect(cond(probed, 'TLSHealthy')).toMatchObject({ status: 'True', reason: 'AllEndpointsHealthy' });
    expect(probed.tlsHealth).toBe('Healthy');
    expect(statusWriteDecision(delayed, probed)).toEqual({ write: true, why: 'changed' });
  });

  test('one Warning ProbeDelayed event when it starts; none while it lasts; none when it clears', () => {
    expect(tlsHealthEvents(healthy, delayed)).toEqual([{ type: 'Warning', reason: 'ProbeDelayed', message: cond(delayed, 'TLSHealthy').message }]);
    expect(tlsHealthEvents(delayed, delayed)).toEqual([]);
    expect(tlsHealthEvents(delayed, healthy)).toEqual([]);
  });

  test('an overdue known failure stays False with its reason, and says the results are overdue', () => {
    const stale = ep({ healthy: false, matchesSecret: false, failures: [{ check: 'certificate-fingerprint', result: 'fail', reason: 'stale-certificate-served', message: 'served x, expected y' }] });
    const failing = computeStatus(r, observed([stale]), new Date(T0));
    const late = computeStatus({ ...r, status: failing }, observed([stale], iso(T0 + MIN)), new Date(T0 + 95 * SEC));
    expect(cond(late, 'TLSHealthy')).toMatchObject({ status: 'False', reason: 'StaleCertificateServed', message: expect.stringContaining(`the probe due at ${iso(T0 + MIN)} is overdue`) });
    expect(cond(late, 'Ready')).toMatchObject({ status: 'False', reason: 'TLSUnhealthy' });
    expect(late.tlsHealth).toBe('Unhealthy');
    expect(tlsHealthEvents(failing, late)).toEqual([]);
  });

  test('never probed: still NotProbed / AwaitingTLSProbe, whatever the delay', () => {
    const first = computeStatus(r, observed([], iso(T0)), new Date(T0 + 5 * MIN));
    expect(cond(first, 'TLSHealthy')).toMatchObject({ status: 'Unknown', reason: 'NotProbed' });
    expect(cond(first, 'Reconciling')).toMatchObject({ status: 'True', reason: 'AwaitingTLSProbe' });
  });
});

describe('Semaphore: the urgent line is served first', () => {
  test('waiting urgent callers run before earlier routine ones, each line in order', async () => {
    const s = new Semaphore(1);
    const order: string[] = [];
    let release!: () => void;
    const first = s.run(() => new Promise<void>((r) => (release = r)));
    const all = [
      s.run(async () => void order.push('routine-1')),
      s.run(async () => void order.push('routine-2')),
      s.run(async () => void order.push('urgent-1'), { urgent: true }),
      s.run(async () => void order.push('urgent-2'), { urgent: true }),
    ];
    expect(s.waiting).toBe(4);
    release();
    await Promise.all([first, ...all]);
    expect(order).toEqual(['urgent-1', 'urgent-2', 'routine-1', 'routine-2']);
    expect(s.waiting).toBe(0);
  });
});

// ---- the scheduler, with a stand-in prober whose probes the test finishes ----

function result(o: ProbeOptions, startedAt: number): ProbeResult {
  const fingerprint = 'ab'.repeat(32);
  const match = !o.expectedFingerprint || o.expectedFingerprint === fingerprint;
  return {
    target: { host: o.host, port: o.port, mode: o.mode, servername: o.servername },
    startedAt: iso(startedAt),
    latencyMs: 5,
    handshakes: 1,
    smtp: {},
    tls: { protocol: 'TLSv1.3', cipher: 'TLS_AES_256_GCM_SHA384', group: 'X25519MLKEM768', chain: [{ subject: 's', issuer: 'i', notBefore: '', notAfter: '2027-02-01T00:00:00Z', fingerprint }], hostnameVerified: true, chainVerified: true },
    checks: match ? [{ check: 'certificate-fingerprint', result: 'pass', message: 'ok' }] : [{ check: 'certificate-fingerprint', result: 'fail', reason: 'stale-certificate-served', message: 'stale' }],
    verdict: match ? 'healthy' : 'failing',
  };
}

interface Pending {
  opts: ProbeOptions;
  finish: () => void;
}

/** A scheduler whose probes wait until the test finishes them; `now` is the test's clock. */
function harness(concurrency: number) {
  const clock = { now: T0 };
  const running: Pending[] = [];
  const done: string[] = [];
  const registry = new Registry();
  const sched = new TlsHealthScheduler({
    concurrency,
    metrics: new ProbeMetrics(registry),
    logger: createLogger('test', 'error'),
    now: () => clock.now,
    random: () => 0.5,
    onProbed: (key) => done.push(key),
    probe: (opts) => {
      const startedAt = clock.now;
      return new Promise<ProbeResult>((resolve) => running.push({ opts, finish: () => resolve(result(opts, startedAt)) }));
    },
    deepScan: async () => ({ checks: [], startedAt: iso(T0) }) as unknown as DeepScanResult,
  });
  const settle = () => new Promise((r) => setTimeout(r, 2));
  /** Finishes the probe running now (concurrency 1) and lets the next one start. */
  const finishNext = async () => {
    const p = running.shift();
    if (!p) throw new Error('no probe is running');
    p.finish();
    await settle();
    return p.opts;
  };
  return { clock, running, done, sched, settle, finishNext, registry };
}

const target = (name: string) => [{ name: 'submission', host: `${name}.ns.svc`, port: 587, servicePort: 587, mode: 'starttls' as const }];
const relayNamed = (name: string, generation = 1): SmtpRelay => ({ ...relay({ tls: { secretName: 'x' } }), metadata: { name, namespace: 'ns', generation } });
const inputOf = (r: SmtpRelay, fp = 'ab'.repeat(32)): TlsHealthInput => ({ relay: r, targets: target(r.metadata.name), servername: 'smtp.example.com', expectedFingerprint: fp, canProbe: true });

/** A scheduler whose probes and deep scans answer at once, recording what they were asked, in order; `now` is the test's clock. */
function recording(opts: { concurrency: number; fullHandshakeEveryMs?: number }) {
  const clock = { now: T0 };
  const fast: ProbeOptions[] = [];
  const deep: ProbeOptions[] = [];
  const calls: string[] = [];
  const sched = new TlsHealthScheduler({
    concurrency: opts.concurrency,
    logger: createLogger('test', 'error'),
    now: () => clock.now,
    random: () => 0.5,
    onProbed: () => undefined,
    ...(opts.fullHandshakeEveryMs !== undefined ? { fullHandshakeEveryMs: opts.fullHandshakeEveryMs } : {}),
    probe: async (o) => {
      fast.push(o);
      calls.push(`fast ${o.host}`);
      return result(o, clock.now);
    },
    deepScan: async (o) => {
      deep.push(o);
      calls.push(`deep ${o.host}`);
      return { checks: [], startedAt: iso(clock.now) } as unknown as DeepScanResult;
    },
  });
  return { clock, sched, fast, deep, calls };
}

describe('TlsHealthScheduler: ProbeDelayed when the prober is starved', () => {
  test('a relay stuck behind a hanging probe gets probeDelayedSince after interval + grace, and the reconcile is asked back for that moment', async () => {
    const h = harness(1);
    const hang = relayNamed('hang');
    const b = relayNamed('b');
    h.sched.observe(inputOf(hang));
    h.sched.observe(inputOf(b));
    await h.settle();
    await h.finishNext(); // hang's first probe
    await h.finishNext(); // b's first probe, started at T0
    // hang's next probe starts at T0 + 1 min and does not finish.
    h.clock.now = T0 + MIN;
    h.sched.observe(inputOf(hang));
    await h.settle();
    expect(h.running.map((p) => p.opts.host)).toEqual(['hang.ns.svc']);
    // b is due now; its probe waits for the only slot, and the metric shows the queue.
    const due = h.sched.observe(inputOf(b));
    expect(due.probeDelayedSince).toBeUndefined();
    await h.settle();
    expect(await h.registry.metrics()).toContain('smtp_relay_operator_probes_waiting 1');
    h.clock.now = T0 + 80 * SEC;
    // Not delayed yet: the reconcile is asked back when it would be (T0 + 90 s), before b's next interval.
    const soon = h.sched.observe(inputOf(b));
    expect(soon).toMatchObject({ nextProbeInMs: 10 * SEC });
    expect(soon.probeDelayedSince).toBeUndefined();
    h.clock.now = T0 + 90 * SEC;
    const late = h.sched.observe(inputOf(b));
    expect(late.probeDelayedSince).toBe(iso(T0 + MIN));
    expect(late.endpoints![0]).toMatchObject({ healthy: true, lastProbeTime: iso(T0) });
    // The hanging probe ends (its timeout, here the test); b's waiting probe runs and clears it.
    await h.finishNext();
    expect(await h.finishNext()).toMatchObject({ host: 'b.ns.svc' });
    const after = h.sched.observe(inputOf(b));
    expect(after.probeDelayedSince).toBeUndefined();
    expect(after.endpoints![0]!.lastProbeTime).toBe(iso(T0 + 90 * SEC));
    await h.sched.stop();
  });
});

describe('TlsHealthScheduler: a cycle waiting for slots past its due time', () => {
  test('asks for no reconcile until it finishes (onProbed does), only for the ProbeDelayed moment', async () => {
    const h = harness(1);
    const hang = relayNamed('hang');
    const b = relayNamed('b');
    h.sched.observe(inputOf(b));
    await h.settle();
    await h.finishNext(); // b's first probe, at T0; next due at T0 + 1 min
    h.clock.now = T0 + MIN;
    h.sched.observe(inputOf(hang)); // new: urgent, takes the only slot and hangs
    await h.settle();
    h.sched.observe(inputOf(b)); // due: its cycle starts and waits for the slot
    await h.settle();
    expect(h.running.map((p) => p.opts.host)).toEqual(['hang.ns.svc']);
    // Before ProbeDelayed, the only wake-up is for that moment (T0 + 90 s).
    h.clock.now = T0 + 80 * SEC;
    expect(h.sched.observe(inputOf(b)).nextProbeInMs).toBe(10 * SEC);
    // Past b's next due time (T0 + 2 min), its cycle still waiting: nothing to do before it finishes.
    h.clock.now = T0 + 2 * MIN + 1000;
    const waiting = h.sched.observe(inputOf(b));
    expect(waiting.probeDelayedSince).toBe(iso(T0 + MIN));
    expect(waiting.nextProbeInMs).toBeUndefined();
    await h.finishNext();
    await h.finishNext();
    expect(h.done).toContain('ns/b');
    await h.sched.stop();
  });
});

describe('TlsHealthScheduler: the deep scan follows its fast probe in the same slot', () => {
  test('two new relays at concurrency 1: fast a, deep a, fast b, deep b (the fast result is not left to age behind other relays)', async () => {
    const { sched, calls } = recording({ concurrency: 1 });
    sched.observe(inputOf(relayNamed('a')));
    sched.observe(inputOf(relayNamed('b')));
    await new Promise((r) => setTimeout(r, 5));
    expect(calls).toEqual(['fast a.ns.svc', 'deep a.ns.svc', 'fast b.ns.svc', 'deep b.ns.svc']);
    await sched.stop();
  });
});

describe('TlsHealthScheduler: priority', () => {
  test('a relay whose Secret certificate changed is probed before the routine probes already waiting, and with the new fingerprint', async () => {
    const h = harness(1);
    const relays = ['a', 'b', 'c', 'd'].map((n) => relayNamed(n));
    for (const r of relays) h.sched.observe(inputOf(r));
    await h.settle();
    for (let i = 0; i < 4; i++) await h.finishNext();
    // One interval later every relay is due: a runs, b, c, d wait in the routine line.
    h.clock.now = T0 + MIN;
    for (const r of relays) h.sched.observe(inputOf(r));
    await h.settle();
    expect(h.running.map((p) => p.opts.host)).toEqual(['a.ns.svc']);
    // d's certificate is rotated while its routine probe is still waiting.
    h.sched.observe(inputOf(relays[3]!, 'cd'.repeat(32)));
    const order: { host: string; fp?: string }[] = [];
    while (h.running.length > 0) {
      const o = await h.finishNext();
      order.push({ host: o.host, fp: o.expectedFingerprint });
    }
    // d first after the probe that was already running, checked against the new certificate;
    // its superseded routine probe gives its slot back without probing.
    expect(order).toEqual([
      { host: 'a.ns.svc', fp: 'ab'.repeat(32) },
      { host: 'd.ns.svc', fp: 'cd'.repeat(32) },
      { host: 'b.ns.svc', fp: 'ab'.repeat(32) },
      { host: 'c.ns.svc', fp: 'ab'.repeat(32) },
    ]);
    expect(h.sched.observe(inputOf(relays[3]!, 'cd'.repeat(32))).endpoints![0]).toMatchObject({ healthy: false, matchesSecret: false });
    await h.sched.stop();
  });

  test('a new spec generation, and a new relay, are urgent too', async () => {
    const h = harness(1);
    const relays = ['a', 'b', 'c'].map((n) => relayNamed(n));
    for (const r of relays) h.sched.observe(inputOf(r));
    await h.settle();
    for (let i = 0; i < 3; i++) await h.finishNext();
    h.clock.now = T0 + MIN;
    for (const r of relays) h.sched.observe(inputOf(r));
    h.sched.observe(inputOf(relayNamed('c', 2)));
    h.sched.observe(inputOf(relayNamed('new')));
    await h.settle();
    const order: string[] = [];
    while (h.running.length > 0) order.push((await h.finishNext()).host);
    expect(order).toEqual(['a.ns.svc', 'c.ns.svc', 'new.ns.svc', 'b.ns.svc']);
    await h.sched.stop();
  });
});

describe('TlsHealthScheduler: TLS session resumption', () => {
  const seen = (fullHandshakeEveryMs?: number) => recording({ concurrency: 2, ...(fullHandshakeEveryMs !== undefined ? { fullHandshakeEveryMs } : {}) });

  test('fast probes share one session cache (10-minute full handshakes by default); deep scans never resume', async () => {
    const { sched, fast, deep } = seen();
    sched.observe(inputOf(relayNamed('a')));
    sched.observe(inputOf(relayNamed('b')));
    await new Promise((r) => setTimeout(r, 5));
    expect(fast.length).toBe(2);
    expect(fast[0]!.sessions).toBeDefined();
    expect(fast[1]!.sessions).toBe(fast[0]!.sessions);
    expect(fast[0]!.sessions!.fullHandshakeEveryMs).toBe(10 * MIN);
    expect(deep.length).toBe(2);
    expect(deep.every((o) => o.sessions === undefined)).toBe(true);
    await sched.stop();
  });

  test('fullHandshakeEveryMs 0 (--probe-full-handshake-every=0s): no resumption', async () => {
    const { sched, fast } = seen(0);
    sched.observe(inputOf(relayNamed('a')));
    await new Promise((r) => setTimeout(r, 5));
    expect(fast.length).toBe(1);
    expect(fast[0]!.sessions).toBeUndefined();
    await sched.stop();
  });
});

describe('TlsHealthScheduler: a restarted operator adopts the status.endpoints an earlier process wrote', () => {
  const FP = 'ab'.repeat(32);
  const written = (over: Partial<EndpointStatus> = {}) => [healthyEndpoint({ fingerprint: FP, serverName: 'smtp.example.com', lastProbeTime: iso(T0 - 20 * SEC), ...over })];
  const withPrevious = (r: SmtpRelay, previous: EndpointStatus[], fp = FP): TlsHealthInput => ({ ...inputOf(r, fp), previous });

  test('shown at once (no NotProbed), probed one interval after their probe time, in the routine line, then replaced by its own results', async () => {
    const h = harness(1);
    const view = h.sched.observe(withPrevious(relayNamed('a'), written()));
    await h.settle();
    expect(view.endpoints).toEqual(written());
    expect(view.probeDelayedSince).toBeUndefined();
    expect(h.running).toEqual([]);
    // Probed at T0 - 20 s, interval 1 min (random 0.5: no jitter): due in 40 s.
    expect(view.nextProbeInMs).toBe(40 * SEC);
    // At the due time a new relay (urgent) overtakes a's routine probe while another holds the only slot.
    h.sched.observe(inputOf(relayNamed('blocker')));
    await h.settle();
    h.clock.now = T0 + 40 * SEC;
    h.sched.observe(withPrevious(relayNamed('a'), written()));
    h.sched.observe(inputOf(relayNamed('fresh')));
    await h.settle();
    const order: string[] = [];
    while (h.running.length > 0) order.push((await h.finishNext()).host);
    expect(order).toEqual(['blocker.ns.svc', 'fresh.ns.svc', 'a.ns.svc']);
    const own = h.sched.observe(withPrevious(relayNamed('a'), written()));
    expect(own.endpoints).toHaveLength(1);
    expect(own.endpoints![0]).toMatchObject({ healthy: true, lastProbeTime: iso(T0 + 40 * SEC), fingerprint: FP });
    await h.sched.stop();
  });

  test('a certificate that changed while no operator ran: the written endpoints are shown, and probed at once', async () => {
    const h = harness(1);
    const view = h.sched.observe(withPrevious(relayNamed('a'), written(), 'cd'.repeat(32)));
    await h.settle();
    expect(view.endpoints).toEqual(written());
    expect(h.running.map((p) => p.opts)).toEqual([expect.objectContaining({ host: 'a.ns.svc', expectedFingerprint: 'cd'.repeat(32) })]);
    await h.finishNext();
    expect(h.sched.observe(withPrevious(relayNamed('a'), written(), 'cd'.repeat(32))).endpoints![0]).toMatchObject({ healthy: false, matchesSecret: false, lastProbeTime: iso(T0) });
    await h.sched.stop();
  });

  test('results older than interval + grace are ProbeDelayed at once and probed now', async () => {
    const h = harness(1);
    const view = h.sched.observe(withPrevious(relayNamed('a'), written({ lastProbeTime: iso(T0 - 5 * MIN) })));
    await h.settle();
    expect(view.probeDelayedSince).toBe(iso(T0 - 4 * MIN));
    expect(h.running.map((p) => p.opts.host)).toEqual(['a.ns.svc']);
    await h.finishNext();
    await h.sched.stop();
  });

  test('an entry that describes another listener (port, mode or SNI name) is not adopted: NotProbed, probed at once', async () => {
    for (const other of [{ port: 2525 }, { mode: 'implicit' as const }, { serverName: 'old.example.com' }]) {
      const h = harness(1);
      const view = h.sched.observe(withPrevious(relayNamed('a'), written(other)));
      await h.settle();
      expect(view.endpoints).toBeUndefined();
      expect(h.running.map((p) => p.opts.host)).toEqual(['a.ns.svc']);
      await h.finishNext();
      await h.sched.stop();
    }
  });

  test('the deep scan is adopted too: no deep scan in the first cycle, its findings kept beside the new fast probe, the next one a day after it', async () => {
    const { sched, clock, deep } = recording({ concurrency: 2 });
    const deepCalls = () => deep.map((o) => o.host);
    const weak = { check: 'weak-ciphers', result: 'fail' as const, reason: 'weak-cipher-accepted', message: 'static-rsa' };
    const previous = written({ lastDeepScanTime: iso(T0 - 3_600_000), legacyProtocolsRefused: true, healthy: false, failures: [weak] });
    sched.observe(withPrevious(relayNamed('a'), previous));
    clock.now = T0 + 40 * SEC;
    sched.observe(withPrevious(relayNamed('a'), previous));
    await new Promise((r) => setTimeout(r, 5));
    expect(deepCalls()).toEqual([]);
    const own = sched.observe(withPrevious(relayNamed('a'), previous)).endpoints![0]!;
    expect(own).toMatchObject({ lastProbeTime: iso(T0 + 40 * SEC), lastDeepScanTime: iso(T0 - 3_600_000), legacyProtocolsRefused: true, healthy: false, failures: [weak] });
    // A day after the adopted deep scan, the next cycle carries one.
    clock.now = T0 - 3_600_000 + 24 * 3_600_000;
    sched.observe(withPrevious(relayNamed('a'), previous));
    await new Promise((r) => setTimeout(r, 5));
    expect(deepCalls()).toEqual(['a.ns.svc']);
    expect(sched.observe(withPrevious(relayNamed('a'), previous)).endpoints![0]).toMatchObject({ healthy: true, lastDeepScanTime: iso(clock.now) });
    await sched.stop();
  });

  test('only a relay new to the scheduler adopts: a later previous does not replace its own results', async () => {
    const h = harness(1);
    h.sched.observe(inputOf(relayNamed('a')));
    await h.settle();
    await h.finishNext();
    const view = h.sched.observe(withPrevious(relayNamed('a'), written({ lastProbeTime: iso(T0 - MIN), latencyMilliseconds: 999 })));
    expect(view.endpoints![0]).toMatchObject({ lastProbeTime: iso(T0), latencyMilliseconds: 5 });
    await h.sched.stop();
  });
});
