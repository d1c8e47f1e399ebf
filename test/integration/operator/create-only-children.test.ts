// The operator trusts its synced caches: a child they lack is created without being
// read first (no GET per child), by a create-only server-side apply, so a same-named
// object made by someone else after the caches synced is still left alone
// (ChildNotOwned). A private control plane with an audit log counts the operator's
// requests; the operator runs in process as its own ServiceAccount (deploy/base/rbac.yaml).
import { afterAll, beforeAll, expect, jest, test } from '@jest/globals';
import path from 'node:path';
import type { OperatorHandle } from '../../../src/controller/operator.js';
import { FIELD_MANAGER } from '../../../src/controller/builders/index.js';
import type { KubeObject } from '../../../src/kube/types.js';
import { readAudit, type AuditEvent } from '../../chaos/audit.js';
import { conditionOf, createGenericSecretIn, createTlsSecretIn, getJson, getRelayIn, kubectlIn } from '../../chaos/kube-fixtures.js';
import { startControlPlane, type ControlPlane } from '../../harness/controlplane.js';
import { createTestNamespace, serviceAccountKubeconfig, waitFor } from '../../harness/kube.js';
import { repoRoot } from '../../helpers/cli.js';
import { relayManifest, runOperatorInProcess, USERS_SECRET } from './helpers.js';

jest.setTimeout(120_000);

const OPERATOR_USER = 'system:serviceaccount:smtp-relay-system:smtp-relay-operator';
const CHILD_RESOURCES = new Set(['configmaps', 'services', 'deployments', 'statefulsets', 'poddisruptionbudgets', 'networkpolicies', 'certificates']);

let cp: ControlPlane;
let kc: string;
let ns: string;
let operator: OperatorHandle | undefined;

beforeAll(async () => {
  cp = await startControlPlane({ certManager: false, audit: true });
  kc = cp.kubeconfigPath;
  await kubectlIn(kc, ['create', 'namespace', 'smtp-relay-system']);
  await kubectlIn(kc, ['apply', '-f', path.join(repoRoot, 'deploy', 'base', 'rbac.yaml')]);
  const operatorKubeconfig = await serviceAccountKubeconfig(cp, 'smtp-relay-system', 'smtp-relay-operator');
  ns = (await createTestNamespace('create-only', { kubeconfig: kc })).name;
  await createGenericSecretIn(kc, ns, USERS_SECRET, { alice: 'not-a-real-password-1' });
  await createTlsSecretIn(kc, ns, 'shared-tls', 'relays.example.test');
  // Resolves once every cache has synced and the workers run.
  operator = await runOperatorInProcess(ns, [], operatorKubeconfig);
});

afterAll(async () => {
  await operator?.stop();
  await cp?.stop();
});

/** The operator's completed requests on the children's resources in the test namespace. */
function childRequests(): AuditEvent[] {
  return readAudit(cp.auditLogPath!).filter(
    (e) => (e as { stage?: string }).stage === 'ResponseComplete' && e.user.username === OPERATOR_USER && e.objectRef?.namespace === ns && CHILD_RESOURCES.has(e.objectRef.resource ?? ''),
  );
}

const child = (kind: string, name: string) => getJson<KubeObject>(kc, ['-n', ns, 'get', kind, name, '--show-managed-fields']);
const relay = (name: string, spec: object = {}) => kubectlIn(kc, ['apply', '--server-side', '--field-manager=test', '-f', '-'], JSON.stringify(relayManifest(ns, name, { tls: { secretName: 'shared-tls' }, ...spec })));

test('a new relay gets its children without a read per child: one create-only apply each, owned as Apply by our field manager', async () => {
  await relay('fresh');
  await waitFor(async () => (await getRelayIn(kc, ns, 'fresh'))?.status?.observedGeneration === 1, { description: 'the first status', timeoutMs: 30_000, intervalMs: 100 });
  const requests = childRequests().filter((e) => e.objectRef?.name?.startsWith('fresh'));
  expect(requests.filter((e) => e.verb === 'get').map((e) => e.requestURI)).toEqual([]);
  const children = ['configmaps/fresh-config', 'services/fresh', 'deployments/fresh', 'networkpolicies/fresh'];
  const patches = requests.filter((e) => e.verb === 'patch').map((e) => `${e.objectRef!.resource}/${e.objectRef!.name}`);
  expect(patches.sort()).toEqual([...children].sort());
  expect(requests.map((e) => e.verb).every((v) => v === 'patch')).toBe(true);
  for (const c of children) {
    const [kind, name] = c.split('/') as [string, string];
    const obj = await child(kind, name);
    // A server-side apply, not a POST: later applies can remove the fields we stop sending.
    expect((obj!.metadata.managedFields as { manager: string; operation: string }[]).map((m) => `${m.manager}/${m.operation}`)).toEqual([`${FIELD_MANAGER}/Apply`]);
  }
});

test('a same-named Service made after the caches synced (so not in them) is left alone and reported (ChildNotOwned)', async () => {
  await kubectlIn(kc, ['-n', ns, 'create', 'service', 'clusterip', 'late', '--tcp=80:8080']);
  const before = await child('service', 'late');
  await relay('late');
  const stalled = await waitFor(async () => {
    const r = await getRelayIn(kc, ns, 'late');
    return conditionOf(r, 'Stalled')?.status === 'True' ? r : undefined;
  }, { description: 'Stalled', timeoutMs: 30_000, intervalMs: 100 });
  expect(conditionOf(stalled, 'Stalled')).toMatchObject({ reason: 'ChildNotOwned' });
  expect(conditionOf(stalled, 'Stalled')!.message).toMatch(/A Service named late already exists .* was not created by this SmtpRelay; the operator leaves it alone/);
  const after = await child('service', 'late');
  expect(after!.metadata.resourceVersion).toBe(before!.metadata.resourceVersion);
  expect(after!.metadata.ownerReferences).toBeUndefined();
  expect((after!.spec as { ports: { port: number }[] }).ports.map((p) => p.port)).toEqual([80]);
  // The API server refused our create-only apply (409) and changed nothing; then, and only then, the operator read it.
  const onService = childRequests().filter((e) => e.objectRef?.resource === 'services' && e.objectRef.name === 'late');
  expect(onService.filter((e) => e.verb === 'patch').every((e) => e.responseStatus?.code === 409)).toBe(true);
  expect(onService.some((e) => e.verb === 'get')).toBe(true);
  // The rest of the relay is still built.
  expect(await child('configmap', 'late-config')).toBeDefined();
});

test('our own child that lost our labels (so left the cache) is recognised by its owner reference and taken back', async () => {
  await kubectlIn(kc, ['-n', ns, 'label', 'configmap', 'fresh-config', 'app.kubernetes.io/managed-by-']);
  const restored = await waitFor(async () => {
    const cm = await child('configmap', 'fresh-config');
    return cm?.metadata.labels?.['app.kubernetes.io/managed-by'] === 'smtp-relay-operator' ? cm : undefined;
  }, { description: 'the managed-by label restored', timeoutMs: 30_000, intervalMs: 100 });
  expect(restored.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'SmtpRelay', name: 'fresh', controller: true })]);
  expect(conditionOf(await getRelayIn(kc, ns, 'fresh'), 'Stalled')?.status).toBe('False');
});
