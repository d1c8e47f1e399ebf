// SmtpRelay's scale subresource on real parts: the real kube-apiserver, the operator in process,
// the development-only local runtime (test/harness/local-runtime.ts) running every relay pod as a
// real relay process, and a real Postfix as the upstream of the Durable relay.
//
// - kubectl scale smtprelay/x: spec.replicas through /scale, the Deployment follows, no pod is
//   rolled; a later kubectl apply of a manifest without spec.replicas (GitOps) leaves the count
//   alone; the operator never writes the SmtpRelay's spec.
// - An autoscaling/v2 HorizontalPodAutoscaler targeting the SmtpRelay is accepted, discovery
//   offers smtprelays/scale, and GET /scale answers replicas and the selector. The writes are
//   made here the way the HPA controller makes them (GET /scale, PUT /scale): this control plane
//   runs no kube-controller-manager, so the real HPA controller is not part of this test.
//   Neither the SmtpRelay nor the Deployment is written more than once per scale (no write fight).
// - Durable: a scale-down through /scale drains the pods above the new count before they go.
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { SmtpRelay, SmtpRelaySpec } from '../../../src/api/types.js';
import type { QueueSummary } from '../../../src/common/queue-summary.js';
import type { OperatorHandle } from '../../../src/controller/operator.js';
import { isConflict } from '../../../src/kube/errors.js';
import { kubeRequest, kubeStreamLines, type KubeStream } from '../../../src/kube/http.js';
import type { KubeObject } from '../../../src/kube/types.js';
import { getFreePort } from '../../harness/controlplane.js';
import { createTestNamespace, kubeconfigPath, waitFor, type TestNamespace } from '../../harness/kube.js';
import { startLocalRuntime, type LocalRelay, type LocalRuntime } from '../../harness/local-runtime.js';
import { cliPath, nodeBin } from '../../helpers/cli.js';
import { createTestCa, type TestCa } from '../../helpers/smtp/certs.js';
import { sendWithNodemailer } from '../../helpers/smtp/clients.js';
import { startPostfix, type PostfixUpstream } from '../../helpers/smtp/postfix.js';
import { adminKube, applyRelay, createUsersSecret, getChild, getRelay, kubectlOk, relayManifest, runOperatorInProcess } from './helpers.js';

jest.setTimeout(240_000);

const PASSWORD = 'correct horse battery staple';
const HOST = (name: string) => `${name}.example.test`;
const SELECTOR = (name: string) => `app.kubernetes.io/instance=${name},app.kubernetes.io/name=smtp-relay`;
/** After a scale has settled, how long nothing more may be written (a write fight shows within a few watch round trips). */
const QUIET_MS = 5_000;

let ns: TestNamespace;
let operator: OperatorHandle;
let runtime: LocalRuntime;
let workDir: string;
let ca: TestCa;
let postfixPort: number;
let postfix: PostfixUpstream | undefined;
const runtimeLog: string[] = [];

beforeAll(async () => {
  if (!fs.existsSync(cliPath)) throw new Error(`${cliPath} is missing: npm run build first`);
  ns = await createTestNamespace('op-scale');
  workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'op-scale-'));
  ca = createTestCa(path.join(workDir, 'ca'));
  await createUsersSecret(ns.name);
  const leaf = ca.issue('relays', [HOST('web'), HOST('hpa'), HOST('queue')]);
  fs.writeFileSync(path.join(workDir, 'tls.crt'), leaf.cert);
  fs.writeFileSync(path.join(workDir, 'tls.key'), leaf.key);
  fs.writeFileSync(path.join(workDir, 'ca.crt'), ca.caCert);
  await kubectlOk(['-n', ns.name, 'create', 'secret', 'tls', 'relay-cert', `--cert=${path.join(workDir, 'tls.crt')}`, `--key=${path.join(workDir, 'tls.key')}`]);
  await kubectlOk(['-n', ns.name, 'create', 'secret', 'generic', 'upstream-ca', `--from-file=ca.crt=${path.join(workDir, 'ca.crt')}`]);
  postfixPort = await getFreePort(); // nothing listens yet: the upstream is down
  operator = await runOperatorInProcess(ns.name, ['--probe-local-endpoints', '--drain-timeout=120s']);
  runtime = await startLocalRuntime({ kubeconfig: kubeconfigPath(), namespace: ns.name, cliPath, nodeBin, workDir: path.join(workDir, 'rt'), pollMs: 250, log: (l) => runtimeLog.push(l) });
});

afterAll(async () => {
  await runtime?.stop();
  await operator?.stop();
  await postfix?.stop();
  await ns?.cleanup();
  if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
});

/** A relay manifest as it would sit in Git: no spec.replicas (an autoscaler owns the count). */
function manifest(name: string, spec: Partial<SmtpRelaySpec> = {}): SmtpRelay {
  return relayManifest(ns.name, name, {
    hostname: HOST(name),
    tls: { secretName: 'relay-cert' },
    upstream: { host: '127.0.0.1', port: postfixPort, tls: 'starttls', caSecretRef: { name: 'upstream-ca' } },
    healthCheck: { interval: '10s' },
    ...spec,
  });
}

const relayPath = (name: string, sub = '') => `/apis/smtprelay.dev/v1alpha1/namespaces/${ns.name}/smtprelays/${name}${sub}`;

interface Scale {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string; resourceVersion: string };
  spec: { replicas?: number };
  status: { replicas: number; selector?: string };
}

const getScale = (name: string) => kubeRequest<Scale>(adminKube(), { method: 'GET', path: relayPath(name, '/scale') });

/**
 * What the HPA controller does (pkg/controller/podautoscaler): read /scale, set spec.replicas, PUT it
 * back with the resourceVersion it read. A status write in between (the Scale's resourceVersion is
 * the SmtpRelay's) answers 409, and the HPA tries again on its next sync: so does this, at once.
 * Returns how many 409s it took.
 */
async function scaleAsTheHpaDoes(name: string, replicas: number): Promise<number> {
  for (let conflicts = 0; ; conflicts++) {
    const scale = await getScale(name);
    try {
      await kubeRequest(adminKube(), { method: 'PUT', path: `${relayPath(name, '/scale')}?fieldManager=kube-controller-manager`, body: { ...scale, spec: { replicas } } });
      return conflicts;
    } catch (err) {
      if (!isConflict(err) || conflicts >= 5) throw err;
    }
  }
}

async function workload(kind: 'Deployment' | 'StatefulSet', name: string): Promise<KubeObject & { spec: { replicas: number; template: unknown } }> {
  const w = await getChild(kind, 'apps/v1', ns.name, name);
  if (!w) throw new Error(`${kind} ${name} does not exist`);
  return w as KubeObject & { spec: { replicas: number; template: unknown } };
}

function podsOf(name: string, kind: 'StatefulSet' | 'Deployment'): LocalRelay[] {
  return runtime.relays().filter((r) => r.name === name && r.kind === kind).sort((a, b) => a.replica - b.replica);
}

async function readyPods(name: string, kind: 'StatefulSet' | 'Deployment', count: number): Promise<LocalRelay[]> {
  return waitFor(() => {
    const pods = podsOf(name, kind);
    return pods.length === count && pods.every((p) => p.ready) ? pods : undefined;
  }, { description: `${count} ready ${kind} pods of ${name}`, timeoutMs: 60_000, intervalMs: 200 }).catch((err: Error) => {
    throw new Error(`${err.message}\nlocal runtime log:\n${runtimeLog.slice(-40).join('\n')}`);
  });
}

async function waitForRelay(name: string, description: string, ok: (r: SmtpRelay) => boolean, timeoutMs = 60_000): Promise<SmtpRelay> {
  return waitFor(async () => {
    const r = await getRelay(ns.name, name);
    return r && ok(r) ? r : undefined;
  }, { description, timeoutMs, intervalMs: 200 });
}

/** The relay has seen its latest spec: observedGeneration caught up and the workload has the count. */
async function settled(name: string, kind: 'Deployment' | 'StatefulSet', replicas: number): Promise<void> {
  await waitForRelay(name, `${name} observedGeneration current, status.replicas ${replicas}`, (r) => r.status?.observedGeneration === r.metadata.generation && r.status?.replicas === replicas);
  expect((await workload(kind, name)).spec.replicas).toBe(replicas);
}

interface ManagedField {
  manager: string;
  operation: string;
  subresource?: string;
  fieldsV1?: { 'f:spec'?: Record<string, unknown> };
}

async function managedFields(name: string): Promise<ManagedField[]> {
  const out = await kubectlOk(['-n', ns.name, 'get', 'smtprelay', name, '-o', 'json', '--show-managed-fields']);
  return (JSON.parse(out) as { metadata: { managedFields: ManagedField[] } }).metadata.managedFields;
}

/** The operator's field manager writes the SmtpRelay's status only: never spec (spec.replicas is the user's or the autoscaler's). */
async function expectOperatorWritesStatusOnly(name: string): Promise<void> {
  const ours = (await managedFields(name)).filter((f) => f.manager === 'smtp-relay-operator');
  expect(ours.length).toBeGreaterThan(0);
  for (const f of ours) {
    expect(f.subresource).toBe('status');
    expect(f.fieldsV1?.['f:spec']).toBeUndefined();
  }
}

/** The SmtpRelay's generation: it counts the writes that changed its spec (a custom resource's annotations do not count). */
async function relayGeneration(name: string): Promise<number> {
  return (await getRelay(ns.name, name))!.metadata.generation!;
}

/**
 * Every spec.replicas a watched object has had, consecutive repeats folded: [1, 3] is one scale;
 * a write fight shows as a flip-flop ([1, 3, 1, 3]). (The Deployment's generation cannot count the
 * writes: the local runtime's pod annotation bumps it too.)
 */
interface ReplicasHistory {
  values: number[];
  stop(): void;
}

const watches: KubeStream[] = [];
afterAll(() => watches.forEach((w) => w.abort()));

async function watchReplicas(collection: string, name: string): Promise<ReplicasHistory> {
  const values: number[] = [];
  const stream = await kubeStreamLines(adminKube(), { method: 'GET', path: `${collection}?watch=1&fieldSelector=metadata.name%3D${name}`, idleTimeoutMs: 120_000 }, (line) => {
    const event = JSON.parse(line) as { type: string; object: { spec?: { replicas?: number } } };
    const replicas = event.object.spec?.replicas;
    if (event.type !== 'DELETED' && replicas !== undefined && values[values.length - 1] !== replicas) values.push(replicas);
  });
  watches.push(stream);
  await waitFor(() => values.length > 0, { description: `watch of ${name} started`, timeoutMs: 10_000 });
  return { values, stop: () => stream.abort() };
}

const deploymentsPath = () => `/apis/apps/v1/namespaces/${ns.name}/deployments`;
const relaysPath = () => `/apis/smtprelay.dev/v1alpha1/namespaces/${ns.name}/smtprelays`;

describe('kubectl scale smtprelay', () => {
  test('spec.replicas through /scale; the Deployment follows without rolling a pod; the operator writes no spec', async () => {
    await applyRelay(manifest('web', { queue: { mode: 'PassThrough' } }));
    const [first] = await readyPods('web', 'Deployment', 1);
    await settled('web', 'Deployment', 1);
    const before = await workload('Deployment', 'web');
    const generation = await relayGeneration('web');
    const deploymentReplicas = await watchReplicas(deploymentsPath(), 'web');
    const relayReplicas = await watchReplicas(relaysPath(), 'web');

    await kubectlOk(['-n', ns.name, 'scale', 'smtprelay/web', '--replicas=3']);
    await readyPods('web', 'Deployment', 3);
    await settled('web', 'Deployment', 3);
    const after = await workload('Deployment', 'web');
    // Scaling is not a rollout: same template, and the first pod is the same process.
    expect(after.spec.template).toEqual(before.spec.template);
    expect(podsOf('web', 'Deployment')[0]!.pid).toBe(first!.pid);
    const relay = (await getRelay(ns.name, 'web'))!;
    expect(relay.spec.replicas).toBe(3);
    expect(relay.status!.selector).toBe(SELECTOR('web'));
    // One spec write to the SmtpRelay (kubectl's), one replica change of the Deployment (the operator's), and quiet after.
    await new Promise((r) => setTimeout(r, QUIET_MS));
    expect(await relayGeneration('web')).toBe(generation + 1);
    expect(relayReplicas.values).toEqual([1, 3]);
    expect(deploymentReplicas.values).toEqual([1, 3]);
    relayReplicas.stop();
    deploymentReplicas.stop();
    await expectOperatorWritesStatusOnly('web');
  });

  test('a later kubectl apply of the manifest without spec.replicas (client-side or server-side) leaves the scaled count', async () => {
    const generation = await relayGeneration('web');
    const deploymentReplicas = await watchReplicas(deploymentsPath(), 'web');
    await applyRelay(manifest('web', { queue: { mode: 'PassThrough' } }));
    await kubectlOk(['apply', '--server-side', '--field-manager=gitops', '-f', '-'], JSON.stringify(manifest('web', { queue: { mode: 'PassThrough' } })));
    await new Promise((r) => setTimeout(r, QUIET_MS));
    expect((await getRelay(ns.name, 'web'))!.spec.replicas).toBe(3);
    expect(await relayGeneration('web')).toBe(generation);
    expect(deploymentReplicas.values).toEqual([3]);
    deploymentReplicas.stop();
  });
});

describe('a HorizontalPodAutoscaler targeting an SmtpRelay (its /scale writes made as the HPA controller makes them)', () => {
  test('the API server accepts the HPA, discovery offers smtprelays/scale, and GET /scale answers replicas and the selector', async () => {
    await applyRelay(manifest('hpa', { queue: { mode: 'PassThrough' } }));
    await readyPods('hpa', 'Deployment', 1);
    await settled('hpa', 'Deployment', 1);
    const hpa = {
      apiVersion: 'autoscaling/v2',
      kind: 'HorizontalPodAutoscaler',
      metadata: { name: 'hpa', namespace: ns.name },
      spec: {
        scaleTargetRef: { apiVersion: 'smtprelay.dev/v1alpha1', kind: 'SmtpRelay', name: 'hpa' },
        minReplicas: 1,
        maxReplicas: 3,
        metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 70 } } }],
      },
    };
    await kubectlOk(['apply', '-f', '-'], JSON.stringify(hpa));
    expect(await getChild('HorizontalPodAutoscaler', 'autoscaling/v2', ns.name, 'hpa')).toMatchObject({ spec: { scaleTargetRef: { kind: 'SmtpRelay', name: 'hpa' } } });

    // The HPA controller finds the scale subresource through discovery (scale client, RESTMapper).
    const discovery = await kubeRequest<{ resources: { name: string; kind: string; group?: string; version?: string; verbs: string[] }[] }>(adminKube(), { method: 'GET', path: '/apis/smtprelay.dev/v1alpha1' });
    expect(discovery.resources.find((r) => r.name === 'smtprelays/scale')).toMatchObject({ kind: 'Scale', group: 'autoscaling', version: 'v1', verbs: expect.arrayContaining(['get', 'update', 'patch']) });

    const scale = await getScale('hpa');
    expect(scale).toMatchObject({ apiVersion: 'autoscaling/v1', kind: 'Scale', spec: { replicas: 1 }, status: { replicas: 1, selector: SELECTOR('hpa') } });
  });

  test('PUT /scale up and down: the Deployment follows, status.replicas follows, one write per scale and no fight', async () => {
    const deploymentReplicas = await watchReplicas(deploymentsPath(), 'hpa');
    const relayReplicas = await watchReplicas(relaysPath(), 'hpa');
    const generation = await relayGeneration('hpa');
    const conflicts: number[] = [];
    for (const target of [3, 2]) {
      conflicts.push(await scaleAsTheHpaDoes('hpa', target));
      await readyPods('hpa', 'Deployment', target);
      await settled('hpa', 'Deployment', target);
      expect(await getScale('hpa')).toMatchObject({ spec: { replicas: target }, status: { replicas: target, selector: SELECTOR('hpa') } });
      await new Promise((r) => setTimeout(r, QUIET_MS));
    }
    // Two /scale writes, two spec changes; the Deployment went 1 -> 3 -> 2 and nowhere else.
    expect(await relayGeneration('hpa')).toBe(generation + 2);
    expect(relayReplicas.values).toEqual([1, 3, 2]);
    expect(deploymentReplicas.values).toEqual([1, 3, 2]);
    relayReplicas.stop();
    deploymentReplicas.stop();
    process.stdout.write(`FIGURE scale: PUT /scale 409s from a status write between GET and PUT: ${conflicts.join(', ')} (scale to 3, to 2)\n`);
    // The CRD's bounds hold through /scale: an autoscaler's maxReplicas above 50 cannot push the relay past them.
    await expect(scaleAsTheHpaDoes('hpa', 51)).rejects.toMatchObject({ code: 422 });
    expect((await getRelay(ns.name, 'hpa'))!.spec.replicas).toBe(2);
    await expectOperatorWritesStatusOnly('hpa');
    // spec.replicas belongs to whoever wrote /scale last, not to the operator.
    const owners = (await managedFields('hpa')).filter((f) => f.fieldsV1?.['f:spec']?.['f:replicas'] !== undefined).map((f) => f.manager);
    expect(owners).toContain('kube-controller-manager');
    expect(owners).not.toContain('smtp-relay-operator');
  });
});

describe('Durable: a scale-down through /scale drains first', () => {
  test('the pod above the new count drains, the StatefulSet holds it while it has mail, and all of it is delivered', async () => {
    await applyRelay(manifest('queue', { replicas: 2, queue: { mode: 'Durable', retry: { minBackoff: '1s', maxBackoff: '2s' } } }));
    const pods = await readyPods('queue', 'StatefulSet', 2);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const id = `scale-${i}@queue.test`;
      const raw = `From: <app@example.com>\r\nTo: <rcpt@dest.example>\r\nSubject: scale ${i}\r\nMessage-ID: <${id}>\r\n\r\nqueued while the upstream was down\r\n`;
      const r = await sendWithNodemailer({ port: pods[1]!.ports.submission!, ca: ca.caCert, user: 'alice', pass: PASSWORD, servername: HOST('queue'), raw });
      if (!r.ok) throw new Error(`message ${i} was not accepted: ${r.error ?? r.response}`);
      ids.push(id);
    }
    const queueOf = async (pod: LocalRelay) => (await (await fetch(`http://127.0.0.1:${pod.metricsPort}/queue`)).json()) as QueueSummary;
    expect((await queueOf(pods[1]!)).depth).toBe(5);

    const setReplicas = await watchReplicas(`/apis/apps/v1/namespaces/${ns.name}/statefulsets`, 'queue');
    await kubectlOk(['-n', ns.name, 'scale', 'smtprelay/queue', '--replicas=1']);
    const draining = await waitForRelay('queue', 'Queue=Draining', (r) => r.status?.queue?.state === 'Draining', 30_000);
    expect(draining.spec.replicas).toBe(1);
    expect(draining.status!.queue!.drain).toMatchObject({ reason: 'ScaleDown', pods: ['queue-1'] });
    await waitFor(async () => (await queueOf(pods[1]!)).draining, { description: 'queue-1 draining', timeoutMs: 15_000 });
    await new Promise((r) => setTimeout(r, 4_000)); // two drain polls: still holding mail, still 2
    expect((await workload('StatefulSet', 'queue')).spec.replicas).toBe(2);
    expect((await getScale('queue')).spec.replicas).toBe(1);

    postfix = await startPostfix(path.join(workDir, 'postfix'), ca.issue('postfix', ['localhost', '127.0.0.1']), { port: postfixPort });
    await waitFor(async () => (await workload('StatefulSet', 'queue')).spec.replicas === 1, { description: 'StatefulSet replicas 1', timeoutMs: 60_000 });
    await waitFor(() => {
      const delivered = postfix!.delivered().map((m) => /^Message-ID: <([^>]+)>/im.exec(m)?.[1]);
      return ids.every((id) => delivered.includes(id));
    }, { description: 'all 5 messages at Postfix', timeoutMs: 30_000 });
    await waitFor(() => podsOf('queue', 'StatefulSet').length === 1, { description: 'one pod left', timeoutMs: 20_000 });
    const done = await waitForRelay('queue', 'drain finished', (r) => r.status?.queue?.drain === undefined && r.status?.queue?.state !== 'Draining');
    expect(done.status!.queue!.strandedClaims).toBeUndefined();
    expect(done.status!.selector).toBe(SELECTOR('queue'));
    // Held at 2 while pod 1 held mail, then 1: never below the drain, never back up.
    expect(setReplicas.values).toEqual([2, 1]);
    setReplicas.stop();
    await expectOperatorWritesStatusOnly('queue');
  });
});
