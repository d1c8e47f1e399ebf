// `kubectl drain` of the only node against a relay with 2 replicas: the relay's
// PodDisruptionBudget (maxUnavailable 1) lets the first eviction through and refuses the
// second (its replacement cannot schedule on the cordoned node), so one relay pod keeps
// serving and mail still flows; after uncordon everything is Ready again. The drain only
// targets this relay's pods (--pod-selector): the operator and CoreDNS stay where they are.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { kubectl, waitFor } from '../harness/kube.js';
import { sendWithNodemailer } from '../helpers/smtp/clients.js';
import { RELAY_PORT, run, startRelayEnv, testCaPem, type RelayEnv } from './relay-env.js';

const NS = `node-drain-${process.pid}`;
const RELAY = 'drain-mail';
const NODE = 'sro-node';
const SELECTOR = `app.kubernetes.io/instance=${RELAY},app.kubernetes.io/name=smtp-relay`;

let env: RelayEnv;

beforeAll(async () => {
  env = await startRelayEnv(NS, RELAY, { queue: { mode: 'PassThrough' } });
});

afterAll(async () => {
  // Always: a cordoned node would stop every later test's pods from scheduling.
  await kubectl(['uncordon', NODE]);
  await env?.close();
});

describe('kubectl drain of the node on the real node', () => {
  test('respects the relay PDB: the second eviction is refused, one relay pod keeps serving mail; after uncordon 2 pods are Ready again', async () => {
    const clusterIp = await env.settled();
    const ca = await testCaPem();
    const send = () => sendWithNodemailer({ host: clusterIp, port: RELAY_PORT, ca, servername: env.hostname, from: 'app@example.test', to: ['rcpt@dest.example'] });
    await waitFor(async () => (await send()).ok, { description: 'a first message through the ClusterIP Service', timeoutMs: 60_000, intervalMs: 1000 });
    const pdb = JSON.parse(await run(['-n', NS, 'get', 'pdb', '-l', `app.kubernetes.io/instance=${RELAY}`, '-o', 'json'])) as {
      items: { status?: { disruptionsAllowed?: number } }[];
    };
    expect(pdb.items).toHaveLength(1);
    await waitFor(async () => {
      const p = JSON.parse(await run(['-n', NS, 'get', 'pdb', '-l', `app.kubernetes.io/instance=${RELAY}`, '-o', 'json'])) as typeof pdb;
      return p.items[0]?.status?.disruptionsAllowed === 1;
    }, { description: 'the PDB allowing 1 disruption', timeoutMs: 60_000, intervalMs: 1000 });
    // Pods of the first certificate's roll may still be terminating (a 5 s preStop): wait for exactly the 2.
    await waitFor(async () => (await run(['-n', NS, 'get', 'pods', '-l', SELECTOR, '-o', 'name'])).split('\n').filter(Boolean).length === 2, {
      description: 'exactly 2 relay pods',
      timeoutMs: 90_000,
      intervalMs: 1000,
    });
    const before = (await env.readyPods()).map((p) => p.metadata.name);
    expect(before).toHaveLength(2);

    const t0 = Date.now();
    const drain = await kubectl(['drain', NODE, `--pod-selector=${SELECTOR}`, '--ignore-daemonsets', '--delete-emptydir-data', '--timeout=30s'], { timeoutMs: 90_000 });
    const drainMs = Date.now() - t0;
    expect(drain.code).not.toBe(0);
    expect(drain.stderr).toMatch(/violate the pod's disruption budget/);

    // One of the two original pods is still serving; its evicted sibling's replacement is Pending (cordoned node).
    const ready = (await env.readyPods()).map((p) => p.metadata.name);
    expect(ready).toHaveLength(1);
    expect(before).toContain(ready[0]);
    const pending = (await run(['-n', NS, 'get', 'pods', '-l', SELECTOR, '--field-selector=status.phase=Pending', '-o', 'name'])).split('\n').filter(Boolean);
    expect(pending).toHaveLength(1);
    const upstreamBefore = env.upstream.messages.length;
    for (let i = 0; i < 5; i++) expect(await send()).toMatchObject({ ok: true });
    await env.upstream.waitFor(upstreamBefore + 5, 30_000);
    process.stdout.write(`NODE drain: refused by the PDB after ${drainMs} ms (--timeout=30s); 5 messages through the remaining pod\n`);

    expect((await kubectl(['uncordon', NODE])).code).toBe(0);
    await waitFor(async () => ((await env.readyPods()).length === 2 ? true : undefined), { description: '2 Ready relay pods after uncordon', timeoutMs: 120_000, intervalMs: 1000 });
    await waitFor(async () => (await env.conditions()).some((c) => c.type === 'Ready' && c.status === 'True'), { description: 'Ready=True after uncordon', timeoutMs: 120_000, intervalMs: 2000 });
  });
});
