// The reconciler with TLS health: status writes only on a changed outcome (plus a
// heartbeat every 10 minutes), Events on TLS transitions, the TLS Secret's ca.crt and
// fingerprint handed to the prober, and the requeue following the next probe.
// The cluster is an in-memory ClusterAccess; the scheduler is a stand-in that returns
// whatever endpoints the test sets (its own rules are tested in tls-health.test.ts).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, test } from '@jest/globals';
import type { EndpointStatus, SmtpRelay, SmtpRelayStatus } from '../../../src/api/types.js';
import { createLogger } from '../../../src/common/logger.js';
import { names } from '../../../src/controller/builders/index.js';
import { Reconciler, type ClusterAccess } from '../../../src/controller/reconciler.js';
import type { TlsHealthInput, TlsHealthView } from '../../../src/controller/tls-health/index.js';
import { SecretFactsCache } from '../../../src/controller/tls-secret.js';
import type { KubeObject } from '../../../src/kube/types.js';
import { healthyEndpoint, relay as relayFixture } from './fixtures.js';

let certPem: string;
let caPem: string;

beforeAll(() => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rec-tls-'));
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '90', '-subj', '/CN=smtp.example.com', '-keyout', path.join(dir, 'k.pem'), '-out', path.join(dir, 'c.pem')], { stdio: 'ignore' });
    certPem = fs.readFileSync(path.join(dir, 'c.pem'), 'utf8');
    caPem = certPem; // any PEM: the reconciler only passes it on
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

const MIN = 60_000;

function world(spec: Partial<SmtpRelay['spec']> = {}) {
  // Within the certificate's validity (made just now by openssl).
  let now = Date.now() + MIN;
  let rv = 1;
  let relay: SmtpRelay = { ...relayFixture({ tls: { secretName: 'byo' }, ...spec }), metadata: { ...relayFixture().metadata, resourceVersion: '1' } };
  const writes: SmtpRelayStatus[] = [];
  const events: { type: string; reason: string; message: string }[] = [];
  const inputs: TlsHealthInput[] = [];
  let view: TlsHealthView = {};
  let forgotten = 0;
  const deployment: KubeObject = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: names.deployment(relay), namespace: relay.metadata.namespace, generation: 1, ownerReferences: [{ apiVersion: 'smtprelay.dev/v1alpha1', kind: 'SmtpRelay', name: relay.metadata.name, uid: relay.metadata.uid!, controller: true }] },
    status: { observedGeneration: 1, replicas: 1, updatedReplicas: 1, readyReplicas: 1, availableReplicas: 1 },
  };
  const cluster: ClusterAccess = {
    getRelay: () => relay,
    secretVersion: () => '5',
    ownedChildren: () => [deployment],
    cachedChild: (kind, _ns, name) => (kind === 'Deployment' && name === deployment.metadata.name ? deployment : undefined),
    getLive: async () => undefined,
    apply: async (obj) => (obj.kind === 'Deployment' ? deployment : { ...obj, metadata: { ...obj.metadata, ownerReferences: [{ apiVersion: 'smtprelay.dev/v1alpha1', kind: 'SmtpRelay', name: relay.metadata.name, uid: relay.metadata.uid!, controller: true }] } }),
    applyStatus: async (_r, status) => {
      writes.push(status);
      relay = { ...relay, status, metadata: { ...relay.metadata, resourceVersion: String(++rv) } };
    },
    delete: async () => undefined,
    certManagerInstalled: async () => true,
    issuerExists: async () => true,
    event: async (_r, type, reason, message) => {
      events.push({ type, reason, message });
    },
  };
  const secrets = new SecretFactsCache(async () => ({ resourceVersion: '5', data: { 'tls.crt': Buffer.from(certPem).toString('base64'), 'tls.key': 'eA==', 'ca.crt': Buffer.from(caPem).toString('base64') } }));
  const reconciler = new Reconciler({
    cluster,
    secrets,
    defaultImage: 'img',
    probeEnabled: true,
    tlsHealth: {
      observe: (input) => {
        inputs.push(input);
        return view;
      },
      forget: () => forgotten++,
    },
    logger: createLogger('test', 'error'),
    now: () => new Date(now),
  });
  return {
    reconcile: () => reconciler.reconcile(`${relay.metadata.namespace}/${relay.metadata.name}`),
    setView: (v: TlsHealthView) => (view = v),
    advance: (ms: number) => (now += ms),
    now: () => now,
    writes,
    events,
    inputs,
    forgotten: () => forgotten,
  };
}

// Volatile fields move with the clock, as real probes' do.
const ep = (at: number, over: Partial<EndpointStatus> = {}): EndpointStatus =>
  healthyEndpoint({ latencyMilliseconds: 10 + (at % 13), lastProbeTime: new Date(at).toISOString(), ...over });

describe('reconcile with TLS health', () => {
  test('hands the prober the Service target, spec.hostname, the Secret fingerprint and ca.crt; requeues for the next probe', async () => {
    const w = world();
    w.setView({ nextProbeInMs: 42_000 });
    const result = await w.reconcile();
    const input = w.inputs.at(-1)!;
    expect(input).toMatchObject({ servername: 'smtp.example.com', caPem, canProbe: true, expectedFingerprint: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(input.targets.map((t) => `${t.name}@${t.host}:${t.port}`)).toEqual(['submission@mail.team-a.svc:587', 'submissions@mail.team-a.svc:465']);
    expect(result.requeueAfterMs).toBe(42_000);
  });

  test('same outcome twice: one write; new latency/probe time only: no write; changed cipher: write; 10 min: heartbeat', async () => {
    const w = world();
    w.setView({ endpoints: [ep(w.now())], nextProbeInMs: MIN });
    await w.reconcile();
    expect(w.writes.length).toBe(1);
    await w.reconcile();
    expect(w.writes.length).toBe(1);
    for (let i = 0; i < 9; i++) {
      w.advance(MIN);
      w.setView({ endpoints: [ep(w.now())], nextProbeInMs: MIN });
      await w.reconcile();
    }
    expect(w.writes.length).toBe(1); // 9 more probes, same outcome
    w.advance(MIN);
    w.setView({ endpoints: [ep(w.now())], nextProbeInMs: MIN });
    await w.reconcile();
    expect(w.writes.length).toBe(2); // 10 minutes after the written probe time: heartbeat
    expect(w.writes[1]!.endpoints![0]!.lastProbeTime).toBe(new Date(w.now()).toISOString());
    w.advance(MIN);
    w.setView({ endpoints: [ep(w.now(), { cipher: 'TLS_CHACHA20_POLY1305_SHA256' })], nextProbeInMs: MIN });
    await w.reconcile();
    expect(w.writes.length).toBe(3);
  });

  test('healthy -> stale -> healthy: Ready follows, one Warning TLSUnhealthy and one Normal TLSHealthy, no Ready warning on top', async () => {
    const w = world();
    w.setView({ endpoints: [ep(w.now())] });
    await w.reconcile();
    expect(w.writes.at(-1)!.conditions!.find((c) => c.type === 'Ready')).toMatchObject({ status: 'True' });
    w.events.length = 0;
    w.advance(MIN);
    w.setView({ endpoints: [ep(w.now(), { healthy: false, matchesSecret: false, failures: [{ check: 'certificate-fingerprint', result: 'fail', reason: 'stale-certificate-served', message: 'served a, expected b' }] })] });
    await w.reconcile();
    const s = w.writes.at(-1)!;
    expect(s.conditions!.find((c) => c.type === 'TLSHealthy')).toMatchObject({ status: 'False', reason: 'StaleCertificateServed' });
    expect(s.conditions!.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'TLSUnhealthy' });
    expect(w.events).toEqual([{ type: 'Warning', reason: 'TLSUnhealthy', message: expect.stringMatching(/^StaleCertificateServed: /) }]);
    w.events.length = 0;
    w.advance(MIN);
    w.setView({ endpoints: [ep(w.now())] });
    await w.reconcile();
    expect(w.events.map((e) => `${e.type} ${e.reason}`).sort()).toEqual(['Normal Ready', 'Normal TLSHealthy']);
  });

  test('overdue results: TLSHealthy ProbeDelayed written once with a Warning event, Ready kept; the next probe clears it', async () => {
    const w = world();
    const probedAt = w.now();
    w.setView({ endpoints: [ep(probedAt)], nextProbeInMs: MIN });
    await w.reconcile();
    w.events.length = 0;
    w.advance(95_000);
    const since = new Date(probedAt + MIN).toISOString();
    w.setView({ endpoints: [ep(probedAt)], probeDelayedSince: since, nextProbeInMs: 25_000 });
    await w.reconcile();
    await w.reconcile();
    expect(w.writes.length).toBe(2);
    const delayed = w.writes[1]!;
    expect(delayed.conditions!.find((c) => c.type === 'TLSHealthy')).toMatchObject({ status: 'Unknown', reason: 'ProbeDelayed', message: expect.stringContaining(`the probe due at ${since} is overdue`) });
    expect(delayed.conditions!.find((c) => c.type === 'Ready')).toMatchObject({ status: 'True' });
    expect(w.events).toEqual([{ type: 'Warning', reason: 'ProbeDelayed', message: expect.stringContaining(since) }]);
    w.advance(5_000);
    w.setView({ endpoints: [ep(w.now())], nextProbeInMs: MIN });
    await w.reconcile();
    expect(w.writes.length).toBe(3);
    expect(w.writes[2]!.conditions!.find((c) => c.type === 'TLSHealthy')).toMatchObject({ status: 'True', reason: 'AllEndpointsHealthy' });
  });

  test('healthCheck.enabled=false and replicas 0 do not probe; the scheduler is not asked', async () => {
    for (const spec of [{ healthCheck: { enabled: false } }, { replicas: 0 }]) {
      const w = world(spec);
      await w.reconcile();
      expect(w.inputs).toEqual([]);
      expect(w.forgotten()).toBe(1); // earlier results and series are dropped
      expect(w.writes[0]!.conditions!.find((c) => c.type === 'TLSHealthy')).toMatchObject({ status: 'Unknown', reason: 'NotProbed' });
    }
  });
});
