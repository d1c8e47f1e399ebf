// A starved prober shows it. The operator's TLS-health scheduler, with the real prober, at
// --probe-concurrency 1: relay "hang" has endpoints that accept TCP and never greet (each probe
// hangs until its deadline), relay "served" is a real relay process. The test plays the
// reconciler (observe -> computeStatus -> write only on a change) every 100 ms. While the
// hanging probes hold the only slot, "served"'s status turns TLSHealthy=Unknown/ProbeDelayed
// (not a stale Healthy), Ready stays True, and its next probe clears it.
import { afterAll, beforeAll, expect, jest, test } from '@jest/globals';
import net from 'node:net';
import type { SmtpRelay, SmtpRelayStatus } from '../../../src/api/types.js';
import { createLogger } from '../../../src/common/logger.js';
import { computeStatus } from '../../../src/controller/status.js';
import { TlsHealthScheduler, statusWriteDecision, type TlsHealthInput } from '../../../src/controller/tls-health/index.js';
import type { ProbeTarget } from '../../../src/controller/tls-health/targets.js';
import { createRelayFixture, RELAY_HOST, startRelayProcess, type RelayFixture, type RelayProcess } from '../../helpers/smtp/relay-fixture.js';

jest.setTimeout(60_000);

const INTERVAL_MS = 1000;
/** The ProbeDelayed grace, lowered from 30 s for the test: max(500 ms, half the interval) = 500 ms. */
const GRACE_MIN_MS = 500;
const PROBE_TIMEOUT_MS = 2500;

let fx: RelayFixture;
let relayProc: RelayProcess;
let silent: net.Server;
const held = new Set<net.Socket>();

beforeAll(async () => {
  fx = await createRelayFixture();
  relayProc = await startRelayProcess(fx);
  // Accepts and says nothing: a STARTTLS probe waits for the banner until its deadline.
  silent = net.createServer((s) => {
    held.add(s);
    s.on('close', () => held.delete(s));
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
});

afterAll(async () => {
  for (const s of held) s.destroy();
  silent?.close();
  relayProc?.child.kill('SIGTERM');
  await relayProc?.exited;
  await fx?.cleanup();
});

function smtpRelay(name: string): SmtpRelay {
  return {
    apiVersion: 'smtprelay.dev/v1alpha1',
    kind: 'SmtpRelay',
    metadata: { name, namespace: 'mail', uid: `uid-${name}`, generation: 1 },
    // The test CA's certificates live two days: warn only inside the last hour.
    spec: { hostname: RELAY_HOST, tls: { secretName: `${name}-tls` }, upstream: { host: 'upstream.example.net' }, queue: { mode: 'PassThrough' }, healthCheck: { expiryWarning: '1h' } },
  };
}

const target = (name: string, port: number, servicePort: number, mode: ProbeTarget['mode']): ProbeTarget => ({ name, host: '127.0.0.1', port, servicePort, mode });
const tlsHealthy = (s: SmtpRelayStatus | undefined) => s?.conditions?.find((c) => c.type === 'TLSHealthy');
const ready = (s: SmtpRelayStatus | undefined) => s?.conditions?.find((c) => c.type === 'Ready');

test('a relay the starved prober cannot reach on time shows ProbeDelayed, keeps Ready, and clears on its next probe', async () => {
  const silentPort = (silent.address() as net.AddressInfo).port;
  const hang = smtpRelay('hang');
  const served = smtpRelay('served');
  const sched = new TlsHealthScheduler({
    concurrency: 1,
    intervalOverrideMs: INTERVAL_MS,
    probeTimeoutMs: PROBE_TIMEOUT_MS,
    delayGraceMinMs: GRACE_MIN_MS,
    logger: createLogger('test', 'error'),
    onProbed: () => undefined,
  });
  const inputs: TlsHealthInput[] = [
    { relay: hang, targets: [target('submission', silentPort, 587, 'starttls'), target('submissions', silentPort, 465, 'starttls')], servername: RELAY_HOST, expectedFingerprint: fx.leaf.fingerprint, caPem: fx.ca.caCert, canProbe: true },
    { relay: served, targets: [target('submission', relayProc.ports.submission, 587, 'starttls'), target('submissions', relayProc.ports.submissions, 465, 'implicit')], servername: RELAY_HOST, expectedFingerprint: fx.leaf.fingerprint, caPem: fx.ca.caCert, canProbe: true },
  ];
  const tlsSecret = { notBefore: new Date(Date.now() - 3_600_000).toISOString(), notAfter: new Date(Date.now() + 86_400_000).toISOString(), fingerprint: fx.leaf.fingerprint };
  let stored: SmtpRelayStatus | undefined;
  const written: SmtpRelayStatus[] = [];
  /** One reconcile of both relays; writes "served"'s status when it changed. */
  const reconcile = () => {
    sched.observe(inputs[0]!);
    const view = sched.observe(inputs[1]!);
    const status = computeStatus(
      { ...served, status: stored },
      {
        problems: [],
        deployment: { generation: 1, observedGeneration: 1, replicas: 1, updatedReplicas: 1, readyReplicas: 1, availableReplicas: 1 },
        tlsSecret,
        probe: { enabled: true, endpoints: view.endpoints, ...(view.probeDelayedSince ? { delayedSince: view.probeDelayedSince } : {}) },
      },
      new Date(),
    );
    if (statusWriteDecision(stored, status).write) {
      stored = status;
      written.push(status);
    }
  };
  const until = async (description: string, ok: () => boolean, timeoutMs: number) => {
    const end = Date.now() + timeoutMs;
    while (!ok()) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${description}; TLSHealthy writes: ${written.map((s) => tlsHealthy(s)?.reason).join(', ')}`);
      reconcile();
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  try {
    await until('the first healthy status', () => tlsHealthy(stored)?.status === 'True', 20_000);
    expect(tlsHealthy(stored)!.reason).toMatch(/^(AllEndpointsHealthy|EndpointsHealthyWithWarnings)$/);
    const probeTimes = stored!.endpoints!.map((e) => e.lastProbeTime!);
    const firstProbe = [...probeTimes].sort()[0]!;

    // "hang" probes again and holds the only slot for 2 × 2.5 s; "served" is due 1 s after its probe.
    await until('ProbeDelayed', () => tlsHealthy(stored)?.reason === 'ProbeDelayed', 15_000);
    const delayed = stored!;
    expect(tlsHealthy(delayed)).toMatchObject({ status: 'Unknown', message: expect.stringContaining(`No TLS probe since ${firstProbe}`) });
    expect(tlsHealthy(delayed)!.message).toMatch(/the probe due at \S+ is overdue/);
    expect(delayed.tlsHealth).toBe('Unknown');
    expect(ready(delayed)).toMatchObject({ status: 'True', reason: 'Ready' });
    // The last results stay, unchanged.
    expect(delayed.endpoints!.map((e) => e.lastProbeTime)).toEqual(probeTimes);
    const writesWhenDelayed = written.length;

    // The hanging probes time out, "served" is probed again: Healthy, written once.
    await until('TLSHealthy=True again', () => tlsHealthy(stored)?.status === 'True', 15_000);
    expect(Date.parse(stored!.endpoints![0]!.lastProbeTime!)).toBeGreaterThan(Date.parse(firstProbe));
    expect(written.length).toBe(writesWhenDelayed + 1);
  } finally {
    await sched.stop();
  }
});
