// The informer against the shared real API server: events, metadata-only
// Secrets, indexes, owner mapping, re-watch after the server ends a watch, resync.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { KubeConfig } from '@kubernetes/client-node';
import { applyObject, createObject, deleteObject } from '../../../src/kube/apply.js';
import { controllerOwnerKey, createIndex, createInformer, type KubeInformer } from '../../../src/kube/informer.js';
import type { KubeObject } from '../../../src/kube/types.js';
import { createTestNamespace, kubeConfig, waitFor, type TestNamespace } from '../../harness/kube.js';

const FM = { fieldManager: 'kube-informer-test' };
const T = 30_000;

function configMap(ns: string, name: string, data: Record<string, string>, extra: Partial<KubeObject['metadata']> = {}): KubeObject {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: ns, ...extra }, data };
}

describe('informer (shared control plane)', () => {
  let kc: KubeConfig;
  let ns: TestNamespace;
  const informers: KubeInformer[] = [];
  const track = <I extends KubeInformer>(i: I): I => (informers.push(i), i);

  beforeAll(async () => {
    kc = kubeConfig();
    ns = await createTestNamespace('kube-informer');
  }, T);
  afterAll(async () => {
    for (const i of informers) i.stop();
    await ns?.cleanup();
  }, T);

  test('sees add, update and delete, with the old object on update', async () => {
    await applyObject(kc, configMap(ns.name, 'before', { a: '1' }), FM);
    const inf = track(createInformer(kc, { apiVersion: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespace: ns.name }));
    const events: string[] = [];
    inf.on('add', (o) => events.push(`add ${o.metadata.name}`));
    inf.on('update', (o, old) => events.push(`update ${o.metadata.name} ${String((old as { data?: Record<string, string> })?.data?.a)}->${String((o as { data?: Record<string, string> }).data?.a)}`));
    inf.on('delete', (o) => events.push(`delete ${o.metadata.name}`));
    await inf.start();
    expect(inf.hasSynced()).toBe(true);
    expect(events).toEqual(['add before']); // the initial list
    expect(inf.get(ns.name, 'before')?.kind).toBe('ConfigMap');

    await applyObject(kc, configMap(ns.name, 'cm1', { a: '1' }), FM);
    await waitFor(() => inf.get(ns.name, 'cm1'), { description: 'cm1 in the cache' });
    await applyObject(kc, configMap(ns.name, 'cm1', { a: '2' }), FM);
    await waitFor(() => events.includes('update cm1 1->2'), { description: 'update event for cm1' });
    await deleteObject(kc, { apiVersion: 'v1', kind: 'ConfigMap', namespace: ns.name, name: 'cm1' });
    await waitFor(() => events.includes('delete cm1'), { description: 'delete event for cm1' });
    expect(inf.get(ns.name, 'cm1')).toBeUndefined();
    expect(events).toEqual(['add before', 'add cm1', 'update cm1 1->2', 'delete cm1']);
    expect(inf.list(ns.name).map((o) => o.metadata.name)).toEqual(['before']);
  }, T);

  test('a metadata-only Secret informer never holds secret data, and sees changes', async () => {
    await createObject(kc, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's1', namespace: ns.name }, stringData: { password: 'hunter2-not-in-cache' } });
    const inf = track(createInformer(kc, { apiVersion: 'v1', kind: 'Secret', plural: 'secrets', namespace: ns.name, metadataOnly: true }));
    const seen: KubeObject[] = [];
    inf.on('add', (o) => seen.push(o));
    inf.on('update', (o) => seen.push(o));
    await inf.start();
    await applyObject(kc, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's2', namespace: ns.name }, stringData: { token: 'also-secret' } } as KubeObject, FM);
    await waitFor(() => inf.get(ns.name, 's2'), { description: 's2 in the metadata cache' });
    const s1 = inf.get(ns.name, 's1')!;
    expect(s1.metadata.uid).toBeTruthy();
    expect(s1.metadata.resourceVersion).toBeTruthy();
    for (const obj of [...inf.list(), ...seen]) {
      expect(obj).not.toHaveProperty('data');
      expect(obj).not.toHaveProperty('stringData');
      expect(JSON.stringify(obj)).not.toMatch(/hunter2|also-secret|aHVudGVyM|YWxzby1zZWNyZXQ/);
    }
  }, T);

  test('cached objects leave out metadata.managedFields (from the list and from the watch) unless asked to keep them', async () => {
    await applyObject(kc, configMap(ns.name, 'mf-listed', { a: '1' }, { labels: { 'mf-test': 'yes' } }), FM);
    const opts = { apiVersion: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespace: ns.name, labelSelector: 'mf-test=yes' };
    const stripped = track(createInformer(kc, opts));
    const kept = track(createInformer(kc, { ...opts, stripManagedFields: false }));
    await Promise.all([stripped.start(), kept.start()]);
    await applyObject(kc, configMap(ns.name, 'mf-watched', { a: '1' }, { labels: { 'mf-test': 'yes' } }), FM);
    await waitFor(() => stripped.get(ns.name, 'mf-watched') && kept.get(ns.name, 'mf-watched'), { description: 'mf-watched in both caches' });
    for (const name of ['mf-listed', 'mf-watched']) {
      const obj = stripped.get(ns.name, name)!;
      expect(obj.metadata).not.toHaveProperty('managedFields');
      expect(obj.metadata.resourceVersion).toBeTruthy();
      expect(obj.metadata.labels).toEqual({ 'mf-test': 'yes' });
      expect(kept.get(ns.name, name)!.metadata.managedFields).toContainEqual(expect.objectContaining({ manager: FM.fieldManager }));
    }
  }, T);

  test('a transform cuts every object down before it is cached and handed to handlers (from the list and from the watch), seeing managedFields', async () => {
    await applyObject(kc, configMap(ns.name, 'tf-listed', { a: '1', big: 'x'.repeat(4096) }, { labels: { 'tf-test': 'yes' } }), FM);
    const managers: string[] = [];
    const inf = track(
      createInformer(kc, {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        plural: 'configmaps',
        namespace: ns.name,
        labelSelector: 'tf-test=yes',
        transform: (o) => {
          managers.push(...((o.metadata.managedFields ?? []) as { manager: string }[]).map((m) => m.manager));
          return { apiVersion: o.apiVersion, kind: o.kind, metadata: { name: o.metadata.name, namespace: o.metadata.namespace, resourceVersion: o.metadata.resourceVersion }, data: { a: (o as unknown as { data: { a: string } }).data.a } };
        },
      }),
    );
    const handed: KubeObject[] = [];
    inf.on('add', (o) => handed.push(o));
    inf.on('update', (o) => handed.push(o));
    await inf.start();
    await applyObject(kc, configMap(ns.name, 'tf-watched', { a: '2', big: 'y'.repeat(4096) }, { labels: { 'tf-test': 'yes' } }), FM);
    await applyObject(kc, configMap(ns.name, 'tf-listed', { a: '3', big: 'x'.repeat(4096) }, { labels: { 'tf-test': 'yes' } }), FM);
    await waitFor(() => inf.get(ns.name, 'tf-watched') && (inf.get(ns.name, 'tf-listed') as { data?: { a?: string } })?.data?.a === '3', { description: 'the watched add and update' });
    const expected = (name: string, a: string) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: ns.name, resourceVersion: expect.any(String) }, data: { a } });
    expect(inf.get(ns.name, 'tf-listed')).toEqual(expected('tf-listed', '3'));
    expect(inf.get(ns.name, 'tf-watched')).toEqual(expected('tf-watched', '2'));
    expect(inf.list()).toHaveLength(2);
    for (const o of handed) expect(Object.keys(o).sort()).toEqual(['apiVersion', 'data', 'kind', 'metadata']);
    expect(handed.length).toBeGreaterThanOrEqual(3);
    expect(managers).toContain(FM.fieldManager);
  }, T);

  test('a cluster-wide informer lists one namespace from its namespace map: added, moved between index values, deleted', async () => {
    const other = await createTestNamespace('kube-informer-b');
    try {
      const inf = track(createInformer(kc, { apiVersion: 'v1', kind: 'ConfigMap', plural: 'configmaps', labelSelector: 'ns-test=yes' }));
      await inf.start();
      const labels = { 'ns-test': 'yes' };
      for (const [n, name] of [[ns.name, 'a1'], [ns.name, 'a2'], [other.name, 'b1']] as const) await applyObject(kc, configMap(n, name, {}, { labels }), FM);
      await waitFor(() => inf.list().length === 3, { description: 'three labelled ConfigMaps in two namespaces' });
      expect(inf.list(ns.name).map((o) => o.metadata.name).sort()).toEqual(['a1', 'a2']);
      expect(inf.list(other.name).map((o) => o.metadata.name)).toEqual(['b1']);
      expect(inf.list('no-such-namespace')).toEqual([]);
      // An update replaces the cached object in its namespace's list.
      await applyObject(kc, configMap(ns.name, 'a1', { v: '2' }, { labels }), FM);
      await waitFor(() => (inf.list(ns.name).find((o) => o.metadata.name === 'a1') as { data?: Record<string, string> } | undefined)?.data?.v === '2', { description: 'a1 updated in its namespace list' });
      expect(inf.list(ns.name)).toHaveLength(2);
      await deleteObject(kc, { apiVersion: 'v1', kind: 'ConfigMap', namespace: other.name, name: 'b1' });
      await waitFor(() => inf.list(other.name).length === 0, { description: 'b1 gone from its namespace list' });
      expect(inf.list().map((o) => o.metadata.name).sort()).toEqual(['a1', 'a2']);
    } finally {
      await other.cleanup();
    }
  }, T);

  test('an index maps a referenced name to the objects that reference it; owner keys map children', async () => {
    const inf = track(createInformer(kc, { apiVersion: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespace: ns.name, labelSelector: 'idx-test=yes' }));
    const bySecret = createIndex(inf, 'secret', (o) => {
      const ref = o.metadata.annotations?.['example/secret'];
      return ref ? [`${o.metadata.namespace}/${ref}`] : [];
    });
    await inf.start();
    await applyObject(kc, configMap(ns.name, 'user-a', {}, { labels: { 'idx-test': 'yes' }, annotations: { 'example/secret': 'shared' } }), FM);
    await applyObject(kc, configMap(ns.name, 'user-b', {}, { labels: { 'idx-test': 'yes' }, annotations: { 'example/secret': 'shared' } }), FM);
    await applyObject(kc, configMap(ns.name, 'user-c', {}, { labels: { 'idx-test': 'yes' }, annotations: { 'example/secret': 'other' } }), FM);
    await waitFor(() => inf.list().length === 3, { description: 'three labelled ConfigMaps' });
    expect(bySecret(`${ns.name}/shared`).map((o) => o.metadata.name).sort()).toEqual(['user-a', 'user-b']);
    // An update moves the object between index values.
    await applyObject(kc, configMap(ns.name, 'user-b', {}, { labels: { 'idx-test': 'yes' }, annotations: { 'example/secret': 'other' } }), FM);
    await waitFor(() => bySecret(`${ns.name}/shared`).length === 1, { description: 'user-b to leave the shared index entry' });
    expect(inf.byIndex('secret', `${ns.name}/other`).map((o) => o.metadata.name).sort()).toEqual(['user-b', 'user-c']);

    const owner = inf.get(ns.name, 'user-a')!;
    const child = configMap(ns.name, 'child', {}, {
      ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'user-a', uid: owner.metadata.uid!, controller: true }],
    });
    expect(controllerOwnerKey(child, 'ConfigMap')).toBe(`${ns.name}/user-a`);
    expect(controllerOwnerKey(child, 'SmtpRelay')).toBeUndefined();

    // The last object under a value leaves it: nothing is found there, the other values keep theirs.
    await deleteObject(kc, { apiVersion: 'v1', kind: 'ConfigMap', namespace: ns.name, name: 'user-a' });
    await waitFor(() => bySecret(`${ns.name}/shared`).length === 0, { description: 'user-a deleted from the index' });
    expect(bySecret(`${ns.name}/other`).map((o) => o.metadata.name).sort()).toEqual(['user-b', 'user-c']);
    // Made again under another value, it is found there only (a stale entry would put it back under the old one).
    await applyObject(kc, configMap(ns.name, 'user-a', {}, { labels: { 'idx-test': 'yes' }, annotations: { 'example/secret': 'third' } }), FM);
    await waitFor(() => bySecret(`${ns.name}/third`).length === 1, { description: 'user-a made again under "third"' });
    expect(bySecret(`${ns.name}/shared`)).toEqual([]);
    await deleteObject(kc, { apiVersion: 'v1', kind: 'ConfigMap', namespace: ns.name, name: 'user-a' });
    await waitFor(() => bySecret(`${ns.name}/third`).length === 0, { description: 'user-a deleted again' });
    // An index added to a full cache indexes what is cached, an object under several values included.
    const byTwo = createIndex(inf, 'two-values', (o) => [o.metadata.annotations?.['example/secret'] ?? 'none', 'every']);
    expect(byTwo('every').map((o) => o.metadata.name).sort()).toEqual(['user-b', 'user-c']);
    await deleteObject(kc, { apiVersion: 'v1', kind: 'ConfigMap', namespace: ns.name, name: 'user-c' });
    await waitFor(() => byTwo('every').length === 1, { description: 'user-c deleted from the two-valued index' });
    expect(byTwo('every').map((o) => o.metadata.name)).toEqual(['user-b']);
    expect(byTwo('other').map((o) => o.metadata.name)).toEqual(['user-b']);
    expect(bySecret(`${ns.name}/other`).map((o) => o.metadata.name)).toEqual(['user-b']);
  }, T);

  test('re-watches after the server ends the watch (timeoutSeconds) and keeps seeing changes', async () => {
    const inf = track(createInformer(kc, { apiVersion: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespace: ns.name, watchTimeoutSeconds: 1 }));
    await inf.start();
    const watchesAtStart = inf.stats().watches;
    await waitFor(() => inf.stats().watches >= watchesAtStart + 2, { description: 'the informer to open new watches after the server closed them', timeoutMs: 15_000 });
    await applyObject(kc, configMap(ns.name, 'after-rewatch', { a: '1' }), FM);
    await waitFor(() => inf.get(ns.name, 'after-rewatch'), { description: 'after-rewatch in the cache' });
    expect(inf.stats().lists).toBe(1); // a re-watch, not a relist
    expect(inf.stats().errors).toBe(0);
  }, T);

  test('resync emits update for every cached object', async () => {
    const inf = track(createInformer(kc, { apiVersion: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespace: ns.name, resyncMs: 300 }));
    const resynced = new Map<string, number>();
    inf.on('update', (o, old) => {
      if (old === o) resynced.set(o.metadata.name, (resynced.get(o.metadata.name) ?? 0) + 1);
    });
    await inf.start();
    const names = inf.list().map((o) => o.metadata.name);
    expect(names.length).toBeGreaterThan(0);
    await waitFor(() => names.every((n) => (resynced.get(n) ?? 0) >= 2), { description: 'two resyncs of every cached ConfigMap', timeoutMs: 10_000 });
  }, T);

  test('errors (no such resource) go to onError and the informer keeps retrying without syncing', async () => {
    const inf = track(createInformer(kc, { apiVersion: 'example.invalid/v1', kind: 'Nope', plural: 'nopes', backoffInitialMs: 50, backoffMaxMs: 100 }));
    const errors: unknown[] = [];
    inf.onError((e) => errors.push(e));
    void inf.start();
    await waitFor(() => errors.length >= 2, { description: 'two reported errors' });
    expect(inf.hasSynced()).toBe(false);
    expect(errors[0]).toMatchObject({ code: 404 });
    inf.stop();
  }, T);
});
