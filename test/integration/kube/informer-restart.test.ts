// The informer survives its API server: a restart (reconnect with backoff,
// resume from the last resourceVersion) and 410 Gone (relist, emitting the
// difference). Uses a private control plane, since it restarts kube-apiserver.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { KubeConfig } from '@kubernetes/client-node';
import { applyObject, deleteObject } from '../../../src/kube/apply.js';
import { createInformer, type KubeInformer } from '../../../src/kube/informer.js';
import type { KubeObject } from '../../../src/kube/types.js';
import { startControlPlane, type ControlPlane } from '../../harness/controlplane.js';
import { kubeConfig, waitFor } from '../../harness/kube.js';

const FM = { fieldManager: 'kube-restart-test' };
const cm = (name: string, v: string): KubeObject => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'default' }, data: { v } });

describe('informer across API server restarts (private control plane)', () => {
  let cp: ControlPlane;
  let kc: KubeConfig;
  let inf: KubeInformer;
  const events: string[] = [];

  beforeAll(async () => {
    cp = await startControlPlane({ certManager: false, installCrds: false });
    kc = kubeConfig(cp.kubeconfigPath);
    inf = createInformer(kc, { apiVersion: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespace: 'default', backoffInitialMs: 200, backoffMaxMs: 1000 });
    inf.on('add', (o) => events.push(`add ${o.metadata.name}`));
    inf.on('update', (o) => events.push(`update ${o.metadata.name}`));
    inf.on('delete', (o) => events.push(`delete ${o.metadata.name}`));
  }, 120_000);
  afterAll(async () => {
    inf?.stop();
    await cp?.stop();
  }, 60_000);

  test('keeps watching after kube-apiserver restarts', async () => {
    await applyObject(kc, cm('one', '1'), FM);
    await inf.start();
    expect(inf.get('default', 'one')).toBeDefined();
    const errorsBefore = inf.stats().errors;

    await cp.restartApiServer(1000);
    await applyObject(kc, cm('two', '1'), FM);
    await applyObject(kc, cm('one', '2'), FM);
    await waitFor(() => inf.get('default', 'two') && (inf.get('default', 'one') as { data?: { v?: string } }).data?.v === '2', {
      description: 'changes made after the restart to reach the cache',
      timeoutMs: 30_000,
    });
    expect(inf.stats().errors).toBeGreaterThan(errorsBefore); // it did lose the server and reconnected
    expect(events).toEqual(expect.arrayContaining(['add two', 'update one']));
  }, 90_000);

  test('relists on 410 Gone and emits the difference', async () => {
    // Stop watching; change things; restart the API server so its fresh watch
    // cache no longer holds our resourceVersion; then resume.
    inf.stop();
    const listsBefore = inf.stats().lists;
    events.length = 0;
    await applyObject(kc, cm('three', '1'), FM);
    await applyObject(kc, cm('one', '3'), FM);
    await deleteObject(kc, { apiVersion: 'v1', kind: 'ConfigMap', namespace: 'default', name: 'two' });
    await cp.restartApiServer(0);

    await inf.start();
    await waitFor(() => inf.get('default', 'three') && !inf.get('default', 'two'), { description: 'the cache to match the server again', timeoutMs: 30_000 });
    expect(inf.stats().gone).toBeGreaterThanOrEqual(1);
    expect(inf.stats().lists).toBeGreaterThan(listsBefore);
    expect(events.sort()).toEqual(['add three', 'delete two', 'update one']);
    expect((inf.get('default', 'one') as { data?: { v?: string } }).data?.v).toBe('3');
  }, 90_000);
});
