// The operator's caches keep only what it reads (controller/cache-shape.ts). Against the
// real API server (its defaulting, its managedFields): a child cut down to the fields our
// field manager owns still covers what we apply (so a quiet operator stays quiet), loses
// what the server and other managers filled in, and stops covering as soon as another
// manager changes one of our fields (so hand edits are still undone).
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { SmtpRelay } from '../../../src/api/types.js';
import { desiredChildren, FIELD_MANAGER, type BuildContext } from '../../../src/controller/builders/index.js';
import { childShape, podShape, secretShape } from '../../../src/controller/cache-shape.js';
import { coversDesired } from '../../../src/controller/covers-desired.js';
import { applyObject, getObject, hasResource } from '../../../src/kube/apply.js';
import { kubeRequest } from '../../../src/kube/http.js';
import type { KubeObject } from '../../../src/kube/types.js';
import { createTestNamespace, type TestNamespace } from '../../harness/kube.js';
import { adminKube, relayManifest } from './helpers.js';

const T = 60_000;
let ns: TestNamespace;
const kc = () => adminKube();
const ctx: BuildContext = { defaultImage: 'ghcr.io/example/smtp-relay:1.0.0', secretVersions: { 'shared-tls': '100', 'smtp-users': '7' } };

beforeAll(async () => {
  ns = await createTestNamespace('cache-shape');
}, T);
afterAll(async () => {
  await ns?.cleanup();
}, T);

function relay(name: string, spec: Partial<SmtpRelay['spec']>): SmtpRelay {
  const r = relayManifest(ns.name, name, spec);
  return { ...r, metadata: { ...r.metadata, uid: `uid-${name}`, generation: 1 } };
}

async function live(child: KubeObject): Promise<KubeObject> {
  const obj = await getObject(kc(), { apiVersion: child.apiVersion, kind: child.kind, namespace: child.metadata.namespace, name: child.metadata.name });
  if (!obj) throw new Error(`${child.kind} ${child.metadata.name} not found`);
  return obj;
}

const sizeWithoutManagedFields = (o: KubeObject) => JSON.stringify({ ...o, metadata: { ...o.metadata, managedFields: undefined } }).length;

describe('children cut down to our fields', () => {
  test('every child of a PassThrough, a Durable and a cert-manager relay still covers what we apply, and is smaller', async () => {
    const certManager = await hasResource(kc(), 'cert-manager.io', 'v1', 'certificates');
    const relays = [
      relay('pass', { tls: { secretName: 'shared-tls' }, queue: { mode: 'PassThrough' }, replicas: 2, pod: { annotations: { team: 'mail' }, nodeSelector: { disk: 'ssd' } }, service: { annotations: { 'example.com/lb': 'x' } } }),
      relay('durable', { tls: { secretName: 'shared-tls' }, queue: { mode: 'Durable' } }),
      ...(certManager ? [relay('issued', { tls: { issuerRef: { name: 'test-ca', kind: 'ClusterIssuer' } }, queue: { mode: 'PassThrough' } })] : []),
    ];
    const kinds = new Set<string>();
    for (const r of relays) {
      for (const child of desiredChildren(r, ctx)) {
        await applyObject(kc(), child, { fieldManager: FIELD_MANAGER, force: true });
        const stored = await live(child);
        const shaped = childShape(child.kind)(stored);
        expect({ child: `${child.kind}/${child.metadata.name}`, covers: coversDesired(shaped, child) }).toEqual({ child: `${child.kind}/${child.metadata.name}`, covers: true });
        expect(shaped.metadata).not.toHaveProperty('managedFields');
        expect(shaped.metadata).not.toHaveProperty('creationTimestamp');
        expect(JSON.stringify(shaped).length).toBeLessThanOrEqual(sizeWithoutManagedFields(stored));
        kinds.add(child.kind);
      }
    }
    expect([...kinds].sort()).toEqual(expect.arrayContaining(['ConfigMap', 'Deployment', 'NetworkPolicy', 'PodDisruptionBudget', 'Service', 'StatefulSet', ...(certManager ? ['Certificate'] : [])]));
  }, T);

  test('what the API server defaults is dropped; replicas and the status counts the reconciler reads are kept', async () => {
    const r = relay('defaults', { tls: { secretName: 'shared-tls' }, queue: { mode: 'PassThrough' } });
    const deployment = desiredChildren(r, ctx).find((c) => c.kind === 'Deployment')!;
    await applyObject(kc(), deployment, { fieldManager: FIELD_MANAGER, force: true });
    await kubeRequest(kc(), {
      method: 'PATCH',
      path: `/apis/apps/v1/namespaces/${ns.name}/deployments/${deployment.metadata.name}/status`,
      contentType: 'application/merge-patch+json',
      body: { status: { observedGeneration: 1, replicas: 1, updatedReplicas: 1, readyReplicas: 1, availableReplicas: 1, conditions: [{ type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable', message: 'ok' }] } },
    });
    const stored = await live(deployment);
    const spec = stored.spec as { progressDeadlineSeconds?: number; template: { spec: { dnsPolicy?: string; containers: { terminationMessagePath?: string }[] } } };
    // The server filled these in: a whole cache of them is what the shape saves.
    expect(spec.progressDeadlineSeconds).toBeDefined();
    expect(spec.template.spec.dnsPolicy).toBeDefined();
    const shaped = childShape('Deployment')(stored);
    const shapedSpec = shaped.spec as { replicas?: number; progressDeadlineSeconds?: number; template: { spec: { dnsPolicy?: string; containers: { terminationMessagePath?: string }[] } } };
    expect(shapedSpec.progressDeadlineSeconds).toBeUndefined();
    expect(shapedSpec.template.spec.dnsPolicy).toBeUndefined();
    expect(shapedSpec.template.spec.containers[0]!.terminationMessagePath).toBeUndefined();
    expect(shapedSpec.replicas).toBe(1);
    expect(shaped.status).toEqual({ observedGeneration: 1, replicas: 1, updatedReplicas: 1, readyReplicas: 1, availableReplicas: 1 });
    expect(shaped.metadata).toMatchObject({ name: deployment.metadata.name, uid: stored.metadata.uid, resourceVersion: stored.metadata.resourceVersion, generation: stored.metadata.generation, labels: deployment.metadata.labels, ownerReferences: deployment.metadata.ownerReferences });
  }, T);

  test('another manager changing one of our fields makes the cut-down child stop covering; its own additions do not', async () => {
    const r = relay('edited', { tls: { secretName: 'shared-tls' }, queue: { mode: 'PassThrough' } });
    const deployment = desiredChildren(r, ctx).find((c) => c.kind === 'Deployment')!;
    const path = `/apis/apps/v1/namespaces/${ns.name}/deployments/${deployment.metadata.name}`;
    await applyObject(kc(), deployment, { fieldManager: FIELD_MANAGER, force: true });
    // A sidecar and a label from another manager (server-side apply): not ours, so not compared.
    await applyObject(kc(), { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: deployment.metadata.name, namespace: ns.name, labels: { team: 'mail' } }, spec: { template: { spec: { containers: [{ name: 'sidecar', image: 'example.com/sidecar:1' }] } } } } as KubeObject, { fieldManager: 'mesh-injector', force: false });
    let shaped = childShape('Deployment')(await live(deployment));
    expect((shaped.spec as { template: { spec: { containers: { name: string }[] } } }).template.spec.containers.map((c) => c.name)).toEqual(['relay']);
    expect(coversDesired(shaped, deployment)).toBe(true);
    // kubectl scale / an HPA owns replicas now: still kept (the reconciler reads it), and a change of it is seen.
    await kubeRequest(kc(), { method: 'PATCH', path: `${path}/scale`, contentType: 'application/merge-patch+json', query: { fieldManager: 'hpa' }, body: { spec: { replicas: 3 } } });
    shaped = childShape('Deployment')(await live(deployment));
    expect((shaped.spec as { replicas: number }).replicas).toBe(3);
    // A hand edit of our image (an update, as kubectl edit makes): no longer ours, so no longer covered: the operator applies again.
    await kubeRequest(kc(), { method: 'PATCH', path, contentType: 'application/strategic-merge-patch+json', query: { fieldManager: 'kubectl-edit' }, body: { spec: { template: { spec: { containers: [{ name: 'relay', image: 'example.com/other:2' }] } } } } });
    shaped = childShape('Deployment')(await live(deployment));
    expect(coversDesired(shaped, deployment)).toBe(false);
    await applyObject(kc(), deployment, { fieldManager: FIELD_MANAGER, force: true });
    expect(coversDesired(childShape('Deployment')(await live(deployment)), deployment)).toBe(true);
  }, T);
});

describe('pods and Secrets', () => {
  test('a pod keeps who owns it and where it answers; a Secret only its identity and version', () => {
    const pod: KubeObject = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'mail-0', namespace: 'a', uid: 'p1', resourceVersion: '9', labels: { app: 'x' }, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'mail', uid: 's1', controller: true }], annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{}' }, managedFields: [{}] },
      spec: { containers: [{ name: 'relay', image: 'x' }] },
      status: { phase: 'Running', podIP: '10.0.0.7', conditions: [{ type: 'Ready', status: 'True' }], containerStatuses: [{ name: 'relay' }] },
    };
    expect(podShape(pod)).toEqual({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'mail-0', namespace: 'a', uid: 'p1', resourceVersion: '9', labels: { app: 'x' }, ownerReferences: pod.metadata.ownerReferences },
      status: { phase: 'Running', podIP: '10.0.0.7' },
    });
    const secret: KubeObject = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's', namespace: 'a', uid: 'u', resourceVersion: '5', labels: { owner: 'helm' }, annotations: { big: 'x'.repeat(1000) } } };
    expect(secretShape(secret)).toEqual({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 's', namespace: 'a', uid: 'u', resourceVersion: '5' } });
  });
});
