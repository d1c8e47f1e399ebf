// The reconciler's writes of children: a child whose stored copy already holds
// what we would apply is not applied again; a child edited in our fields is;
// after a restart (no memory of what was applied) every child is applied once.
// The cluster is an in-memory ClusterAccess whose cache is the store itself.
import { describe, expect, test } from '@jest/globals';
import type { SmtpRelay } from '../../../src/api/types.js';
import { createLogger } from '../../../src/common/logger.js';
import { Reconciler, type ClusterAccess } from '../../../src/controller/reconciler.js';
import { SecretFactsCache } from '../../../src/controller/tls-secret.js';
import type { KubeObject } from '../../../src/kube/types.js';
import { relay as relayFixture } from './fixtures.js';

function world(opts: { issuerMissing?: boolean; applyGate?: Promise<void>; failKind?: { kind: string; code: number } } = {}) {
  const relay: SmtpRelay = { ...relayFixture(), metadata: { ...relayFixture().metadata, resourceVersion: '1' } };
  const store = new Map<string, KubeObject>();
  const applies: string[] = [];
  const events: string[] = [];
  let uid = 0;
  const cluster: ClusterAccess = {
    getRelay: () => relay,
    secretVersion: () => undefined,
    ownedChildren: () => [...store.values()],
    cachedChild: (kind, _ns, name) => store.get(`${kind}/${name}`),
    getLive: async () => undefined,
    apply: async (obj) => {
      applies.push(`${obj.kind}/${obj.metadata.name}`);
      await opts.applyGate;
      if (opts.failKind?.kind === obj.kind) throw Object.assign(new Error(`${obj.kind} refused`), { code: opts.failKind.code });
      const key = `${obj.kind}/${obj.metadata.name}`;
      const prev = store.get(key);
      // What the API server adds: identity, and a defaulted field nobody sent.
      const stored = structuredClone({ ...obj, metadata: { ...obj.metadata, uid: prev?.metadata.uid ?? `child-${++uid}`, resourceVersion: '7' }, defaultedByServer: true }) as KubeObject;
      store.set(key, stored);
      return stored;
    },
    applyStatus: async () => undefined,
    delete: async () => undefined,
    certManagerInstalled: async () => true,
    issuerExists: async () => !opts.issuerMissing,
    // An event write that never finishes: the reconcile must not wait for it.
    event: (_r, type, reason) => {
      events.push(`${type} ${reason}`);
      return new Promise<void>(() => undefined);
    },
  };
  const newReconciler = () =>
    new Reconciler({ cluster, secrets: new SecretFactsCache(async () => undefined), defaultImage: 'img', probeEnabled: false, logger: createLogger('test', 'error') });
  let reconciler = newReconciler();
  return {
    reconcile: () => reconciler.reconcile(`${relay.metadata.namespace}/${relay.metadata.name}`),
    restart: () => (reconciler = newReconciler()),
    store,
    applies,
    events,
  };
}

describe('reconciler child writes', () => {
  test('the first reconcile applies every child; an unchanged world applies none', async () => {
    const w = world();
    await w.reconcile();
    expect(w.applies.sort()).toEqual(['Certificate/mail', 'ConfigMap/mail-config', 'Deployment/mail', 'NetworkPolicy/mail', 'Service/mail'].sort());
    w.applies.length = 0;
    await w.reconcile();
    await w.reconcile();
    expect(w.applies).toEqual([]);
  });

  test('a child edited by hand in our fields is applied again, the others are not', async () => {
    const w = world();
    await w.reconcile();
    w.applies.length = 0;
    const deployment = w.store.get('Deployment/mail')!;
    (deployment.spec as { replicas: number }).replicas = 7;
    // A field someone else added does not count as an edit of ours.
    w.store.get('Service/mail')!.metadata.annotations = { 'example.com/note': 'hand' };
    await w.reconcile();
    expect(w.applies).toEqual(['Deployment/mail']);
  });

  test('after a restart every child is applied once more (what we applied is not remembered)', async () => {
    const w = world();
    await w.reconcile();
    w.restart();
    w.applies.length = 0;
    await w.reconcile();
    expect(w.applies).toHaveLength(5);
    w.applies.length = 0;
    await w.reconcile();
    expect(w.applies).toEqual([]);
  });

  test('children to create are applied concurrently', async () => {
    let open!: () => void;
    const w = world({ applyGate: new Promise<void>((r) => (open = r)) });
    const done = w.reconcile();
    // Every apply has started while none has finished.
    for (let i = 0; i < 50 && w.applies.length < 5; i++) await Promise.resolve();
    expect(w.applies).toHaveLength(5);
    open();
    await done;
  });

  test('an existing Deployment is held back when an earlier child cannot be applied', async () => {
    const w = world();
    await w.reconcile();
    const failing = world({ failKind: { kind: 'ConfigMap', code: 403 } });
    for (const [k, v] of w.store) failing.store.set(k, v);
    failing.store.get('ConfigMap/mail-config')!.data = { other: 'content' };
    (failing.store.get('Deployment/mail')!.spec as { replicas: number }).replicas = 7;
    // A restarted operator: it applies what came before the Deployment, then holds the Deployment.
    await failing.reconcile();
    expect(failing.applies.sort()).toEqual(['Certificate/mail', 'ConfigMap/mail-config', 'NetworkPolicy/mail', 'Service/mail']);
  });

  test('events are recorded without the reconcile waiting for them', async () => {
    const w = world({ issuerMissing: true });
    await w.reconcile();
    expect(w.events).toContain('Warning IssuerNotFound');
  });
});
