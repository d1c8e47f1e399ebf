// The durable queue on the real node: a Durable relay (StatefulSet, its claim bound by the
// local-path provisioner) accepts mail while the upstream answers 451 to every message, so
// the mail waits on the pod's volume; the pod is deleted, the StatefulSet's new pod mounts
// the same claim, the upstream recovers, and every queued message arrives exactly once.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { waitFor } from '../harness/kube.js';
import { message, sendWithNodemailer } from '../helpers/smtp/clients.js';
import { RELAY_PORT, run, startRelayEnv, testCaPem, type RelayEnv } from './relay-env.js';

const NS = `node-durable-${process.pid}`;
const RELAY = 'queue';
const N = 8;

let env: RelayEnv;

beforeAll(async () => {
  env = await startRelayEnv(NS, RELAY, {
    replicas: 1,
    queue: { mode: 'Durable', storage: { size: '64Mi' }, retry: { minBackoff: '1s', maxBackoff: '5s' } },
  });
});

afterAll(async () => {
  await env?.close();
});

const claimOf = async (pod: string) =>
  (JSON.parse(await run(['-n', NS, 'get', 'pod', pod, '-o', 'json'])) as { metadata: { uid: string }; spec: { volumes: { persistentVolumeClaim?: { claimName: string } }[] } });

describe('the durable queue on the real node', () => {
  test('mail queued while the upstream refuses survives the deletion of the pod and is delivered exactly once by its successor on the same claim', async () => {
    const clusterIp = await env.settled();
    const ca = await testCaPem();
    const [pod] = (await env.readyPods()).map((p) => p.metadata.name);
    expect(pod).toBe(`${RELAY}-0`);
    const first = await claimOf(pod!);
    const claim = first.spec.volumes.find((v) => v.persistentVolumeClaim)?.persistentVolumeClaim?.claimName;
    expect(claim).toBeDefined();
    expect(await run(['-n', NS, 'get', 'pvc', claim!, '-o', 'jsonpath={.status.phase}'])).toBe('Bound');

    env.upstream.fail = 'temp';
    const send = (i: number) =>
      sendWithNodemailer({ host: clusterIp, port: RELAY_PORT, ca, servername: env.hostname, from: 'app@example.test', to: ['rcpt@dest.example'], raw: message(512, `durable-${i}`) });
    // kube-proxy programs the Service a moment after the pod is Ready.
    await waitFor(async () => (await send(0)).ok, { description: 'a first message accepted through the ClusterIP Service', timeoutMs: 60_000, intervalMs: 1000 });
    for (let i = 1; i < N; i++) expect(await send(i)).toMatchObject({ ok: true });
    // The relay tried (and the upstream refused) before the pod goes: the mail is on the volume, not in flight.
    await waitFor(() => env.upstream.dataStarted >= N, { description: `${N} refused delivery attempts`, timeoutMs: 60_000, intervalMs: 500 });
    expect(env.upstream.messages).toHaveLength(0);

    const t0 = Date.now();
    await run(['-n', NS, 'delete', 'pod', pod!, '--wait=true', '--timeout=120s']);
    const next = await waitFor(async () => (await env.readyPods()).find((p) => p.metadata.name === pod), { description: `a new Ready ${pod}`, timeoutMs: 180_000, intervalMs: 1000 });
    const handoverMs = Date.now() - t0;
    const second = await claimOf(next.metadata.name);
    expect(second.metadata.uid).not.toBe(first.metadata.uid);
    expect(second.spec.volumes.find((v) => v.persistentVolumeClaim)?.persistentVolumeClaim?.claimName).toBe(claim);

    env.upstream.fail = 'none';
    await env.upstream.waitFor(N, 120_000);
    const deliveredMs = Date.now() - t0;
    // Give a duplicate the time of a few retries to show up.
    await new Promise((r) => setTimeout(r, 10_000));
    const ids = env.upstream.messages.map((m) => /^Message-ID: <([^>]+)>/im.exec(m.raw.toString('utf8'))?.[1]);
    expect(ids.sort()).toEqual(Array.from({ length: N }, (_, i) => `durable-${i}@example.com`).sort());
    process.stdout.write(`NODE durable: ${N} queued messages; new pod Ready on the same claim ${handoverMs} ms after the delete, all delivered ${deliveredMs} ms after it, none twice\n`);
  });
});
