// The operator under faults, on a private control plane (with an audit log): SIGKILL at
// random moments while relays are created, updated and deleted; the API server going
// away; leader failover between two processes; Secrets deleted under it; another client
// editing a child. Each operator process authenticates as its own ServiceAccount bound to
// deploy/base/rbac.yaml, so the audit log tells who wrote what, and when.
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import path from 'node:path';
import type { SmtpRelay } from '../../src/api/types.js';
import { startControlPlane, type ControlPlane } from '../harness/controlplane.js';
import { createTestNamespace, serviceAccountKubeconfig, waitFor } from '../harness/kube.js';
import { SIM_DEPLOYMENT_STATUS } from '../harness/simulated.js';
import { repoRoot } from '../helpers/cli.js';
import { relayManifest, USERS_SECRET } from '../integration/operator/helpers.js';
import { readAudit, writesBy } from './audit.js';
import { applyIn, conditionOf, createGenericSecretIn, createTlsSecretIn, getJson, getRelayIn, isObserved, kubectlIn, simulateAvailableIn } from './kube-fixtures.js';
import { startOperatorProcess, type OperatorProcess } from './operator-process.js';

jest.setTimeout(240_000);

const soak = process.env.SMTP_RELAY_SOAK === '1';
const SA_NS = 'smtp-relay-system';
const LEASE = 'smtp-relay-operator';
const userOf = (sa: string) => `system:serviceaccount:${SA_NS}:${sa}`;

let cp: ControlPlane;
let kc: string;
let ns: string;
const kubeconfigs: Record<string, string> = {};
const running = new Set<OperatorProcess>();
let logCount = 0;

// A small seeded PRNG: a failing run can be replayed with CHAOS_SEED.
const seed = Number(process.env.CHAOS_SEED ?? Date.now() % 1_000_000);
let state = seed;
function rand(): number {
  state = (state * 1103515245 + 12345) % 2147483648;
  return state / 2147483648;
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function operator(sa: 'op-a' | 'op-b', leaderElect = false): OperatorProcess {
  const p = startOperatorProcess({
    kubeconfig: kubeconfigs[sa]!,
    namespace: ns,
    logPath: path.join(cp.workDir, `${sa}-${++logCount}.log`),
    leaderElect,
    leaseNamespace: SA_NS,
    podName: sa,
  });
  running.add(p);
  return p;
}
async function stopAll(): Promise<void> {
  for (const p of running) await p.stop();
  running.clear();
}

beforeAll(async () => {
  cp = await startControlPlane({ certManager: false, audit: true });
  kc = cp.kubeconfigPath;
  await kubectlIn(kc, ['create', 'namespace', SA_NS]);
  await kubectlIn(kc, ['apply', '-f', path.join(repoRoot, 'deploy', 'base', 'rbac.yaml')]);
  for (const sa of ['op-a', 'op-b']) {
    kubeconfigs[sa] = await serviceAccountKubeconfig(cp, SA_NS, sa);
    await kubectlIn(kc, ['create', 'clusterrolebinding', sa, '--clusterrole=smtp-relay-operator', `--serviceaccount=${SA_NS}:${sa}`]);
    await kubectlIn(kc, ['-n', SA_NS, 'create', 'rolebinding', sa, '--role=smtp-relay-operator-leader-election', `--serviceaccount=${SA_NS}:${sa}`]);
  }
  ns = (await createTestNamespace('chaos', { kubeconfig: kc })).name;
  await createGenericSecretIn(kc, ns, USERS_SECRET, { alice: 'not-a-real-password-1' });
  await createTlsSecretIn(kc, ns, 'shared-tls', 'relays.example.test');
  process.stdout.write(`chaos seed ${seed} (CHAOS_SEED=${seed} replays it)\n`);
});

afterAll(async () => {
  await stopAll();
  await cp?.stop();
});

interface ChildObj {
  kind: string;
  metadata: { name: string; uid: string; ownerReferences?: { uid: string; controller?: boolean; kind: string }[]; resourceVersion: string };
}
async function children(): Promise<ChildObj[]> {
  const list = await getJson<{ items: ChildObj[] }>(kc, ['-n', ns, 'get', 'configmaps,services,deployments,poddisruptionbudgets']);
  return (list?.items ?? []).filter((o) => o.metadata.name !== 'kube-root-ca.crt');
}
async function relays(): Promise<SmtpRelay[]> {
  return (await getJson<{ items: SmtpRelay[] }>(kc, ['-n', ns, 'get', 'smtprelays']))?.items ?? [];
}
function expectedChildren(r: SmtpRelay): string[] {
  const n = r.metadata.name;
  return [`ConfigMap/${n}-config`, `Deployment/${n}`, `Service/${n}`, ...((r.spec.replicas ?? 1) > 1 ? [`PodDisruptionBudget/${n}`] : [])].sort();
}

/** Every live relay has exactly its children, owned by its uid; the rest belong to deleted relays. */
async function convergence(deletedUids: Set<string>): Promise<string[]> {
  const problems: string[] = [];
  const live = await relays();
  const objs = await children();
  const liveUids = new Set(live.map((r) => r.metadata.uid!));
  for (const r of live) {
    if (!isObserved(r)) problems.push(`${r.metadata.name}: observedGeneration ${r.status?.observedGeneration} != generation ${r.metadata.generation}`);
    const mine = objs.filter((o) => o.metadata.ownerReferences?.some((ref) => ref.uid === r.metadata.uid)).map((o) => `${o.kind}/${o.metadata.name}`).sort();
    if (JSON.stringify(mine) !== JSON.stringify(expectedChildren(r))) problems.push(`${r.metadata.name}: children ${mine.join(',')} != ${expectedChildren(r).join(',')}`);
  }
  for (const o of objs) {
    const refs = o.metadata.ownerReferences ?? [];
    if (refs.length !== 1 || !refs[0]!.controller) problems.push(`${o.kind}/${o.metadata.name}: ${refs.length} owner references`);
    else if (!liveUids.has(refs[0]!.uid) && !deletedUids.has(refs[0]!.uid)) problems.push(`${o.kind}/${o.metadata.name}: owner ${refs[0]!.uid} is neither live nor a relay this test deleted`);
  }
  return problems;
}

describe('operator faults', () => {
  test(`SIGKILL at random moments while 10 relays are created, updated and deleted: converges with exactly the right children ${SIM_DEPLOYMENT_STATUS}`, async () => {
    const relayCount = 10;
    const kills = soak ? 25 : 5;
    let op = operator('op-a');
    const deletedUids = new Set<string>();
    let opsDone = false;
    const ops = (async () => {
      for (let i = 0; i < relayCount; i++) {
        await applyIn(kc, relayManifest(ns, `r${i}`, { tls: { secretName: 'shared-tls' } }));
        await sleep(100 + rand() * 200);
      }
      for (let i = 0; i < relayCount; i++) {
        const patch = i % 3 === 0 ? { spec: { replicas: 2 } } : { spec: { policy: { maxRecipients: 10 + i } } };
        await kubectlIn(kc, ['-n', ns, 'patch', 'smtprelay', `r${i}`, '--type=merge', '-p', JSON.stringify(patch)]);
        await sleep(100 + rand() * 200);
      }
      for (const i of [7, 8, 9]) {
        const r = await getRelayIn(kc, ns, `r${i}`);
        deletedUids.add(r!.metadata.uid!);
        await kubectlIn(kc, ['-n', ns, 'delete', 'smtprelay', `r${i}`]);
        await sleep(100 + rand() * 200);
      }
      // Scale one back down: its PDB must be pruned even if a kill interrupts it.
      await kubectlIn(kc, ['-n', ns, 'patch', 'smtprelay', 'r0', '--type=merge', '-p', '{"spec":{"replicas":1}}']);
      opsDone = true;
    })();
    let killed = 0;
    while (killed < kills) {
      await sleep(300 + rand() * (soak ? 2000 : 1200));
      await op.kill9();
      running.delete(op);
      killed++;
      await sleep(rand() * 300);
      op = operator('op-a');
    }
    await ops;
    expect(opsDone).toBe(true);
    const started = Date.now();
    await waitFor(async () => {
      const p = await convergence(deletedUids);
      return p.length === 0 ? true : (globalThis as { __last?: string[] }).__last = p, p.length === 0;
    }, { description: 'convergence after kills', timeoutMs: 60_000, intervalMs: 500 }).catch((err: Error) => {
      throw new Error(`${err.message}\n${((globalThis as { __last?: string[] }).__last ?? []).join('\n')}`);
    });
    const convergedMs = Date.now() - started;
    // Orphans of deleted relays stay (no garbage collector here); they point at the deleted uids only.
    const orphans = (await children()).filter((o) => deletedUids.has(o.metadata.ownerReferences?.[0]?.uid ?? ''));
    // Ready: stand in for the Deployment controller, then every live relay reports Ready.
    for (const r of await relays()) await simulateAvailableIn(kc, ns, r.metadata.name);
    await waitFor(async () => (await relays()).every((r) => conditionOf(r, 'Ready')?.status === 'True' && isObserved(r)), { description: 'all relays Ready', timeoutMs: 30_000 });
    process.stdout.write(`CHAOS kills=${killed} relays=${relayCount} converged ${convergedMs} ms after the last operation; children of deleted relays left for the GC: ${orphans.length}\n`);
  });

  test(`API server down for ${soak ? 30 : 4} s: the operator keeps running and reconciles a change made after the restart within 30 s`, async () => {
    const op = [...running][0]!;
    await cp.stopApiServer();
    await sleep(soak ? 30_000 : 4_000);
    expect(op.proc.hasExited).toBe(false);
    await cp.startApiServer();
    expect(op.proc.hasExited).toBe(false);
    const t0 = Date.now();
    await kubectlIn(kc, ['-n', ns, 'patch', 'smtprelay', 'r1', '--type=merge', '-p', '{"spec":{"replicas":3}}']);
    await waitFor(async () => {
      const r = await getRelayIn(kc, ns, 'r1');
      return isObserved(r) && (await getJson(kc, ['-n', ns, 'get', 'poddisruptionbudget', 'r1'])) !== undefined;
    }, { description: 'r1 scaled after the API server came back', timeoutMs: 30_000, intervalMs: 200 });
    process.stdout.write(`CHAOS api-server-down: change reconciled ${Date.now() - t0} ms after the restart\n`);
    expect(op.proc.hasExited).toBe(false);
  });

  test('deleted out from under us: TLS Secret and users Secret -> SecretNotFound, healed when they return', async () => {
    const tls = await getJson<Record<string, unknown>>(kc, ['-n', ns, 'get', 'secret', 'shared-tls']);
    await kubectlIn(kc, ['-n', ns, 'delete', 'secret', 'shared-tls']);
    const stalled = await waitFor(async () => {
      const r = await getRelayIn(kc, ns, 'r2');
      return r?.status?.conditions?.some((c) => c.reason === 'SecretNotFound' && /shared-tls/.test(c.message ?? '')) ? r : undefined;
    }, { description: 'SecretNotFound for the TLS Secret', timeoutMs: 30_000 });
    expect(conditionOf(stalled, 'Ready')?.status).toBe('False');
    const clean = JSON.parse(JSON.stringify(tls)) as { metadata: Record<string, unknown> };
    clean.metadata = { name: 'shared-tls', namespace: ns };
    await applyIn(kc, clean);
    await waitFor(async () => !(await getRelayIn(kc, ns, 'r2'))?.status?.conditions?.some((c) => c.reason === 'SecretNotFound'), { description: 'healed after the TLS Secret returned', timeoutMs: 30_000 });

    await kubectlIn(kc, ['-n', ns, 'delete', 'secret', USERS_SECRET]);
    await waitFor(async () => (await getRelayIn(kc, ns, 'r2'))?.status?.conditions?.some((c) => c.reason === 'SecretNotFound' && c.message?.includes(USERS_SECRET)), { description: 'SecretNotFound for the users Secret', timeoutMs: 30_000 });
    await createGenericSecretIn(kc, ns, USERS_SECRET, { alice: 'not-a-real-password-2' });
    await waitFor(async () => !(await getRelayIn(kc, ns, 'r2'))?.status?.conditions?.some((c) => c.reason === 'SecretNotFound'), { description: 'healed after the users Secret returned', timeoutMs: 30_000 });
  });

  test('another client edits a child: our fields restored, its label kept, no write fight', async () => {
    const name = 'r4';
    const before = await getJson<{ spec: { replicas: number } }>(kc, ['-n', ns, 'get', 'deployment', name]);
    expect(before?.spec.replicas).toBe(1);
    const auditBefore = writesBy(readAudit(cp.auditLogPath!), userOf('op-a'), { resource: 'deployments', name }).length;
    await kubectlIn(kc, ['-n', ns, 'label', 'deployment', name, 'team=payments']);
    await kubectlIn(kc, ['-n', ns, 'scale', 'deployment', name, '--replicas=5']);
    const restored = await waitFor(async () => {
      const d = await getJson<{ metadata: { labels: Record<string, string>; resourceVersion: string }; spec: { replicas: number } }>(kc, ['-n', ns, 'get', 'deployment', name]);
      return d?.spec.replicas === 1 ? d : undefined;
    }, { description: 'replicas restored to 1', timeoutMs: 30_000, intervalMs: 200 });
    expect(restored.metadata.labels.team).toBe('payments');
    // Steady state: nothing changes the object any more (no fight between the two writers).
    // (The operator may still re-apply while the relay waits for its rollout: those are no-op
    // applies that leave resourceVersion alone, so they are bounded below, not forbidden.)
    await sleep(5000);
    const after = await getJson<{ metadata: { labels: Record<string, string>; resourceVersion: string }; spec: { replicas: number } }>(kc, ['-n', ns, 'get', 'deployment', name]);
    expect(after?.metadata.resourceVersion).toBe(restored.metadata.resourceVersion);
    expect(after?.metadata.labels.team).toBe('payments');
    const writes = writesBy(readAudit(cp.auditLogPath!), userOf('op-a'), { resource: 'deployments', name }).length - auditBefore;
    process.stdout.write(`CHAOS conflict: operator writes to the edited Deployment: ${writes}\n`);
    expect(writes).toBeGreaterThanOrEqual(1);
    // One apply per watch event the edits caused (label, scale, our own restore) plus requeues
    // while the rollout is pending: bounded over these ~6 s, not a loop.
    expect(writes).toBeLessThanOrEqual(8);
  });

  test('leader failover: kill -9 the leader, the other process takes the Lease and reconciles; never two writers at once', async () => {
    await stopAll();
    const a = operator('op-a', true);
    const holder = async () => (await getJson<{ spec: { holderIdentity?: string; leaseTransitions?: number } }>(kc, ['-n', SA_NS, 'get', 'lease', LEASE]))?.spec;
    await waitFor(async () => (await holder())?.holderIdentity?.startsWith('op-a'), { description: 'op-a leads', timeoutMs: 40_000 });
    const b = operator('op-b', true);
    await sleep(3000); // b campaigns against a live lease
    expect((await holder())?.holderIdentity).toMatch(/^op-a/);
    const transitionsBefore = (await holder())?.leaseTransitions ?? 0;
    await a.kill9();
    running.delete(a);
    const killedAt = Date.now();
    await waitFor(async () => (await holder())?.holderIdentity?.startsWith('op-b'), { description: 'op-b takes the lease', timeoutMs: 40_000, intervalMs: 200 });
    const failoverMs = Date.now() - killedAt;
    expect((await holder())?.leaseTransitions).toBe(transitionsBefore + 1);
    // Lease 15 s + retry 2 s, plus scheduling slack on a loaded machine.
    expect(failoverMs).toBeLessThan(25_000);
    await kubectlIn(kc, ['-n', ns, 'patch', 'smtprelay', 'r5', '--type=merge', '-p', '{"spec":{"replicas":2}}']);
    await waitFor(async () => isObserved(await getRelayIn(kc, ns, 'r5')) && (await getJson(kc, ['-n', ns, 'get', 'poddisruptionbudget', 'r5'])) !== undefined, { description: 'op-b reconciles r5', timeoutMs: 30_000 });
    const audit = readAudit(cp.auditLogPath!);
    const sinceStart = (e: { stageTimestamp: string }) => Date.parse(e.stageTimestamp) >= killedAt - 60_000;
    const aWrites = writesBy(audit, userOf('op-a')).filter(sinceStart);
    const bWrites = writesBy(audit, userOf('op-b'));
    expect(bWrites.length).toBeGreaterThan(0);
    const lastA = Math.max(0, ...aWrites.map((e) => Date.parse(e.stageTimestamp)));
    const firstB = Math.min(...bWrites.map((e) => Date.parse(e.requestReceivedTimestamp)));
    expect(lastA).toBeLessThan(firstB);
    process.stdout.write(`CHAOS failover: lease taken ${failoverMs} ms after kill -9; last write of the old leader ${firstB - lastA} ms before the first of the new\n`);
    await b.stop();
    running.delete(b);
  });
});
