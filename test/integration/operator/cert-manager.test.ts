// Relays whose certificate cert-manager issues (ClusterIssuer test-ca of the
// test control plane), switching to a Secret of their own, and a missing issuer.
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import type { OperatorHandle } from '../../../src/controller/operator.js';
import { createTestNamespace, waitFor, type TestNamespace } from '../../harness/kube.js';
import { applyRelay, condition, createTlsSecret, createUsersSecret, eventsFor, getChild, getRelay, kubectlOk, relayManifest, runOperatorInProcess, simulateDeploymentAvailable } from './helpers.js';

jest.setTimeout(90_000);

let ns: TestNamespace;
let operator: OperatorHandle;

beforeAll(async () => {
  if (process.env.SMTP_RELAY_CERT_MANAGER !== '1') {
    throw new Error('these tests need cert-manager in the test control plane (SMTP_RELAY_CERT_MANAGER=1); it did not start');
  }
  ns = await createTestNamespace('op-certs');
  await createUsersSecret(ns.name);
  operator = await runOperatorInProcess(ns.name);
});

afterAll(async () => {
  await operator?.stop();
  await ns?.cleanup();
});

describe('spec.tls.issuerRef', () => {
  const name = 'issued';

  test('cert-manager issues the certificate for the public names only (no .svc names, which ACME refuses); the relay becomes Ready', async () => {
    const created = Date.now();
    await applyRelay(relayManifest(ns.name, name, { tls: { issuerRef: { name: 'test-ca', kind: 'ClusterIssuer' }, additionalDNSNames: ['mx.example.test'] } }));
    const cert = await waitFor(() => getChild('Certificate', 'cert-manager.io/v1', ns.name, name), { description: 'the Certificate', timeoutMs: 15_000 });
    expect(cert.spec).toMatchObject({
      secretName: 'issued-tls',
      dnsNames: ['issued.example.test', 'mx.example.test'],
      issuerRef: { name: 'test-ca', kind: 'ClusterIssuer', group: 'cert-manager.io' },
      privateKey: { algorithm: 'ECDSA', size: 256, rotationPolicy: 'Always' },
    });
    expect(cert.metadata.ownerReferences?.[0]).toMatchObject({ kind: 'SmtpRelay', name, controller: true });

    const issued = await waitFor(async () => {
      const r = await getRelay(ns.name, name);
      return condition(r, 'CertificateReady')?.status === 'True' ? r : undefined;
    }, { description: 'CertificateReady=True', timeoutMs: 60_000, intervalMs: 100 });
    const issuedMs = Date.now() - created;
    expect(issued.status?.certificate).toMatchObject({ secretName: 'issued-tls', fingerprint: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(Date.parse(issued.status!.certificate!.notAfter!)).toBeGreaterThan(Date.now());

    await simulateDeploymentAvailable(ns.name, name);
    await waitFor(async () => condition(await getRelay(ns.name, name), 'Ready')?.status === 'True', { description: 'Ready', timeoutMs: 20_000, intervalMs: 50 });
    const readyMs = Date.now() - created;
    process.stdout.write(`LATENCY issuerRef relay: create->CertificateReady ${issuedMs} ms, create->Ready ${readyMs} ms (includes the simulated rollout)\n`);
  });

  test('switching to spec.tls.secretName prunes the Certificate and mounts the new Secret', async () => {
    await createTlsSecret(ns.name, 'own-cert', 'issued.example.test');
    await kubectlOk(['-n', ns.name, 'patch', 'smtprelay', name, '--type=merge', '-p', JSON.stringify({ spec: { tls: { issuerRef: null, secretName: 'own-cert' } } })]);
    await waitFor(async () => (await getChild('Certificate', 'cert-manager.io/v1', ns.name, name)) === undefined, { description: 'Certificate pruned', timeoutMs: 15_000, intervalMs: 100 });
    const d = await getChild('Deployment', 'apps/v1', ns.name, name);
    const volumes = (d!.spec as { template: { spec: { volumes: { name: string; secret?: { secretName: string } }[] } } }).template.spec.volumes;
    expect(volumes.find((v) => v.name === 'tls')?.secret?.secretName).toBe('own-cert');
    const relay = await waitFor(async () => {
      const r = await getRelay(ns.name, name);
      return r?.status?.certificate?.secretName === 'own-cert' ? r : undefined;
    }, { description: 'status follows the new Secret', timeoutMs: 10_000 });
    expect(condition(relay, 'CertificateReady')).toMatchObject({ status: 'True', reason: 'CertificateValid' });
  });
});

test('a missing Issuer stalls the relay with IssuerNotFound until it exists', async () => {
  const name = 'no-issuer';
  await applyRelay(relayManifest(ns.name, name, { tls: { issuerRef: { name: 'later', kind: 'Issuer' } } }));
  const stalled = await waitFor(async () => {
    const r = await getRelay(ns.name, name);
    return condition(r, 'Stalled')?.status === 'True' ? r : undefined;
  }, { description: 'Stalled', timeoutMs: 15_000, intervalMs: 100 });
  expect(condition(stalled, 'Stalled')).toMatchObject({ reason: 'IssuerNotFound' });
  expect(condition(stalled, 'Stalled')!.message).toMatch(/Issuer later was not found in namespace .*\. Create it/);
  expect(condition(stalled, 'CertificateReady')).toMatchObject({ status: 'False', reason: 'IssuerNotFound' });
  await waitFor(async () => (await eventsFor(ns.name, name)).some((e) => e.reason === 'IssuerNotFound' && e.type === 'Warning'), { description: 'IssuerNotFound event', timeoutMs: 10_000 });

  // Issuers are watched (metadata only) and mapped to the relays that reference them, so creating
  // one wakes the relay at once (so does the Secret cert-manager then issues; without either, the
  // stalled relay would wait for its growing retry).
  const createdAt = Date.now();
  await kubectlOk(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'cert-manager.io/v1', kind: 'Issuer', metadata: { name: 'later', namespace: ns.name }, spec: { selfSigned: {} } }));
  const healed = await waitFor(async () => {
    const r = await getRelay(ns.name, name);
    return condition(r, 'Stalled')?.status === 'False' ? r : undefined;
  }, { description: 'no longer Stalled', timeoutMs: 30_000, intervalMs: 100 });
  process.stdout.write(`LATENCY Issuer created -> relay no longer Stalled: ${Date.now() - createdAt} ms\n`);
  expect(condition(healed, 'Stalled')?.reason).toBe('NotStalled');
  await waitFor(() => getChild('Certificate', 'cert-manager.io/v1', ns.name, name), { description: 'Certificate created', timeoutMs: 10_000 });
});
