// Events against the real API server: aggregation into series.count, separate
// Events for different notes, errors reported and never thrown.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { KubeConfig } from '@kubernetes/client-node';
import { applyObject, listObjects } from '../../../src/kube/apply.js';
import { createEventRecorder, REPORTING_CONTROLLER } from '../../../src/kube/events.js';
import type { KubeObject } from '../../../src/kube/types.js';
import { createTestNamespace, kubeConfig, type TestNamespace } from '../../harness/kube.js';

const T = 30_000;

interface EventObj extends KubeObject {
  reason: string;
  note: string;
  type: string;
  action: string;
  reportingController: string;
  reportingInstance: string;
  regarding: { kind: string; name: string; uid?: string };
  series?: { count: number; lastObservedTime: string };
}

describe('event recorder (shared control plane)', () => {
  let kc: KubeConfig;
  let ns: TestNamespace;
  let subject: KubeObject;

  beforeAll(async () => {
    kc = kubeConfig();
    ns = await createTestNamespace('kube-events');
    subject = await applyObject(kc, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'subject', namespace: ns.name }, data: {} }, { fieldManager: 'events-test' });
  }, T);
  afterAll(async () => {
    await ns?.cleanup();
  }, T);

  const events = async () => listObjects<EventObj>(kc, { apiVersion: 'events.k8s.io/v1', kind: 'Event', namespace: ns.name });

  test('the same event three times is one Event with series.count 3; another note is another Event', async () => {
    const errors: unknown[] = [];
    const rec = createEventRecorder({ kc, reportingInstance: 'test-replica-1', onError: (e) => errors.push(e) });
    // A burst, not awaited one by one: aggregation must hold under concurrency too.
    await Promise.all([1, 2, 3].map(() => rec.warning(subject, 'SecretNotFound', 'Secret smtp-auth does not exist; create it.')));
    await rec.normal(subject, 'Reconciled', 'All children are up to date.');
    expect(errors).toEqual([]);

    const all = await events();
    const missing = all.filter((e) => e.reason === 'SecretNotFound');
    expect(missing).toHaveLength(1);
    expect(missing[0]).toMatchObject({
      type: 'Warning',
      note: 'Secret smtp-auth does not exist; create it.',
      action: 'Reconcile',
      reportingController: REPORTING_CONTROLLER,
      reportingInstance: 'test-replica-1',
      regarding: { kind: 'ConfigMap', name: 'subject', uid: subject.metadata.uid },
      series: { count: 3 },
    });
    expect(all.filter((e) => e.reason === 'Reconciled')).toHaveLength(1);
    expect(all.find((e) => e.reason === 'Reconciled')?.series).toBeUndefined();
  }, T);

  test('a private key in a note never reaches the API server', async () => {
    const rec = createEventRecorder({ kc, reportingInstance: 'test-replica-1' });
    await rec.warning(subject, 'BadInput', 'got -----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY----- instead of a certificate');
    const ev = (await events()).find((e) => e.reason === 'BadInput');
    expect(ev?.note).toBe('got [redacted private key] instead of a certificate');
  }, T);

  test('write failures are reported, never thrown', async () => {
    const errors: unknown[] = [];
    const rec = createEventRecorder({ kc, reportingInstance: 'x', onError: (e) => errors.push(e) });
    const ghost = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'ghost', namespace: 'no-such-namespace-kube-events' } };
    await expect(rec.normal(ghost, 'Reconciled', 'fine')).resolves.toBeUndefined();
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ code: 404 });
    await expect(rec.normal(subject, 'not camel case', 'x')).resolves.toBeUndefined();
    expect(String(errors[1])).toMatch(/CamelCase/);
  }, T);
});
