// The operator as it runs for users: 2 pods of deploy/base (via
// deploy/overlays/local-node) with its ServiceAccount and RBAC, from the image built
// from our Dockerfile, on the real single-node cluster of `npm run cluster:up`
// (scheduler, kubelet, containerd, runc, CNI bridge). No simulation here.
import { describe, expect, test } from '@jest/globals';
import { kubectl, waitFor } from '../harness/kube.js';

const NS = 'smtp-relay-system';
const SELECTOR = 'app.kubernetes.io/name=smtp-relay-operator,app.kubernetes.io/component=operator';

interface Pod {
  metadata: { name: string; uid: string; deletionTimestamp?: string };
  spec: { nodeName?: string; serviceAccountName?: string; containers: { image: string }[] };
  status: { phase?: string; podIP?: string; conditions?: { type: string; status: string }[] };
}

async function getJson<T>(args: string[]): Promise<T> {
  const r = await kubectl([...args, '-o', 'json']);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr.trim()}`);
  return JSON.parse(r.stdout) as T;
}

const isReady = (p: Pod) => p.status.phase === 'Running' && !p.metadata.deletionTimestamp && (p.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
const operatorPods = async () => (await getJson<{ items: Pod[] }>(['-n', NS, 'get', 'pods', '-l', SELECTOR])).items;
/** The lease holder's pod name (the identity is `<pod name>_<random>`, src/controller/leader.ts). */
const leaderPod = async () => {
  const lease = await getJson<{ spec: { holderIdentity?: string } }>(['-n', NS, 'get', 'lease', 'smtp-relay-operator']);
  return lease.spec.holderIdentity?.replace(/_[0-9a-f]+$/, '') || undefined;
};

describe('the operator on the real node', () => {
  test('runs as 2 Ready pods of the local image, with its ServiceAccount, on the node, with pod addresses from the node podCIDR', async () => {
    const pods = await waitFor(async () => {
      const ready = (await operatorPods()).filter(isReady);
      return ready.length === 2 ? ready : undefined;
    }, { description: '2 Ready operator pods', timeoutMs: 120_000, intervalMs: 1000 });
    for (const pod of pods) {
      expect(pod.spec.nodeName).toBe('sro-node');
      expect(pod.spec.serviceAccountName).toBe('smtp-relay-operator');
      expect(pod.spec.containers[0]!.image).toBe('docker.io/library/smtp-relay-operator:dev');
      expect(pod.status.podIP).toMatch(/^198\.18\.0\.\d+$/);
    }
  });

  test('leader election hands over to the other pod when the leader pod is deleted, and the Deployment is back to 2 Ready pods', async () => {
    const leader = await waitFor(leaderPod, { description: 'a leader lease holder', timeoutMs: 60_000, intervalMs: 1000 });
    const before = await operatorPods();
    const other = before.find((p) => p.metadata.name !== leader && isReady(p));
    expect(other).toBeDefined();

    const t0 = Date.now();
    const del = await kubectl(['-n', NS, 'delete', 'pod', leader, '--wait=false']);
    expect(del.code).toBe(0);
    // The leader releases the lease on SIGTERM; the survivor takes it (within a lease duration at worst).
    const next = await waitFor(async () => {
      const holder = await leaderPod();
      return holder && holder !== leader ? holder : undefined;
    }, { description: `a new leader after deleting ${leader}`, timeoutMs: 60_000, intervalMs: 500 });
    // The standby usually wins; the ReplicaSet's replacement pod may win the race for a released
    // lease too (seen once in CI). Either is a hand-over: a live operator pod, not the deleted one.
    const nowPods = await operatorPods();
    const holderPod = nowPods.find((p) => p.metadata.name === next);
    expect(holderPod).toBeDefined();
    expect(holderPod!.metadata.deletionTimestamp).toBeUndefined();
    expect(next).not.toBe(leader);
    process.stdout.write(`NODE leader handover: ${leader} -> ${next} (${next === other!.metadata.name ? 'the standby' : 'the replacement pod'}) seen ${Date.now() - t0} ms after the delete request\n`);

    const after = await waitFor(async () => {
      const ready = (await operatorPods()).filter(isReady);
      return ready.length === 2 && !ready.some((p) => p.metadata.name === leader) ? ready : undefined;
    }, { description: '2 Ready operator pods again', timeoutMs: 180_000, intervalMs: 1000 });
    expect(after.map((p) => p.metadata.name)).toContain(other!.metadata.name);
  });
});
