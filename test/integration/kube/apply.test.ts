// Server-side apply, status apply, delete/get/list and discovery against the real API server.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { KubeConfig } from '@kubernetes/client-node';
import { randomBytes } from 'node:crypto';
import { applyObject, applyStatus, clearDiscoveryCache, createObject, deleteObject, getObject, hasResource, listObjects } from '../../../src/kube/apply.js';
import { isConflict, isResourceNotServed, KubeError } from '../../../src/kube/errors.js';
import { isClusterReachable, loadKubeConfig } from '../../../src/kube/client.js';
import { KubeConfig as KC } from '@kubernetes/client-node';
import type { KubeObject } from '../../../src/kube/types.js';
import { createTestNamespace, kubeConfig, waitFor, type TestNamespace } from '../../harness/kube.js';

const T = 30_000;
const OURS = { fieldManager: 'smtprelay-kube-test' };

interface ManagedField {
  manager: string;
  operation: string;
  subresource?: string;
}

describe('apply and friends (shared control plane)', () => {
  let kc: KubeConfig;
  let ns: TestNamespace;
  const cm = (data: Record<string, string>, labels?: Record<string, string>): KubeObject => ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'applied', namespace: ns.name, ...(labels ? { labels } : {}) },
    data,
  });

  beforeAll(async () => {
    kc = kubeConfig();
    ns = await createTestNamespace('kube-apply');
  }, T);
  afterAll(async () => {
    await ns?.cleanup();
  }, T);

  test('loadKubeConfig follows KUBECONFIG and the cluster is reachable', async () => {
    const loaded = loadKubeConfig();
    expect(loaded.getCurrentCluster()?.server).toBe(kc.getCurrentCluster()?.server);
    expect(await isClusterReachable(loaded, 5000)).toBe(true);
    const nowhere = new KC();
    nowhere.loadFromClusterAndUser({ name: 'c', server: 'https://127.0.0.1:1', skipTLSVerify: true }, { name: 'u' });
    expect(await isClusterReachable(nowhere, 1000)).toBe(false);
  }, T);

  test('a second identical apply does not write (resourceVersion unchanged) and the fields are ours', async () => {
    const first = await applyObject(kc, cm({ a: '1' }), OURS);
    const second = await applyObject(kc, cm({ a: '1' }), OURS);
    expect(second.metadata.resourceVersion).toBe(first.metadata.resourceVersion);
    const fields = (second.metadata.managedFields ?? []) as ManagedField[];
    expect(fields).toContainEqual(expect.objectContaining({ manager: OURS.fieldManager, operation: 'Apply' }));
    const third = await applyObject(kc, cm({ a: '2' }), OURS);
    expect(third.metadata.resourceVersion).not.toBe(first.metadata.resourceVersion);
  }, T);

  test("another manager's field survives our apply, and fields we stop sending are removed", async () => {
    await applyObject(kc, cm({ a: '1', ours: 'x' }), OURS);
    await applyObject(kc, { ...cm({ theirs: 'kept' }), metadata: { name: 'applied', namespace: ns.name, labels: { team: 'other' } } }, { fieldManager: 'someone-else', force: false });
    const after = await applyObject(kc, cm({ a: '1' }), OURS); // no longer sends `ours`
    expect((after as { data?: Record<string, string> }).data).toEqual({ a: '1', theirs: 'kept' });
    expect(after.metadata.labels).toEqual({ team: 'other' });
  }, T);

  test('a create-only apply creates an absent object as Apply, and leaves an existing one untouched with a 409 (whoever made it)', async () => {
    const named = (name: string, data: Record<string, string>): KubeObject => ({ ...cm(data), metadata: { name, namespace: ns.name } });
    const created = await applyObject(kc, named('create-only', { a: '1' }), { ...OURS, createOnly: true });
    expect(created.data).toEqual({ a: '1' });
    expect(((created.metadata.managedFields ?? []) as ManagedField[]).map((m) => `${m.manager}/${m.operation}`)).toEqual([`${OURS.fieldManager}/Apply`]);
    // Ours or not, an existing object is never changed by a create-only apply.
    await createObject(kc, named('made-by-someone', { theirs: 'x' }), { fieldManager: 'someone-else' });
    for (const name of ['create-only', 'made-by-someone']) {
      const before = await getObject(kc, { apiVersion: 'v1', kind: 'ConfigMap', namespace: ns.name, name });
      const err = await applyObject(kc, named(name, { a: '2' }), { ...OURS, createOnly: true }).catch((e: unknown) => e);
      expect(isConflict(err)).toBe(true);
      const after = await getObject(kc, { apiVersion: 'v1', kind: 'ConfigMap', namespace: ns.name, name });
      expect(after!.metadata.resourceVersion).toBe(before!.metadata.resourceVersion);
    }
    // A plain apply afterwards still manages the object (the create left no stray precondition behind).
    const updated = await applyObject(kc, named('create-only', { a: '3' }), OURS);
    expect(updated.data).toEqual({ a: '3' });
  }, T);

  test('get, list, create conflict, delete with uid precondition, tolerant delete', async () => {
    const sel = { apiVersion: 'v1', kind: 'ConfigMap', namespace: ns.name, name: 'to-delete' };
    expect(await getObject(kc, sel)).toBeUndefined();
    const created = await createObject(kc, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'to-delete', namespace: ns.name, labels: { pick: 'me' } } });
    await expect(createObject(kc, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'to-delete', namespace: ns.name } })).rejects.toMatchObject({ code: 409, reason: 'AlreadyExists' });
    expect((await getObject(kc, sel))?.metadata.uid).toBe(created.metadata.uid);
    const listed = await listObjects(kc, { apiVersion: 'v1', kind: 'ConfigMap', namespace: ns.name, labelSelector: 'pick=me' });
    expect(listed.map((o) => [o.kind, o.metadata.name])).toEqual([['ConfigMap', 'to-delete']]);

    const wrongUid = await deleteObject(kc, sel, { uid: '00000000-0000-0000-0000-000000000000' }).catch((e: unknown) => e);
    expect(isConflict(wrongUid)).toBe(true);
    expect(await deleteObject(kc, sel, { uid: created.metadata.uid })).toBe(true);
    expect(await deleteObject(kc, sel)).toBe(false); // already gone: not an error
  }, T);

  test('a kind that is not served is a 404 the caller can tell apart (CRD not installed)', async () => {
    expect(await hasResource(kc, '', 'v1', 'configmaps')).toBe(true);
    expect(await hasResource(kc, 'apps', 'v1', 'deployments')).toBe(true);
    expect(await hasResource(kc, 'not-installed.example.com', 'v1', 'certificates')).toBe(false);
    const err = await applyObject(kc, { apiVersion: 'not-installed.example.com/v1', kind: 'Certificate', metadata: { name: 'c', namespace: ns.name } }, OURS).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KubeError);
    expect(err).toMatchObject({ code: 404, reason: 'NotFound' });
    expect(isResourceNotServed(err)).toBe(true);
    expect(await getObject(kc, { apiVersion: 'v1', kind: 'ConfigMap', namespace: ns.name, name: 'nope' })).toBeUndefined();
  }, T);

  test('cert-manager detection follows whether the control plane runs cert-manager', async () => {
    // globalSetup sets SMTP_RELAY_CERT_MANAGER to '1' when cert-manager (and its CRDs) are installed, else '0'.
    const installed = process.env.SMTP_RELAY_CERT_MANAGER === '1';
    expect(await hasResource(kc, 'cert-manager.io', 'v1', 'certificates')).toBe(installed);
    const probe = await getObject(kc, { apiVersion: 'cert-manager.io/v1', kind: 'Certificate', namespace: ns.name, name: 'absent' }).catch((e: unknown) => e);
    if (installed) expect(probe).toBeUndefined();
    else expect(isResourceNotServed(probe)).toBe(true);
  }, T);

  test('a bad object is a 422 Invalid with the server message', async () => {
    const err = await applyObject(kc, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'Not_Valid', namespace: ns.name } }, OURS).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 422, reason: 'Invalid' });
    expect((err as Error).message).toMatch(/Not_Valid/);
  }, T);

  test('applyStatus writes only the status subresource, under our manager', async () => {
    const group = `kt${randomBytes(3).toString('hex')}.smtprelay.dev`;
    const crd = {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: `widgets.${group}` },
      spec: {
        group,
        scope: 'Namespaced',
        names: { plural: 'widgets', singular: 'widget', kind: 'Widget', listKind: 'WidgetList' },
        versions: [
          {
            name: 'v1',
            served: true,
            storage: true,
            subresources: { status: {} },
            schema: {
              openAPIV3Schema: {
                type: 'object',
                properties: {
                  spec: { type: 'object', properties: { size: { type: 'integer' } } },
                  status: { type: 'object', properties: { phase: { type: 'string' }, observedGeneration: { type: 'integer' } } },
                },
              },
            },
          },
        ],
      },
    };
    await applyObject(kc, crd as KubeObject, OURS);
    try {
      await waitFor(
        async () => {
          clearDiscoveryCache(kc);
          return hasResource(kc, group, 'v1', 'widgets');
        },
        { description: 'the Widget CRD to be served' },
      );
      const widget = { apiVersion: `${group}/v1`, kind: 'Widget', metadata: { name: 'w', namespace: ns.name } };
      await applyObject(kc, { ...widget, spec: { size: 1 } }, OURS);
      // status in the main resource is ignored by the server; it takes the /status subresource.
      const withStatus = await applyStatus(kc, { ...widget, status: { phase: 'Ready', observedGeneration: 1 } }, OURS);
      expect(withStatus.status).toEqual({ phase: 'Ready', observedGeneration: 1 });
      expect((withStatus as { spec?: unknown }).spec).toEqual({ size: 1 });
      const again = await applyStatus(kc, { ...widget, status: { phase: 'Ready', observedGeneration: 1 } }, OURS);
      expect(again.metadata.resourceVersion).toBe(withStatus.metadata.resourceVersion);
      expect(again.metadata.managedFields).toContainEqual(expect.objectContaining({ manager: OURS.fieldManager, operation: 'Apply', subresource: 'status' }));
    } finally {
      await deleteObject(kc, { apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', name: `widgets.${group}` });
    }
  }, T);
});
