// Durable queues through the operator, end to end on real parts: the real kube-apiserver, the
// operator in process, the development-only local runtime (test/harness/local-runtime.ts)
// running each StatefulSet pod as a real relay process with its own claim directory, and a
// real Postfix as the upstream (stopped and started). Nothing here is a stand-in for the relay:
// GET /queue and POST /drain are the relay's own (src/relay/queue/http-routes.ts).
//
// - Durable (the default) gets a StatefulSet with the claim template; PassThrough a Deployment.
// - Scale-down 3 -> 1 with mail in every queue while the upstream is down: the operator drains
//   pods 1 and 2 (status shows it), holds the replicas until they are empty, and once Postfix
//   is up all the mail arrives; none is left on a claim.
// - Durable -> PassThrough with mail queued: delivered first, then the StatefulSet goes; and
//   back to Durable: the Deployment serves until a StatefulSet pod is ready.
// - A drain that times out: the claim is kept and reported (status, Delivering, Warning Event).
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { SmtpRelay, SmtpRelaySpec } from '../../../src/api/types.js';
import type { QueueSummary } from '../../../src/common/queue-summary.js';
import type { OperatorHandle } from '../../../src/controller/operator.js';
import { getFreePort } from '../../harness/controlplane.js';
import { createTestNamespace, kubeconfigPath, waitFor, type TestNamespace } from '../../harness/kube.js';
import { startLocalRuntime, type LocalRelay, type LocalRuntime } from '../../harness/local-runtime.js';
import { cliPath, nodeBin } from '../../helpers/cli.js';
import { createTestCa, type TestCa } from '../../helpers/smtp/certs.js';
import { RawSmtp, sendWithNodemailer } from '../../helpers/smtp/clients.js';
import { startPostfix, type PostfixUpstream } from '../../helpers/smtp/postfix.js';
import { applyRelay, condition, createUsersSecret, eventsFor, getChild, getRelay, kubectlOk, relayManifest, runOperatorInProcess } from './helpers.js';

jest.setTimeout(240_000);

const DRAIN_TIMEOUT_S = 25;
const PASSWORD = 'correct horse battery staple';
const HOST = (name: string) => `${name}.example.test`;

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
  ns = await createTestNamespace('op-queue');
  workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'op-queue-'));
  ca = createTestCa(path.join(workDir, 'ca'));
  await createUsersSecret(ns.name);
  // One serving certificate for every relay of this file, and the CA the relays trust for Postfix.
  const leaf = ca.issue('relays', ['drain.example.test', 'switch.example.test', 'strand.example.test', 'shape.example.test', 'pass.example.test']);
  fs.writeFileSync(path.join(workDir, 'tls.crt'), leaf.cert);
  fs.writeFileSync(path.join(workDir, 'tls.key'), leaf.key);
  fs.writeFileSync(path.join(workDir, 'ca.crt'), ca.caCert);
  await kubectlOk(['-n', ns.name, 'create', 'secret', 'tls', 'relay-cert', `--cert=${path.join(workDir, 'tls.crt')}`, `--key=${path.join(workDir, 'tls.key')}`]);
  await kubectlOk(['-n', ns.name, 'create', 'secret', 'generic', 'upstream-ca', `--from-file=ca.crt=${path.join(workDir, 'ca.crt')}`]);
  postfixPort = await getFreePort(); // nothing listens yet: the upstream is down
  operator = await runOperatorInProcess(ns.name, ['--probe-local-endpoints', `--drain-timeout=${DRAIN_TIMEOUT_S}s`]);
  runtime = await startLocalRuntime({ kubeconfig: kubeconfigPath(), namespace: ns.name, cliPath, nodeBin, workDir: path.join(workDir, 'rt'), pollMs: 250, log: (l) => runtimeLog.push(l) });
});

afterAll(async () => {
  await runtime?.stop();
  await operator?.stop();
  await postfix?.stop();
  await ns?.cleanup();
  if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
});

function durableRelay(name: string, spec: Partial<SmtpRelaySpec>): SmtpRelay {
  return relayManifest(ns.name, name, {
    hostname: HOST(name),
    tls: { secretName: 'relay-cert' },
    upstream: { host: '127.0.0.1', port: postfixPort, tls: 'starttls', caSecretRef: { name: 'upstream-ca' } },
    // Polled every 10 s (2 s while draining); retries every 1-2 s so a restarted upstream is seen at once.
    healthCheck: { interval: '10s' },
    queue: { mode: 'Durable', retry: { minBackoff: '1s', maxBackoff: '2s' } },
    ...spec,
  });
}

async function startUpstream(): Promise<void> {
  postfix = await startPostfix(path.join(workDir, `postfix-${Date.now()}`), ca.issue('postfix', ['localhost', '127.0.0.1']), { port: postfixPort });
}

async function stopUpstream(): Promise<void> {
  await postfix?.stop();
  postfix = undefined;
}

/** Every message the upstream has written, across Postfix runs, by Message-ID. */
const deliveredIds = new Map<string, number>();
function collectDelivered(): void {
  for (const dir of fs.readdirSync(workDir).filter((d) => d.startsWith('postfix-'))) {
    const maildir = path.join(workDir, dir, 'mail', 'Maildir', 'new');
    if (!fs.existsSync(maildir)) continue;
    for (const f of fs.readdirSync(maildir)) {
      const key = `${dir}/${f}`;
      if (deliveredIds.has(key)) continue;
      const id = /^Message-ID: <([^>]+)>/im.exec(fs.readFileSync(path.join(maildir, f), 'utf8'))?.[1] ?? '?';
      deliveredIds.set(key, 0);
      deliveredIds.set(`id:${id}`, (deliveredIds.get(`id:${id}`) ?? 0) + 1);
    }
  }
}
const timesDelivered = (id: string) => deliveredIds.get(`id:${id}`) ?? 0;

async function queueOf(pod: LocalRelay): Promise<QueueSummary> {
  const res = await fetch(`http://127.0.0.1:${pod.metricsPort}/queue`);
  return (await res.json()) as QueueSummary;
}

function podsOf(name: string, kind: 'StatefulSet' | 'Deployment' = 'StatefulSet'): LocalRelay[] {
  return runtime.relays().filter((r) => r.name === name && r.kind === kind).sort((a, b) => a.replica - b.replica);
}

async function readyPods(name: string, count: number): Promise<LocalRelay[]> {
  return waitFor(() => {
    const pods = podsOf(name);
    return pods.length === count && pods.every((p) => p.ready) ? pods : undefined;
  }, { description: `${count} ready pods of ${name}`, timeoutMs: 60_000, intervalMs: 200 }).catch((err: Error) => {
    throw new Error(`${err.message}\nlocal runtime log:\n${runtimeLog.slice(-40).join('\n')}`);
  });
}

/** Sends `count` messages through one pod's submission listener; each must be acknowledged (queued). */
async function sendTo(pod: LocalRelay, relay: string, tag: string, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const id = `${tag}-${i}@queue.test`;
    const raw = `From: <app@example.com>\r\nTo: <rcpt@dest.example>\r\nSubject: ${tag} ${i}\r\nMessage-ID: <${id}>\r\n\r\nqueued while the upstream was down\r\n`;
    const r = await sendWithNodemailer({ port: pod.ports.submission!, ca: ca.caCert, user: 'alice', pass: PASSWORD, servername: HOST(relay), raw });
    if (!r.ok) throw new Error(`${tag} ${i} to ${pod.pod} was not accepted: ${r.error ?? r.response}`);
    ids.push(id);
  }
  return ids;
}

async function statefulSetReplicas(name: string): Promise<number | undefined> {
  const sts = await getChild('StatefulSet', 'apps/v1', ns.name, name);
  return (sts?.spec as { replicas?: number } | undefined)?.replicas;
}

async function waitForRelay(name: string, description: string, ok: (r: SmtpRelay) => boolean, timeoutMs = 60_000): Promise<SmtpRelay> {
  return waitFor(async () => {
    const r = await getRelay(ns.name, name);
    return r && ok(r) ? r : undefined;
  }, { description, timeoutMs, intervalMs: 200 });
}

function msgFiles(dir: string): string[] {
  const msg = path.join(dir, 'msg');
  return fs.existsSync(msg) ? fs.readdirSync(msg).filter((f) => f.endsWith('.msg')) : [];
}

describe('the workload follows spec.queue.mode', () => {
  test('Durable (the default) is a StatefulSet with the queue claim template and Retain policy; PassThrough a Deployment', async () => {
    const shape = durableRelay('shape', { replicas: 0 });
    delete shape.spec.queue; // the API default: Durable
    await applyRelay(shape);
    await applyRelay(durableRelay('pass', { replicas: 0, queue: { mode: 'PassThrough' } }));
    const sts = (await waitFor(() => getChild('StatefulSet', 'apps/v1', ns.name, 'shape'), { description: 'StatefulSet shape', timeoutMs: 20_000 })) as unknown as {
      spec: { volumeClaimTemplates: { metadata: { name: string }; spec: { accessModes: string[]; resources: { requests: { storage: string } } } }[]; persistentVolumeClaimRetentionPolicy: unknown; template: { spec: { containers: { volumeMounts: { name: string; mountPath: string }[] }[] } } };
    };
    expect(sts.spec.volumeClaimTemplates.map((t) => [t.metadata.name, t.spec.accessModes, t.spec.resources.requests.storage])).toEqual([['queue', ['ReadWriteOnce'], '1Gi']]);
    expect(sts.spec.persistentVolumeClaimRetentionPolicy).toEqual({ whenScaled: 'Retain', whenDeleted: 'Retain' });
    expect(sts.spec.template.spec.containers[0]!.volumeMounts).toContainEqual({ name: 'queue', mountPath: '/var/lib/smtp-relay/queue' });
    expect(await getChild('Deployment', 'apps/v1', ns.name, 'shape')).toBeUndefined();
    const config = await getChild('ConfigMap', 'v1', ns.name, 'shape-queue-config');
    expect(JSON.parse((config!.data as Record<string, string>)['relay.json']!).queue).toEqual({ dir: '/var/lib/smtp-relay/queue', maxAgeMs: 432_000_000, minBackoffMs: 300_000, maxBackoffMs: 4_000_000 });

    await waitFor(() => getChild('Deployment', 'apps/v1', ns.name, 'pass'), { description: 'Deployment pass', timeoutMs: 20_000 });
    expect(await getChild('StatefulSet', 'apps/v1', ns.name, 'pass')).toBeUndefined();
    const passConfig = await getChild('ConfigMap', 'v1', ns.name, 'pass-config');
    expect(JSON.parse((passConfig!.data as Record<string, string>)['relay.json']!).queue).toBeUndefined();
    const passStatus = await waitForRelay('pass', 'status.queue', (r) => r.status?.queue !== undefined, 20_000);
    expect(passStatus.status!.queue!.state).toBe('PassThrough');
  });
});

describe('scale-down 3 -> 1 with mail in every queue', () => {
  let ids: string[] = [];

  test('every pod queues while the upstream is down; Delivering names the upstream\'s error', async () => {
    await applyRelay(durableRelay('drain', { replicas: 3 }));
    const pods = await readyPods('drain', 3);
    for (const pod of pods) ids.push(...(await sendTo(pod, 'drain', `drain-${pod.replica}`, 10)));
    for (const pod of pods) expect(await queueOf(pod)).toMatchObject({ mode: 'durable', depth: 10, accepting: true, draining: false });
    const down = await waitForRelay('drain', 'Delivering=False', (r) => condition(r, 'Delivering')?.status === 'False', 40_000);
    expect(condition(down, 'Delivering')).toMatchObject({ reason: 'UpstreamUnavailable', message: expect.stringContaining(`127.0.0.1:${postfixPort} could not be reached`) });
    expect(['Backlog', 'Stuck']).toContain(down.status!.queue!.state);
  });

  test('pods 1 and 2 drain, and the replicas stay at 3 while they hold mail (status shows the drain)', async () => {
    await kubectlOk(['-n', ns.name, 'patch', 'smtprelay', 'drain', '--type=merge', '-p', '{"spec":{"replicas":1}}']);
    const draining = await waitForRelay('drain', 'Queue=Draining', (r) => r.status?.queue?.state === 'Draining', 20_000);
    expect(draining.status!.queue!.drain).toMatchObject({ reason: 'ScaleDown', pods: ['drain-1', 'drain-2'] });
    expect(condition(draining, 'Reconciling')).toMatchObject({ status: 'True', reason: 'QueueDraining' });
    const table = await kubectlOk(['-n', ns.name, 'get', 'smtprelay', 'drain']);
    expect(table).toMatch(/QUEUE/);
    expect(table).toMatch(/Draining/);
    const pods = podsOf('drain');
    await waitFor(async () => (await queueOf(pods[2]!)).draining && (await queueOf(pods[1]!)).draining, { description: 'pods 1 and 2 draining', timeoutMs: 10_000 });
    // A draining pod turns new sessions away; pod 0 still serves.
    const smtp = await RawSmtp.connect(pods[2]!.ports.submission!);
    expect(await smtp.reply()).toMatch(/^421 /);
    smtp.socket.destroy();
    expect((await queueOf(pods[0]!)).accepting).toBe(true);
    await new Promise((r) => setTimeout(r, 4000)); // two drain polls: still holding mail, still 3
    expect(await statefulSetReplicas('drain')).toBe(3);
    expect(podsOf('drain')).toHaveLength(3);
  });

  test('once the upstream is back every message is delivered, then the replicas go to 1 and no claim holds mail', async () => {
    const t0 = Date.now();
    await startUpstream();
    await waitFor(async () => (await statefulSetReplicas('drain')) === 1, { description: 'StatefulSet replicas 1', timeoutMs: 60_000 });
    const drainMs = Date.now() - t0;
    const done = await waitForRelay('drain', 'drain finished', (r) => r.status?.queue?.drain === undefined && r.status?.queue?.state !== 'Draining');
    expect(done.status!.queue!.strandedClaims).toBeUndefined();
    await waitFor(() => {
      collectDelivered();
      return ids.every((id) => timesDelivered(id) >= 1);
    }, { description: 'all 30 messages at Postfix', timeoutMs: 60_000 });
    const duplicates = ids.filter((id) => timesDelivered(id) > 1).length;
    process.stdout.write(`FIGURE queue drain (local runtime, real relays and Postfix): scale-down 3->1 with 10 queued messages per pod, upstream start -> replicas lowered ${drainMs} ms; delivered ${ids.length}/${ids.length}, duplicates ${duplicates}\n`);
    expect(ids.filter((id) => timesDelivered(id) === 0)).toEqual([]);
    // Pods 1 and 2 are gone; their claims are kept (Retain) and empty.
    await waitFor(() => podsOf('drain').length === 1, { description: 'one pod left', timeoutMs: 20_000 });
    for (const ordinal of [1, 2]) expect(msgFiles(path.join(workDir, 'rt', ns.name, 'claims', `queue-drain-${ordinal}`))).toEqual([]);
    const events = (await eventsFor(ns.name, 'drain')).map((e) => e.reason);
    expect(events).toEqual(expect.arrayContaining(['DrainStarted', 'DrainCompleted']));
    await waitForRelay('drain', 'Delivering=True', (r) => condition(r, 'Delivering')?.status === 'True', 40_000);
  });
});

describe('Durable -> PassThrough with mail queued', () => {
  test('the queued mail is delivered before the StatefulSet goes', async () => {
    await stopUpstream();
    await applyRelay(durableRelay('switch', { replicas: 1 }));
    const [pod] = await readyPods('switch', 1);
    const ids = await sendTo(pod!, 'switch', 'switch', 10);
    expect((await queueOf(pod!)).depth).toBe(10);

    await kubectlOk(['-n', ns.name, 'patch', 'smtprelay', 'switch', '--type=merge', '-p', '{"spec":{"queue":{"mode":"PassThrough"}}}']);
    const switching = await waitForRelay('switch', 'Draining (ModeSwitch)', (r) => r.status?.queue?.drain?.reason === 'ModeSwitch', 60_000);
    expect(switching.status!.queue!.drain!.pods).toEqual(['switch-0']);
    // The Deployment serves (it became available before the queue's pod stopped accepting); the StatefulSet waits.
    expect(await getChild('Deployment', 'apps/v1', ns.name, 'switch')).toBeDefined();
    expect(podsOf('switch', 'Deployment').some((p) => p.ready)).toBe(true);
    await new Promise((r) => setTimeout(r, 3000));
    expect(await getChild('StatefulSet', 'apps/v1', ns.name, 'switch')).toBeDefined();
    expect(await getChild('ConfigMap', 'v1', ns.name, 'switch-queue-config')).toBeDefined();

    const t0 = Date.now();
    await startUpstream();
    await waitFor(async () => (await getChild('StatefulSet', 'apps/v1', ns.name, 'switch')) === undefined, { description: 'StatefulSet pruned', timeoutMs: 60_000 });
    const switchMs = Date.now() - t0;
    collectDelivered();
    await waitFor(() => {
      collectDelivered();
      return ids.every((id) => timesDelivered(id) >= 1);
    }, { description: 'all 10 messages at Postfix', timeoutMs: 30_000 });
    process.stdout.write(`FIGURE queue mode switch Durable->PassThrough (10 queued): upstream start -> StatefulSet removed ${switchMs} ms\n`);
    expect(await getChild('ConfigMap', 'v1', ns.name, 'switch-queue-config')).toBeUndefined();
    const after = await waitForRelay('switch', 'Queue=PassThrough', (r) => r.status?.queue?.state === 'PassThrough');
    expect(after.status!.queue!.strandedClaims).toBeUndefined();
  });

  test('PassThrough -> Durable: the Deployment serves until a StatefulSet pod is ready, then goes', async () => {
    await kubectlOk(['-n', ns.name, 'patch', 'smtprelay', 'switch', '--type=merge', '-p', '{"spec":{"queue":{"mode":"Durable"}}}']);
    await waitFor(() => getChild('StatefulSet', 'apps/v1', ns.name, 'switch'), { description: 'StatefulSet switch', timeoutMs: 20_000 });
    expect(await getChild('Deployment', 'apps/v1', ns.name, 'switch')).toBeDefined();
    await readyPods('switch', 1);
    await waitFor(async () => (await getChild('Deployment', 'apps/v1', ns.name, 'switch')) === undefined, { description: 'Deployment pruned', timeoutMs: 30_000 });
    expect(await getChild('ConfigMap', 'v1', ns.name, 'switch-config')).toBeUndefined();
    const durable = await waitForRelay('switch', 'Queue=Empty', (r) => r.status?.queue?.state === 'Empty', 30_000);
    expect(condition(durable, 'Available')?.status).toBe('True');
  });
});

describe('a drain that times out', () => {
  test('keeps the claim and reports the mail left on it (status, Delivering, Warning Event); scaling back up takes it back', async () => {
    await stopUpstream();
    await applyRelay(durableRelay('strand', { replicas: 2 }));
    const pods = await readyPods('strand', 2);
    await sendTo(pods[1]!, 'strand', 'strand', 5);
    await kubectlOk(['-n', ns.name, 'patch', 'smtprelay', 'strand', '--type=merge', '-p', '{"spec":{"replicas":1}}']);
    await waitForRelay('strand', 'Draining', (r) => r.status?.queue?.state === 'Draining', 20_000);
    const stranded = await waitForRelay('strand', 'Stranded', (r) => (r.status?.queue?.strandedClaims ?? []).length > 0, (DRAIN_TIMEOUT_S + 30) * 1000);
    expect(stranded.status!.queue!.strandedClaims).toEqual([{ claim: 'queue-strand-1', messages: 5, strandedTime: expect.any(String) }]);
    await waitFor(async () => (await statefulSetReplicas('strand')) === 1, { description: 'replicas lowered after the timeout', timeoutMs: 20_000 });
    // Both in one status: under load a status can briefly still say Draining while the
    // StatefulSet's pod 1 terminates (seen once in a loaded full run); it must settle on Stranded.
    const reported = await waitForRelay('strand', 'Delivering QueueStranded and Queue=Stranded', (r) => condition(r, 'Delivering')?.reason === 'QueueStranded' && r.status?.queue?.state === 'Stranded');
    expect(reported.status!.queue!.state).toBe('Stranded');
    expect(condition(reported, 'Delivering')!.message).toContain('queue-strand-1 (5 messages');
    const warning = (await eventsFor(ns.name, 'strand')).find((e) => e.reason === 'DrainTimedOut');
    expect(warning).toMatchObject({ type: 'Warning', message: expect.stringContaining('queue-strand-1 keeps 5 undelivered messages') });
    // The claim object and its mail are still there.
    expect(await getChild('PersistentVolumeClaim', 'v1', ns.name, 'queue-strand-1')).toBeDefined();
    expect(msgFiles(path.join(workDir, 'rt', ns.name, 'claims', 'queue-strand-1'))).toHaveLength(5);

    await kubectlOk(['-n', ns.name, 'patch', 'smtprelay', 'strand', '--type=merge', '-p', '{"spec":{"replicas":2}}']);
    const back = await readyPods('strand', 2);
    expect((await queueOf(back[1]!)).depth).toBe(5);
    const cleared = await waitForRelay('strand', 'stranded report cleared', (r) => r.status?.queue?.strandedClaims === undefined);
    expect(cleared.status!.queue!.state).not.toBe('Stranded');
  });
});
