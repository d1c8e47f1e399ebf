// deploy/overlays/namespaced on a real API server: the operator runs as its
// ServiceAccount with ONLY the overlay's RBAC (RoleBindings in the watched namespaces, no
// ClusterRoleBinding), with the overlay's own --namespace list. Relays in the watched namespaces are reconciled; a relay in another
// namespace is not touched; the API server never refuses the operator, and every
// request it makes stays inside the watched namespaces (audit log).
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { startControlPlane, type ControlPlane } from '../../harness/controlplane.js';
import { serviceAccountKubeconfig, waitFor } from '../../harness/kube.js';
import { repoRoot } from '../../helpers/cli.js';
import { readAudit } from '../../chaos/audit.js';
import { applyIn, conditionOf, createGenericSecretIn, createTlsSecretIn, getJson, getRelayIn, isObserved, kubectlIn } from '../../chaos/kube-fixtures.js';
import { startOperatorProcess, type OperatorProcess } from '../../chaos/operator-process.js';
import { relayManifest, USERS_SECRET } from '../operator/helpers.js';

jest.setTimeout(180_000);

const SA_NS = 'smtp-relay-system';
const SA = 'smtp-relay-operator';
const SA_USER = `system:serviceaccount:${SA_NS}:${SA}`;
const OUTSIDE = 'team-outside';

type Obj = { kind: string; metadata: { name: string; namespace?: string }; spec?: { template?: { spec?: { containers?: { args?: string[] }[] } } } };

let cp: ControlPlane;
let op: OperatorProcess | undefined;
let rendered: Obj[];
let watched: string[];
let logPath: string;

beforeAll(async () => {
  cp = await startControlPlane({ certManager: false, audit: true });
  const kc = cp.kubeconfigPath;
  rendered = YAML.parseAllDocuments(await kubectlIn(kc, ['kustomize', path.join(repoRoot, 'deploy', 'overlays', 'namespaced')])).map((d) => d.toJSON() as Obj);
  const args = rendered.find((o) => o.kind === 'Deployment')!.spec!.template!.spec!.containers![0]!.args!;
  watched = args.find((a) => a.startsWith('--namespace='))!.slice('--namespace='.length).split(',');
  for (const n of [SA_NS, ...watched, OUTSIDE]) await kubectlIn(kc, ['create', 'namespace', n]);
  // The overlay's RBAC, exactly as rendered, and nothing else for this ServiceAccount.
  const rbac = rendered.filter((o) => ['ServiceAccount', 'Role', 'RoleBinding', 'ClusterRole', 'ClusterRoleBinding'].includes(o.kind));
  await kubectlIn(kc, ['apply', '-f', '-'], rbac.map((o) => YAML.stringify(o)).join('---\n'));
  const saKubeconfig = await serviceAccountKubeconfig(cp, SA_NS, SA, { create: false });
  for (const n of [...watched, OUTSIDE]) {
    await createGenericSecretIn(kc, n, USERS_SECRET, { alice: '$2b$04$abcdefghijklmnopqrstuuM1bF0y2bq9xH4a8bFJQ4m9q0fJ1kX2u' });
    await createTlsSecretIn(kc, n, 'relay-cert', 'relay.example.test');
  }
  logPath = path.join(cp.workDir, 'operator.log');
  op = startOperatorProcess({ kubeconfig: saKubeconfig, namespace: watched.join(','), logPath, leaderElect: true, leaseNamespace: SA_NS, podName: 'namespaced-op' });
});

/** "Kind/name" of every object the operator made for relays in a namespace (by its managed-by label). */
async function childrenIn(namespace: string): Promise<string[]> {
  const list = await getJson<{ items: Obj[] }>(cp.kubeconfigPath, ['-n', namespace, 'get', 'deployments,statefulsets,services,configmaps,poddisruptionbudgets,networkpolicies', '-l', 'app.kubernetes.io/managed-by=smtp-relay-operator']);
  return (list?.items ?? []).map((o) => `${o.kind}/${o.metadata.name}`);
}

afterAll(async () => {
  await op?.stop();
  await cp?.stop();
});

describe('deploy/overlays/namespaced', () => {
  test('renders no cluster-wide binding, and watches more than one namespace', () => {
    expect(rendered.filter((o) => o.kind === 'ClusterRoleBinding')).toEqual([]);
    expect(rendered.filter((o) => o.kind === 'RoleBinding').map((o) => o.metadata.namespace).sort()).toEqual([SA_NS, ...watched].sort());
    expect(watched.length).toBeGreaterThan(1);
    expect(rendered.find((o) => o.kind === 'CustomResourceDefinition')).toBeDefined();
  });

  test('with only the RoleBindings: relays in every watched namespace are reconciled, a relay elsewhere is not touched', async () => {
    const kc = cp.kubeconfigPath;
    for (const n of [...watched, OUTSIDE]) await applyIn(kc, relayManifest(n, 'relay', { tls: { secretName: 'relay-cert' } }));
    for (const n of watched) {
      const r = await waitFor(async () => {
        const got = await getRelayIn(kc, n, 'relay');
        return isObserved(got) ? got : undefined;
      }, { description: `relay in ${n} observed`, timeoutMs: 60_000, intervalMs: 250 });
      expect(conditionOf(r, 'Stalled')?.status).toBe('False');
      expect(await childrenIn(n)).toEqual(expect.arrayContaining([expect.stringMatching(/^(Deployment|StatefulSet)\/relay$/), 'Service/relay']));
    }
    // The watched relays are done; the one outside had the same time and stays untouched.
    await new Promise((r) => setTimeout(r, 3000));
    const outside = await getRelayIn(kc, OUTSIDE, 'relay');
    expect(outside?.status).toBeUndefined();
    expect(await childrenIn(OUTSIDE)).toEqual([]);

    const log = fs.readFileSync(logPath, 'utf8');
    expect(log).not.toMatch(/forbidden/i);
    expect(log).not.toMatch(/informer error/);
  });

  test('the audit log: never refused, and every request inside the watched namespaces (or its own Lease)', () => {
    const events = readAudit(cp.auditLogPath as string).filter((e) => e.user.username === SA_USER && e.objectRef?.resource);
    expect(events.length).toBeGreaterThan(10);
    expect(events.filter((e) => e.responseStatus?.code === 403).map((e) => `${e.verb} ${e.objectRef?.resource} ${e.requestURI}`)).toEqual([]);
    // Access reviews are cluster-scoped by nature and need no RBAC (the operator asks before watching Issuers).
    const elsewhere = events
      .filter((e) => e.objectRef?.resource !== 'selfsubjectaccessreviews')
      .filter((e) => !(watched.includes(e.objectRef?.namespace ?? '') || (e.objectRef?.namespace === SA_NS && e.objectRef?.resource === 'leases')))
      .map((e) => `${e.verb} ${e.requestURI}`);
    expect(elsewhere).toEqual([]);
    for (const n of watched) expect(events.some((e) => e.objectRef?.namespace === n && e.objectRef?.resource === 'secrets' && e.verb === 'watch')).toBe(true);
  });
});
