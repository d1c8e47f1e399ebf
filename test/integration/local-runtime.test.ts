// The development-only local runtime (test/harness/local-runtime.ts) against the real
// API server: the operator's own builders render the ConfigMap, Service and Deployment of
// an SmtpRelay; the runtime must run the real relay from them, answer SMTP on the mapped
// port, annotate the Service, patch the Deployment status, hot-swap a TLS Secret update
// without a restart, roll out on a template change and stop when the Deployment goes.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import type { SmtpRelay } from '../../src/api/types.js';
import { buildConfigMap, buildDeployment, buildService, type BuildContext } from '../../src/controller/builders/index.js';
import type { KubeObject } from '../../src/kube/types.js';
import { kubeJson, kubeRequest, type KubeHttpTarget } from '../harness/kube-http.js';
import { createTestNamespace, kubeconfigPath, waitFor, type TestNamespace } from '../harness/kube.js';
import { ENDPOINTS_ANNOTATION, startLocalRuntime, type LocalRuntime } from '../harness/local-runtime.js';
import { targetFromKubeconfig } from '../harness/service-account.js';
import { cliPath, nodeBin } from '../helpers/cli.js';
import { startCaptureUpstream, type CaptureUpstream } from '../helpers/smtp/capture-upstream.js';
import { createTestCa, type TestCa } from '../helpers/smtp/certs.js';
import { sendWithNodemailer } from '../helpers/smtp/clients.js';

const HOSTNAME = 'smtp.local-rt.test';
const b64 = (s: string) => Buffer.from(s).toString('base64');

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** SHA-256 of the leaf the implicit-TLS listener serves, hex lower case without colons. */
function servedFingerprint(port: number, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ca, servername: HOSTNAME, timeout: 3000 }, () => {
      const fp = socket.getPeerX509Certificate()?.fingerprint256 ?? '';
      socket.destroy();
      resolve(fp.replace(/:/g, '').toLowerCase());
    });
    socket.on('timeout', () => socket.destroy(new Error('TLS handshake timed out')));
    socket.on('error', reject);
  });
}

/** The builders' output minus the owner reference (there is no SmtpRelay object here). */
function standalone(obj: KubeObject): KubeObject {
  const copy = structuredClone(obj);
  delete copy.metadata.ownerReferences;
  return copy;
}

describe('local runtime (development only)', () => {
  let ns: TestNamespace;
  let admin: KubeHttpTarget;
  let ca: TestCa;
  let upstream: CaptureUpstream;
  let runtime: LocalRuntime;
  let workDir: string;
  const logs: string[] = [];
  const userPassword = randomBytes(12).toString('hex');

  beforeAll(async () => {
    ns = await createTestNamespace('local-rt');
    admin = await targetFromKubeconfig(kubeconfigPath());
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'local-rt-'));
    ca = createTestCa(path.join(workDir, 'ca'));
    const upLeaf = ca.issue('upstream', ['127.0.0.1']);
    const upPass = randomBytes(8).toString('hex');
    upstream = await startCaptureUpstream({ key: upLeaf.key, cert: upLeaf.cert, user: 'up', pass: upPass });
    const relayLeaf = ca.issue('relay', [HOSTNAME]);

    const relay: SmtpRelay = {
      apiVersion: 'smtprelay.dev/v1alpha1',
      kind: 'SmtpRelay',
      metadata: { name: 'rt', namespace: ns.name, uid: 'local-runtime-test', generation: 1 },
      spec: {
        hostname: HOSTNAME,
        tls: { secretName: 'rt-tls' },
        auth: { secretRef: { name: 'rt-users' } },
        upstream: { host: '127.0.0.1', port: upstream.port, tls: 'starttls', passwordSecretRef: { name: 'rt-upstream' }, caSecretRef: { name: 'rt-upstream-ca' } },
        policy: { allowedSenderDomains: ['example.com'] },
      },
    };
    const secret = (name: string, data: Record<string, string>, type = 'Opaque') => ({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name },
      type,
      data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])),
    });
    const base = `/api/v1/namespaces/${ns.name}`;
    await kubeJson(admin, 'POST', `${base}/secrets`, secret('rt-tls', { 'tls.crt': relayLeaf.cert, 'tls.key': relayLeaf.key }, 'kubernetes.io/tls'));
    await kubeJson(admin, 'POST', `${base}/secrets`, secret('rt-users', { alice: userPassword }));
    await kubeJson(admin, 'POST', `${base}/secrets`, secret('rt-upstream', { username: 'up', password: upPass }));
    await kubeJson(admin, 'POST', `${base}/secrets`, secret('rt-upstream-ca', { 'ca.crt': ca.caCert }));
    const ctx: BuildContext = { defaultImage: 'smtp-relay-operator:test', secretVersions: {} };
    await kubeJson(admin, 'POST', `${base}/configmaps`, standalone(buildConfigMap(relay, ctx)));
    await kubeJson(admin, 'POST', `${base}/services`, standalone(buildService(relay)!));
    await kubeJson(admin, 'POST', `/apis/apps/v1/namespaces/${ns.name}/deployments`, standalone(buildDeployment(relay, ctx)));

    runtime = await startLocalRuntime({ kubeconfig: kubeconfigPath(), namespace: ns.name, cliPath, nodeBin, workDir: path.join(workDir, 'runtime'), pollMs: 500, log: (l) => logs.push(l) });
  });

  afterAll(async () => {
    await runtime?.stop();
    await upstream?.close();
    await ns?.cleanup();
    if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
  });

  const relay = () => runtime.relays().find((r) => r.name === 'rt');
  const failureContext = () => `runtime log:\n${logs.join('\n')}`;

  test('runs the relay from the operator-built Deployment and it relays a message on the mapped port', async () => {
    const r = await waitFor(() => relay()?.ready && relay(), { description: `relay rt ready\n${failureContext()}`, timeoutMs: 30_000 });
    expect(r.pid).toBeDefined();
    expect(Object.keys(r.ports).sort()).toEqual(['submission', 'submissions']);
    const sent = await sendWithNodemailer({ port: r.ports.submission!, ca: ca.caCert, servername: HOSTNAME, user: 'alice', pass: userPassword, from: 'app@example.com', to: ['rcpt@dest.example'] });
    expect(sent).toMatchObject({ ok: true });
    await upstream.waitFor(1);
    expect(upstream.messages[0]).toMatchObject({ from: 'app@example.com', to: ['rcpt@dest.example'], user: 'up' });
  });

  test('mounts the volumes as the kubelet atomic writer does', () => {
    const tlsDir = path.join(workDir, 'runtime', ns.name, 'rt', 'volumes', 'tls');
    expect(fs.readlinkSync(path.join(tlsDir, '..data'))).toMatch(/^\.\.\d{4}_\d{2}_\d{2}_\d{2}_\d{2}_\d{2}\.\d+$/);
    expect(fs.readlinkSync(path.join(tlsDir, 'tls.crt'))).toBe(path.join('..data', 'tls.crt'));
  });

  test('annotates the Service with the local endpoints and patches the Deployment status', async () => {
    const r = relay()!;
    const expected = { submission: `127.0.0.1:${r.ports.submission}`, submissions: `127.0.0.1:${r.ports.submissions}` };
    await waitFor(
      async () => {
        const svc = await kubeJson<{ metadata: { annotations?: Record<string, string> } }>(admin, 'GET', `/api/v1/namespaces/${ns.name}/services/rt`);
        const value = svc.metadata.annotations?.[ENDPOINTS_ANNOTATION];
        return value !== undefined && JSON.stringify(JSON.parse(value)) === JSON.stringify(expected);
      },
      { description: 'Service endpoints annotation' },
    );
    const d = await waitFor(
      async () => {
        const dep = await kubeJson<{ metadata: { generation: number }; status?: { observedGeneration?: number; readyReplicas?: number; availableReplicas?: number; updatedReplicas?: number; replicas?: number; conditions?: { type: string; status: string }[] } }>(
          admin,
          'GET',
          `/apis/apps/v1/namespaces/${ns.name}/deployments/rt`,
        );
        return dep.status?.readyReplicas === 1 && dep;
      },
      { description: 'Deployment status readyReplicas=1' },
    );
    expect(d.status).toMatchObject({ replicas: 1, readyReplicas: 1, availableReplicas: 1, updatedReplicas: 1, observedGeneration: d.metadata.generation });
    expect(d.status?.conditions?.find((c) => c.type === 'Available')?.status).toBe('True');
    // Written under its own field manager, so the operator's server-side apply never fights it.
    const svcRaw = await kubeJson<{ metadata: { managedFields?: { manager: string }[] } }>(admin, 'GET', `/api/v1/namespaces/${ns.name}/services/rt`);
    expect(svcRaw.metadata.managedFields?.map((f) => f.manager)).toContain('local-runtime');
  });

  test('a TLS Secret update is served without restarting the relay', async () => {
    const before = relay()!;
    const oldLeafFp = await servedFingerprint(before.ports.submissions!, ca.caCert);
    const next = ca.issue('relay', [HOSTNAME]);
    expect(next.fingerprint).not.toBe(oldLeafFp);
    await kubeJson(admin, 'PATCH', `/api/v1/namespaces/${ns.name}/secrets/rt-tls`, { data: { 'tls.crt': b64(next.cert), 'tls.key': b64(next.key) } }, 'application/merge-patch+json');
    await waitFor(async () => (await servedFingerprint(before.ports.submissions!, ca.caCert)) === next.fingerprint, {
      description: `new certificate served\n${failureContext()}`,
      timeoutMs: 15_000,
      intervalMs: 250,
    });
    expect(relay()!.pid).toBe(before.pid);
    expect(isAlive(before.pid!)).toBe(true);
  });

  test('a pod template change rolls the relay process out', async () => {
    const before = relay()!;
    await kubeJson(
      admin,
      'PATCH',
      `/apis/apps/v1/namespaces/${ns.name}/deployments/rt`,
      { spec: { template: { metadata: { annotations: { 'smtprelay.dev/config-checksum': 'changed-by-test' } } } } },
      'application/merge-patch+json',
    );
    const after = await waitFor(() => relay()?.ready && relay()!.pid !== before.pid && relay(), { description: `rolled-out relay ready\n${failureContext()}`, timeoutMs: 30_000 });
    expect(isAlive(before.pid!)).toBe(false);
    // Ports stay stable across a rollout.
    expect(after.ports).toEqual(before.ports);
  });

  test('a relay process that dies is restarted, as the kubelet restarts a container', async () => {
    const before = relay()!;
    process.kill(before.pid!, 'SIGKILL');
    const after = await waitFor(() => relay()?.ready && relay()!.pid !== before.pid && relay(), { description: `restarted relay ready\n${failureContext()}`, timeoutMs: 20_000 });
    expect(after.ports).toEqual(before.ports);
    expect(logs.some((l) => l.includes('exited') && l.includes('restarting'))).toBe(true);
  });

  test('runs one process per replica, each on its own ports', async () => {
    await kubeJson(admin, 'PATCH', `/apis/apps/v1/namespaces/${ns.name}/deployments/rt`, { spec: { replicas: 2 } }, 'application/merge-patch+json');
    const both = await waitFor(
      () => {
        const rs = runtime.relays().filter((r) => r.name === 'rt');
        return rs.length === 2 && rs.every((r) => r.ready) && rs;
      },
      { description: `two ready replicas\n${failureContext()}`, timeoutMs: 30_000 },
    );
    expect(new Set(both.map((r) => r.pid)).size).toBe(2);
    expect(both[0]!.ports.submission).not.toBe(both[1]!.ports.submission);
    await waitFor(
      async () => {
        const dep = await kubeJson<{ status?: { readyReplicas?: number; replicas?: number } }>(admin, 'GET', `/apis/apps/v1/namespaces/${ns.name}/deployments/rt`);
        return dep.status?.readyReplicas === 2 && dep.status.replicas === 2;
      },
      { description: 'Deployment status readyReplicas=2' },
    );
  });

  test('deleting the Deployment stops its relay processes', async () => {
    const pids = runtime.relays().filter((r) => r.name === 'rt').map((r) => r.pid!);
    expect(pids.length).toBeGreaterThan(0);
    const res = await kubeRequest(admin, 'DELETE', `/apis/apps/v1/namespaces/${ns.name}/deployments/rt`);
    expect(res.status).toBe(200);
    await waitFor(() => relay() === undefined, { description: 'runtime forgot relay rt' });
    await waitFor(() => pids.every((pid) => !isAlive(pid)), { description: `relay pids ${pids.join(', ')} exited` });
  });
});
