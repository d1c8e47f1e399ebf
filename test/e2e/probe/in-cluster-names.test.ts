// The operator's TLS-health scheduler, with the real prober, against a real relay that serves
// an in-cluster certificate by SNI (spec.tls.internalCertificate): every listener is probed
// under the public hostname and under its Service name, both are reported in status.endpoints
// (serverName says which), and a wrong certificate on either name is unhealthy with a reason.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import path from 'node:path';
import type { EndpointStatus, SmtpRelay } from '../../../src/api/types.js';
import { createLogger } from '../../../src/common/logger.js';
import { TlsHealthScheduler, type TlsHealthInput } from '../../../src/controller/tls-health/scheduler.js';
import { LOCAL_ENDPOINTS_ANNOTATION, probeTargets } from '../../../src/controller/tls-health/targets.js';
import type { KubeObject } from '../../../src/kube/types.js';
import { tlsHealthSummary } from '../../../src/probe/endpoint-status.js';
import type { RelayRuntime } from '../../../src/relay/relay.js';
import { writeAtomicDir, type Leaf } from '../../helpers/smtp/certs.js';
import { createRelayFixture, RELAY_HOST, startInProcessRelay, type RelayFixture } from '../../helpers/smtp/relay-fixture.js';

// The SmtpRelay `outbound` in namespace `mail`: its Service is outbound.mail.svc.
const SVC = 'outbound.mail.svc';
const SVC_NAMES = [SVC, `${SVC}.cluster.local`, 'outbound.mail', 'outbound'];
const smtpRelay = (internal: boolean): SmtpRelay => ({
  apiVersion: 'smtprelay.dev/v1alpha1',
  kind: 'SmtpRelay',
  metadata: { name: 'outbound', namespace: 'mail', uid: 'u1', generation: 1 },
  spec: {
    hostname: RELAY_HOST,
    tls: { issuerRef: { name: 'public' }, ...(internal ? { internalCertificate: { issuerRef: { name: 'cluster-ca', kind: 'ClusterIssuer' } } } : {}) },
    upstream: { host: 'upstream.example.net' },
    // The test CA's certificates live two days: warn only inside the last hour.
    healthCheck: { expiryWarning: '1h' },
  },
});

interface Served {
  fx: RelayFixture;
  relay: RelayRuntime;
  internal: Leaf;
}

/** A relay with the public certificate and, when `serveInternal`, the in-cluster one for SVC_NAMES. */
async function startRelay(serveInternal: boolean): Promise<Served> {
  const fx = await createRelayFixture();
  // As cert-manager issues it for the in-cluster Certificate: no commonName, so an empty subject.
  const internal = fx.ca.issue('internal', SVC_NAMES, { emptySubject: true });
  if (serveInternal) {
    const dir = path.join(fx.root, 'internal-tls');
    writeAtomicDir(dir, { 'tls.crt': internal.cert, 'tls.key': internal.key });
    fx.config.tls.internal = { dir, serverNames: SVC_NAMES };
  }
  return { fx, relay: await startInProcessRelay(fx), internal };
}

/** One probe cycle of the scheduler, as the reconciler runs it, with the local runtime's Service annotation for addresses. */
async function probeOnce(served: Served, spec: SmtpRelay, internalFingerprint: string): Promise<EndpointStatus[]> {
  const { fx, relay } = served;
  const service = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'outbound', namespace: 'mail', annotations: { [LOCAL_ENDPOINTS_ANNOTATION]: JSON.stringify({ submission: `127.0.0.1:${relay.port('submission')}`, submissions: `127.0.0.1:${relay.port('submissions')}` }) } } } as KubeObject;
  const targets = probeTargets(spec, service, true);
  if (!targets.ok) throw new Error(targets.why);
  let probed!: () => void;
  const done = new Promise<void>((resolve) => (probed = resolve));
  const sched = new TlsHealthScheduler({ concurrency: 4, logger: createLogger('test', 'error'), probeTimeoutMs: 5000, onProbed: () => probed() });
  const input: TlsHealthInput = {
    relay: spec,
    targets: targets.targets,
    servername: spec.spec.hostname,
    expectedFingerprint: fx.leaf.fingerprint,
    caPem: fx.ca.caCert,
    internal: { expectedFingerprint: internalFingerprint, caPem: fx.ca.caCert },
    canProbe: true,
  };
  sched.observe(input);
  await done;
  const endpoints = sched.observe(input).endpoints ?? [];
  await sched.stop();
  return endpoints;
}

const row = (e: EndpointStatus) => [e.name, e.port, e.serverName, e.healthy, e.hostnameVerified, e.matchesSecret];
const reasons = (e: EndpointStatus | undefined) => (e?.failures ?? []).filter((f) => f.result === 'fail').map((f) => f.reason);

describe('a relay that serves the in-cluster certificate by SNI', () => {
  let served: Served;
  beforeAll(async () => {
    served = await startRelay(true);
  });
  afterAll(async () => {
    await served?.relay.stop(200);
    await served?.fx.cleanup();
  });

  test('both names of every listener are probed and reported healthy, each with its own certificate', async () => {
    const endpoints = await probeOnce(served, smtpRelay(true), served.internal.fingerprint);
    expect(endpoints.map(row)).toEqual([
      ['submission', 587, RELAY_HOST, true, true, true],
      ['submissions', 465, RELAY_HOST, true, true, true],
      ['submission-in-cluster', 587, SVC, true, true, true],
      ['submissions-in-cluster', 465, SVC, true, true, true],
    ]);
    expect(endpoints.find((e) => e.name === 'submission-in-cluster')!.fingerprint).toBe(served.internal.fingerprint);
    expect(endpoints.find((e) => e.name === 'submission')!.fingerprint).toBe(served.fx.leaf.fingerprint);
    expect(tlsHealthSummary(endpoints)).toBe('Healthy');
  });

  test('an in-cluster certificate other than the one in its Secret is unhealthy (stale), the public names stay healthy', async () => {
    const endpoints = await probeOnce(served, smtpRelay(true), 'ab'.repeat(32));
    expect(endpoints.map((e) => [e.name, e.healthy])).toEqual([
      ['submission', true],
      ['submissions', true],
      ['submission-in-cluster', false],
      ['submissions-in-cluster', false],
    ]);
    expect(reasons(endpoints.find((e) => e.name === 'submissions-in-cluster'))).toEqual(['stale-certificate-served']);
    expect(tlsHealthSummary(endpoints)).toBe('Unhealthy');
  });

  test('without spec.tls.internalCertificate only the public names are probed', async () => {
    const endpoints = await probeOnce(served, smtpRelay(false), served.internal.fingerprint);
    expect(endpoints.map((e) => e.name)).toEqual(['submission', 'submissions']);
  });
});

describe('a relay that does not serve it (the public certificate for every name)', () => {
  let served: Served;
  beforeAll(async () => {
    served = await startRelay(false);
  });
  afterAll(async () => {
    await served?.relay.stop(200);
    await served?.fx.cleanup();
  });

  test('the in-cluster names are unhealthy: the certificate does not cover the Service name and is not the in-cluster one', async () => {
    const endpoints = await probeOnce(served, smtpRelay(true), served.internal.fingerprint);
    expect(endpoints.map(row)).toEqual([
      ['submission', 587, RELAY_HOST, true, true, true],
      ['submissions', 465, RELAY_HOST, true, true, true],
      ['submission-in-cluster', 587, SVC, false, false, false],
      ['submissions-in-cluster', 465, SVC, false, false, false],
    ]);
    expect(reasons(endpoints.find((e) => e.name === 'submission-in-cluster'))).toEqual(expect.arrayContaining(['certificate-host-mismatch', 'stale-certificate-served']));
    expect(tlsHealthSummary(endpoints)).toBe('Unhealthy');
  });
});
