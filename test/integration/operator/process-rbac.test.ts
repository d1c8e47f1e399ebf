// The operator as users run it: the compiled CLI (`node dist/cli.js operator`),
// authenticated as the ServiceAccount smtp-relay-operator with exactly the RBAC
// in deploy/base/rbac.yaml, with leader election on. It must do all its work
// (informers, apply, status, prune, events, Lease) without one Forbidden, and
// stop cleanly on SIGTERM, releasing the Lease.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, jest, test } from '@jest/globals';
import { cliPath, nodeBin, repoRoot } from '../../helpers/cli.js';
import { createTestNamespace, kubeconfigPath, kubectl, serviceAccountKubeconfig, waitFor, type TestNamespace } from '../../harness/kube.js';
import { SIM_DEPLOYMENT_STATUS } from '../../harness/simulated.js';
import { applyRelay, condition, createTlsSecret, createUsersSecret, eventsFor, getChild, getRelay, kubectlOk, relayManifest, simulateDeploymentAvailable } from './helpers.js';

jest.setTimeout(120_000);

const SYSTEM_NS = 'smtp-relay-system';
let ns: TestNamespace;
let child: ChildProcess | undefined;
let output = '';
const leaseName = `smtp-relay-operator-test-${process.pid}`;

beforeAll(async () => {
  if (!fs.existsSync(cliPath)) throw new Error(`${cliPath} is missing: run 'npm run build' first (npm test does)`);
  ns = await createTestNamespace('op-rbac');
  await createUsersSecret(ns.name);
  const created = await kubectl(['create', 'namespace', SYSTEM_NS]);
  if (created.code !== 0 && !/AlreadyExists/.test(created.stderr)) throw new Error(created.stderr);
  await kubectlOk(['apply', '-f', path.join(repoRoot, 'deploy', 'base', 'rbac.yaml')]);
  const saKubeconfig = await serviceAccountKubeconfig({ kubeconfigPath: kubeconfigPath() }, SYSTEM_NS, 'smtp-relay-operator');
  child = spawn(
    nodeBin,
    [cliPath, 'operator', '--kubeconfig', saKubeconfig, '--namespace', ns.name, '--tls-probe=off', '--mail-auth-check=off', '--leader-elect=true', '--leader-election-namespace', SYSTEM_NS, '--leader-election-id', leaseName, '--metrics-port=0', '--health-port=0', '--bind-address=127.0.0.1'],
    { env: { ...process.env, KUBECONFIG: '', LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (output += c));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (output += c));
});

afterAll(async () => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  await ns?.cleanup();
});

test(`reconciles with only its RBAC, then stops on SIGTERM with exit 0 and releases the Lease ${SIM_DEPLOYMENT_STATUS}`, async () => {
  const name = 'rbac';
  await createTlsSecret(ns.name, 'rbac-own', 'rbac.example.test');
  const created = Date.now();
  await applyRelay(relayManifest(ns.name, name, { tls: { issuerRef: { name: 'test-ca', kind: 'ClusterIssuer' } } }));

  // Informers, apply, issuer check, status: all under the ServiceAccount.
  await waitFor(async () => condition(await getRelay(ns.name, name), 'CertificateReady')?.status === 'True', { description: 'CertificateReady', timeoutMs: 60_000, intervalMs: 100 }).catch(
    async (err: Error) => {
      const stalled = condition(await getRelay(ns.name, name), 'Stalled');
      throw new Error(`${err.message}\nStalled: ${JSON.stringify(stalled)}\noperator output:\n${output.slice(-4000)}`);
    },
  );
  await simulateDeploymentAvailable(ns.name, name);
  await waitFor(async () => condition(await getRelay(ns.name, name), 'Ready')?.status === 'True', { description: 'Ready', timeoutMs: 20_000, intervalMs: 50 });
  process.stdout.write(`LATENCY out-of-process operator (ServiceAccount RBAC, leader election): create->Ready ${Date.now() - created} ms\n`);
  await waitFor(async () => (await eventsFor(ns.name, name)).some((e) => e.reason === 'Ready'), { description: 'an Event', timeoutMs: 10_000 });

  // Pruning (delete) and a Secret read for the new TLS Secret.
  await kubectlOk(['-n', ns.name, 'patch', 'smtprelay', name, '--type=merge', '-p', JSON.stringify({ spec: { tls: { issuerRef: null, secretName: 'rbac-own' } } })]);
  await waitFor(async () => (await getChild('Certificate', 'cert-manager.io/v1', ns.name, name)) === undefined, { description: 'Certificate pruned', timeoutMs: 15_000 });
  await waitFor(async () => (await getRelay(ns.name, name))?.status?.certificate?.secretName === 'rbac-own', { description: 'status from the new Secret', timeoutMs: 10_000 });

  // Metrics and health endpoints of the running process.
  const started = output.split('\n').filter((l) => l.includes('"operator started"')).map((l) => JSON.parse(l) as { metricsPort: number; healthPort: number })[0]!;
  const metrics = await (await fetch(`http://127.0.0.1:${started.metricsPort}/metrics`)).text();
  // The new Secret changed the pod template, so the relay is rolling out (not Ready) now: the gauge says so.
  const readyNow = condition(await getRelay(ns.name, name), 'Ready')?.status === 'True' ? 1 : 0;
  expect(metrics).toContain(`smtp_relay_ready{namespace="${ns.name}",name="${name}"} ${readyNow}`);
  expect(metrics).toMatch(/smtp_relay_operator_reconcile_total\{result="(success|requeue)"\} [1-9]/);
  expect(metrics).toMatch(/smtp_relay_operator_reconcile_duration_seconds_count [1-9]/);
  expect(metrics).toContain('smtp_relay_operator_queue_depth');
  expect((await fetch(`http://127.0.0.1:${started.healthPort}/healthz`)).status).toBe(200);
  expect((await fetch(`http://127.0.0.1:${started.healthPort}/readyz`)).status).toBe(200);

  const lease = JSON.parse(await kubectlOk(['-n', SYSTEM_NS, 'get', 'lease', leaseName, '-o', 'json'])) as { spec: { holderIdentity?: string } };
  expect(lease.spec.holderIdentity).toBeTruthy();
  expect(output).not.toMatch(/forbidden/i);

  const exited = new Promise<number | null>((resolve) => child!.once('exit', (code) => resolve(code)));
  child!.kill('SIGTERM');
  expect(await exited).toBe(0);
  const released = JSON.parse(await kubectlOk(['-n', SYSTEM_NS, 'get', 'lease', leaseName, '-o', 'json'])) as { spec: { holderIdentity?: string } };
  expect(released.spec.holderIdentity ?? '').toBe('');
  expect(output).toMatch(/"message":"stopped"/);
});
