// The test harness gives a real API server: RBAC, PodSecurity admission,
// server-side apply, CRDs with a status subresource, and a restartable kube-apiserver.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { ApiException, CoreV1Api, KubernetesObjectApi, type KubernetesObject, PatchStrategy, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import fs from 'node:fs/promises';
import path from 'node:path';
import { readCrds, repoRoot, startControlPlane, type ControlPlane } from '../harness/controlplane.js';
import { kubeRequest } from '../harness/kube-http.js';
import { createTestNamespace, kubeConfig, kubectl, serviceAccountKubeconfig, waitFor, type TestNamespace } from '../harness/kube.js';
import { targetFromKubeconfig } from '../harness/service-account.js';

const adminKubeconfig = () => process.env.KUBECONFIG!;
const FAST = 20_000; // per test: against a running API server each takes well under a second
const RESTART = 90_000; // two kube-apiserver restarts on two busy cores

async function statusCodeOf(promise: Promise<unknown>): Promise<number> {
  try {
    await promise;
    return 200;
  } catch (err) {
    if (err instanceof ApiException) return err.code;
    throw err;
  }
}

describe('shared test control plane', () => {
  let ns: TestNamespace;

  beforeAll(async () => {
    ns = await createTestNamespace('cp-harness');
  }, FAST);
  afterAll(async () => {
    await ns?.cleanup();
  }, FAST);

  test('RBAC is enforced for a ServiceAccount token until a RoleBinding grants access', async () => {
    const saKubeconfig = await serviceAccountKubeconfig({ kubeconfigPath: adminKubeconfig() }, ns.name, 'reader');
    const asReader = kubeConfig(saKubeconfig).makeApiClient(CoreV1Api);

    expect(await statusCodeOf(asReader.listNamespacedSecret({ namespace: ns.name }))).toBe(403);

    const rbac = kubeConfig().makeApiClient(RbacAuthorizationV1Api);
    await rbac.createNamespacedRole({
      namespace: ns.name,
      body: { metadata: { name: 'secret-reader' }, rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['list'] }] },
    });
    await rbac.createNamespacedRoleBinding({
      namespace: ns.name,
      body: {
        metadata: { name: 'reader-reads-secrets' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'secret-reader' },
        subjects: [{ kind: 'ServiceAccount', name: 'reader', namespace: ns.name }],
      },
    });
    // The authorizer sees new bindings through its informer: allow a moment.
    await waitFor(async () => (await statusCodeOf(asReader.listNamespacedSecret({ namespace: ns.name }))) === 200, {
      description: 'the RoleBinding to let the ServiceAccount list secrets',
      timeoutMs: 10_000,
    });
    // Still only what the Role grants: other namespaces stay forbidden.
    expect(await statusCodeOf(asReader.listNamespacedSecret({ namespace: 'default' }))).toBe(403);
  }, FAST);

  test('server-side apply records our field manager in managedFields', async () => {
    const objects = KubernetesObjectApi.makeApiClient(kubeConfig());
    const applied = await objects.patch<KubernetesObject>(
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'ssa-probe', namespace: ns.name }, data: { owner: 'operator' } } as KubernetesObject,
      undefined,
      undefined,
      'smtp-relay-operator',
      true,
      PatchStrategy.ServerSideApply,
    );
    const managers = (applied.metadata?.managedFields ?? []).map((f) => `${f.manager}/${f.operation}`);
    expect(managers).toContain('smtp-relay-operator/Apply');
  }, FAST);

  test('PodSecurity enforce=restricted rejects a privileged Pod and admits a compliant one (server-side dry run)', async () => {
    const restricted = await createTestNamespace('cp-restricted', { labels: { 'pod-security.kubernetes.io/enforce': 'restricted' } });
    try {
      const core = kubeConfig().makeApiClient(CoreV1Api);
      const pod = (securityContext: object) => ({
        metadata: { name: 'probe' },
        spec: { containers: [{ name: 'c', image: 'registry.example/relay:1', securityContext }] },
      });
      let rejection: ApiException<string> | undefined;
      try {
        await core.createNamespacedPod({ namespace: restricted.name, dryRun: 'All', body: pod({ privileged: true }) });
      } catch (err) {
        rejection = err as ApiException<string>;
      }
      expect(rejection?.code).toBe(403);
      const { message } = JSON.parse(String(rejection?.body)) as { message: string };
      expect(message).toContain('violates PodSecurity "restricted:latest"');
      expect(message).toContain('must not set securityContext.privileged=true');

      const admitted = await core.createNamespacedPod({
        namespace: restricted.name,
        dryRun: 'All',
        body: pod({
          allowPrivilegeEscalation: false,
          runAsNonRoot: true,
          runAsUser: 10001,
          capabilities: { drop: ['ALL'] },
          seccompProfile: { type: 'RuntimeDefault' },
        }),
      });
      expect(admitted.metadata?.namespace).toBe(restricted.name);
    } finally {
      await restricted.cleanup();
    }
  }, FAST);

  test('every CRD in crds/ is served, and SmtpRelay has a status subresource', async () => {
    const expected = readCrds(path.join(repoRoot, 'crds')).map((c) => c.metadata!.name!);
    expect(expected).toContain('smtprelays.smtprelay.dev');
    const admin = await targetFromKubeconfig(adminKubeconfig());
    for (const name of expected) {
      const res = await kubeRequest(admin, 'GET', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`);
      expect(res.status).toBe(200);
    }
    const discovery = JSON.parse((await kubeRequest(admin, 'GET', '/apis/smtprelay.dev/v1alpha1')).text) as { resources: { name: string }[] };
    expect(discovery.resources.map((r) => r.name)).toEqual(expect.arrayContaining(['smtprelays', 'smtprelays/status']));
  }, FAST);

  test('the machine kubectl can talk to it', async () => {
    const r = await kubectl(['get', 'namespace', ns.name, '-o', 'jsonpath={.metadata.name}']);
    expect(r).toMatchObject({ code: 0, stdout: ns.name });
  }, FAST);
});

describe('private control plane', () => {
  let cp: ControlPlane;

  beforeAll(async () => {
    cp = await startControlPlane({ certManager: false, installCrds: false, audit: true });
  }, 90_000);
  afterAll(async () => {
    await cp?.stop();
  }, 30_000);

  test('restartApiServer takes the API server down and brings it back with its data', async () => {
    const admin = await targetFromKubeconfig(cp.kubeconfigPath);
    const created = await kubeRequest(admin, 'POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'survives-restart' } });
    expect(created.status).toBe(201);
    const pidBefore = cp.apiServerPid();
    expect(pidBefore).toEqual(expect.any(Number));

    await cp.stopApiServer();
    expect(cp.apiServerPid()).toBeUndefined();
    await expect(kubeRequest(admin, 'GET', '/readyz')).rejects.toThrow(/ECONNREFUSED/);

    await cp.startApiServer();
    expect(cp.apiServerPid()).not.toBe(pidBefore);
    expect((await kubeRequest(admin, 'GET', '/readyz')).status).toBe(200);
    expect((await kubeRequest(admin, 'GET', '/api/v1/namespaces/survives-restart')).status).toBe(200);

    await cp.restartApiServer(100);
    expect((await kubeRequest(admin, 'GET', '/api/v1/namespaces/survives-restart')).status).toBe(200);
  }, RESTART);

  test('with audit: true every write is in the audit log (bench and chaos count writes from it)', async () => {
    const admin = await targetFromKubeconfig(cp.kubeconfigPath);
    expect((await kubeRequest(admin, 'POST', '/api/v1/namespaces', { metadata: { name: 'audited' } })).status).toBe(201);
    const entry = await waitFor(
      async () =>
        (await fs.readFile(cp.auditLogPath!, 'utf8'))
          .split('\n')
          .filter(Boolean)
          .map((line) => JSON.parse(line) as { verb: string; objectRef?: { resource?: string; name?: string }; user: { username: string } })
          .find((e) => e.verb === 'create' && e.objectRef?.resource === 'namespaces' && e.objectRef.name === 'audited'),
      { description: 'the audit event of creating namespace "audited"', timeoutMs: 10_000 },
    );
    expect(entry.user.username).toBe('kubernetes-admin');
  }, FAST);
});
