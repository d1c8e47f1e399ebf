// The operator's TLS health against relays run by the development-only local runtime
// (test/harness/local-runtime.ts), which plays kubelet + Service (so the names say
// SIM_LOCAL_RUNTIME); the test itself writes no status. Create -> the runtime starts
// the relay from the operator's Deployment -> the operator (--probe-local-endpoints) probes it -> TLSHealthy=True and Ready.
// healthCheck.enabled=false turns probing off without blocking Ready.
import { afterAll, beforeAll, expect, jest, test } from '@jest/globals';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { SmtpRelay } from '../../../src/api/types.js';
import type { OperatorHandle } from '../../../src/controller/operator.js';
import { createTestNamespace, kubeconfigPath, waitFor, type TestNamespace } from '../../harness/kube.js';
import { startLocalRuntime, type LocalRuntime } from '../../harness/local-runtime.js';
import { SIM_LOCAL_RUNTIME } from '../../harness/simulated.js';
import { cliPath, nodeBin } from '../../helpers/cli.js';
import { applyRelay, condition, createUsersSecret, getRelay, relayManifest, runOperatorInProcess } from './helpers.js';

jest.setTimeout(90_000);

let ns: TestNamespace;
let operator: OperatorHandle;
let runtime: LocalRuntime;
let workDir: string;
const runtimeLog: string[] = [];

beforeAll(async () => {
  if (process.env.SMTP_RELAY_CERT_MANAGER !== '1') throw new Error('these tests need cert-manager in the test control plane (SMTP_RELAY_CERT_MANAGER=1); it did not start');
  if (!fs.existsSync(cliPath)) throw new Error(`${cliPath} is missing: npm run build first`);
  ns = await createTestNamespace('op-tls-rt');
  workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'op-tls-rt-'));
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

async function waitForRelay(name: string, description: string, ok: (r: SmtpRelay) => boolean, timeoutMs = 45_000): Promise<SmtpRelay> {
  return waitFor(async () => {
    const r = await getRelay(ns.name, name);
    return r && ok(r) ? r : undefined;
  }, { description, timeoutMs, intervalMs: 100 });
}

test(`a relay run by the local runtime becomes TLSHealthy and Ready with no status written by the test ${SIM_LOCAL_RUNTIME}`, async () => {
  const created = Date.now();
  await applyRelay(relayManifest(ns.name, 'rt', { hostname: 'rt.example.test', tls: { issuerRef: { name: 'test-ca', kind: 'ClusterIssuer' } } }));
  const healthy = await waitForRelay('rt', 'TLSHealthy=True', (r) => condition(r, 'TLSHealthy')?.status === 'True').catch((err: Error) => {
    throw new Error(`${err.message}\nlocal runtime log:\n${runtimeLog.join('\n')}`);
  });
  const healthyMs = Date.now() - created;
  expect(healthy.status!.endpoints!.map((e) => [e.name, e.port, e.healthy, e.tlsVersion, e.group, e.matchesSecret, e.chainVerified])).toEqual([
    ['submission', 587, true, 'TLSv1.3', 'X25519MLKEM768', true, true],
    ['submissions', 465, true, 'TLSv1.3', 'X25519MLKEM768', true, true],
  ]);
  const ready = await waitForRelay('rt', 'Ready=True', (r) => condition(r, 'Ready')?.status === 'True', 15_000);
  process.stdout.write(`LATENCY tls-health (local runtime, real relay process): create->TLSHealthy=True ${healthyMs} ms, create->Ready ${Date.now() - created} ms\n`);
  expect(ready.status!.tlsHealth).toMatch(/^(Healthy|Degraded)$/);
});

test(`healthCheck.enabled=false: not probed, TLSHealthy Unknown/NotProbed, and Ready all the same ${SIM_LOCAL_RUNTIME}`, async () => {
  await applyRelay(relayManifest(ns.name, 'quiet', { hostname: 'quiet.example.test', tls: { issuerRef: { name: 'test-ca', kind: 'ClusterIssuer' } }, healthCheck: { enabled: false } }));
  const ready = await waitForRelay('quiet', 'Ready=True', (r) => condition(r, 'Ready')?.status === 'True');
  expect(condition(ready, 'TLSHealthy')).toMatchObject({ status: 'Unknown', reason: 'NotProbed', message: expect.stringContaining('spec.healthCheck.enabled: false') });
  expect(ready.status!.endpoints).toBeUndefined();
  expect(await operator.metrics.registry.metrics()).not.toMatch(/smtp_relay_probe_success\{[^}]*name="quiet"/);
});
