// spec.tls.internalCertificate against the real API server and cert-manager, with relays run by
// the development-only local runtime (test/harness/local-runtime.ts): the operator creates the
// second Certificate for the Service names, cert-manager issues it (CA ClusterIssuer test-ca),
// the relay mounts it and serves it by SNI, the probe reports both names healthy; removing the
// field prunes the Certificate and the in-cluster entries.
import { afterAll, beforeAll, expect, jest, test } from '@jest/globals';
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { SmtpRelay } from '../../../src/api/types.js';
import type { OperatorHandle } from '../../../src/controller/operator.js';
import { TEST_CA_ISSUER } from '../../harness/cert-manager.js';
import { createTestNamespace, kubeconfigPath, waitFor, type TestNamespace } from '../../harness/kube.js';
import { startLocalRuntime, type LocalRuntime } from '../../harness/local-runtime.js';
import { cliPath, nodeBin } from '../../helpers/cli.js';
import { applyRelay, condition, createUsersSecret, getChild, getRelay, kubectlOk, relayManifest, runOperatorInProcess } from './helpers.js';

jest.setTimeout(120_000);

let ns: TestNamespace;
let operator: OperatorHandle;
let runtime: LocalRuntime;
let workDir: string;
const runtimeLog: string[] = [];
const name = 'incluster';
const issuer = { name: TEST_CA_ISSUER, kind: 'ClusterIssuer' as const };

beforeAll(async () => {
  if (process.env.SMTP_RELAY_CERT_MANAGER !== '1') throw new Error('these tests need cert-manager in the test control plane (SMTP_RELAY_CERT_MANAGER=1); it did not start');
  if (!fs.existsSync(cliPath)) throw new Error(`${cliPath} is missing: npm run build first`);
  ns = await createTestNamespace('op-incluster');
  workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'op-incluster-'));
  await createUsersSecret(ns.name);
  operator = await runOperatorInProcess(ns.name, ['--tls-probe=on', '--probe-local-endpoints', '--probe-interval-override=2s']);
  runtime = await startLocalRuntime({ kubeconfig: kubeconfigPath(), namespace: ns.name, cliPath, nodeBin, workDir, pollMs: 250, log: (l) => runtimeLog.push(l) });
});

afterAll(async () => {
  await runtime?.stop();
  await operator?.stop();
  await ns?.cleanup();
  if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
});

async function waitForRelay(description: string, ok: (r: SmtpRelay) => boolean, timeoutMs = 60_000): Promise<SmtpRelay> {
  return waitFor(async () => {
    const r = await getRelay(ns.name, name);
    return r && ok(r) ? r : undefined;
  }, { description, timeoutMs, intervalMs: 100 }).catch(async (err: Error) => {
    const last = await getRelay(ns.name, name);
    throw new Error(`${err.message}\nlast status: ${JSON.stringify({ tlsHealthy: condition(last, 'TLSHealthy'), endpoints: last?.status?.endpoints })}\nlocal runtime log:\n${runtimeLog.slice(-40).join('\n')}`);
  });
}

const manifest = (internal: boolean) =>
  relayManifest(ns.name, name, {
    hostname: 'incluster.example.test',
    tls: { issuerRef: issuer, ...(internal ? { internalCertificate: { issuerRef: issuer } } : {}) },
    // The test CA issues short-lived certificates: warn only inside the last hour.
    healthCheck: { expiryWarning: '1h' },
  });

test('the second Certificate is created for the Service names and becomes Ready; the relay serves it by SNI and both names probe healthy', async () => {
  const created = Date.now();
  await applyRelay(manifest(true));
  const svcNames = [`${name}.${ns.name}.svc`, `${name}.${ns.name}.svc.cluster.local`, `${name}.${ns.name}`, name];
  const cert = await waitFor(() => getChild('Certificate', 'cert-manager.io/v1', ns.name, `${name}-internal-tls`), { description: 'the in-cluster Certificate', timeoutMs: 15_000 });
  expect(cert.spec).toMatchObject({ secretName: `${name}-internal-tls`, dnsNames: svcNames, issuerRef: { name: TEST_CA_ISSUER, kind: 'ClusterIssuer', group: 'cert-manager.io' } });
  expect(cert.metadata.ownerReferences?.[0]).toMatchObject({ kind: 'SmtpRelay', name, controller: true });

  const ready = await waitFor(async () => {
    const c = await getChild('Certificate', 'cert-manager.io/v1', ns.name, `${name}-internal-tls`);
    const conditions = (c?.status as { conditions?: { type: string; status: string }[] } | undefined)?.conditions ?? [];
    return conditions.some((x) => x.type === 'Ready' && x.status === 'True') ? c : undefined;
  }, { description: 'the in-cluster Certificate Ready=True', timeoutMs: 60_000, intervalMs: 200 });
  expect(ready).toBeDefined();
  const readyMs = Date.now() - created;
  const secret = JSON.parse(await kubectlOk(['get', 'secret', '-n', ns.name, `${name}-internal-tls`, '-o', 'json'])) as { data: Record<string, string> };
  const leaf = new X509Certificate(Buffer.from(secret.data['tls.crt']!, 'base64'));
  expect(leaf.subjectAltName?.split(', ').sort()).toEqual(svcNames.map((n) => `DNS:${n}`).sort());

  const healthy = await waitForRelay('TLSHealthy=True with the in-cluster names probed', (r) => condition(r, 'TLSHealthy')?.status === 'True' && (r.status?.endpoints?.length ?? 0) === 4);
  expect(healthy.status!.endpoints!.map((e) => [e.name, e.port, e.serverName, e.healthy, e.hostnameVerified, e.matchesSecret])).toEqual([
    ['submission', 587, 'incluster.example.test', true, true, true],
    ['submissions', 465, 'incluster.example.test', true, true, true],
    ['submission-in-cluster', 587, `${name}.${ns.name}.svc`, true, true, true],
    ['submissions-in-cluster', 465, `${name}.${ns.name}.svc`, true, true, true],
  ]);
  const served = healthy.status!.endpoints!.find((e) => e.name === 'submission-in-cluster')!.fingerprint;
  expect(served).toBe(leaf.fingerprint256.replace(/:/g, '').toLowerCase());
  console.log(`in-cluster Certificate Ready ${readyMs} ms after create; TLSHealthy with both names ${Date.now() - created} ms after create`);
});

test('removing spec.tls.internalCertificate prunes its Certificate and the in-cluster endpoints', async () => {
  await applyRelay(manifest(false));
  await waitFor(async () => ((await getChild('Certificate', 'cert-manager.io/v1', ns.name, `${name}-internal-tls`)) ? undefined : true), { description: 'the in-cluster Certificate pruned', timeoutMs: 30_000, intervalMs: 200 });
  expect(await getChild('Certificate', 'cert-manager.io/v1', ns.name, name)).toBeDefined();
  const after = await waitForRelay('only the public names probed', (r) => condition(r, 'TLSHealthy')?.status === 'True' && r.status?.endpoints?.map((e) => e.name).join(',') === 'submission,submissions');
  expect(after.status!.endpoints!.every((e) => e.serverName === 'incluster.example.test')).toBe(true);
});
