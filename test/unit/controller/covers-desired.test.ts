// coversDesired: whether a stored child already holds every field we would apply.
import { describe, expect, test } from '@jest/globals';
import { coversDesired } from '../../../src/controller/covers-desired.js';
import type { KubeObject } from '../../../src/kube/types.js';

const desired = (): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name: 'mail', namespace: 'team-a', labels: { app: 'relay' }, ownerReferences: [{ apiVersion: 'smtprelay.dev/v1alpha1', kind: 'SmtpRelay', name: 'mail', uid: 'u1', controller: true }] },
  spec: { selector: { app: 'relay' }, ports: [{ name: 'submission', port: 587, targetPort: 'submission' }] },
});

describe('coversDesired', () => {
  test('an equal object covers desired', () => {
    expect(coversDesired(desired(), desired())).toBe(true);
  });

  test('no stored object does not cover desired', () => {
    expect(coversDesired(undefined, desired())).toBe(false);
  });

  test('a changed field of ours does not cover desired', () => {
    const actual = desired();
    (actual.spec as { ports: { port: number }[] }).ports[0]!.port = 2525;
    expect(coversDesired(actual, desired())).toBe(false);
    const relabelled = desired();
    relabelled.metadata.labels = { app: 'other' };
    expect(coversDesired(relabelled, desired())).toBe(false);
  });

  test('fields set by others or by defaulting, and server metadata, still cover desired', () => {
    const actual = {
      ...desired(),
      metadata: { ...desired().metadata, uid: 'x', resourceVersion: '42', generation: 3, creationTimestamp: '2026-01-01T00:00:00Z', managedFields: [{ manager: 'other' }], labels: { app: 'relay', team: 'a' }, annotations: { note: 'hand' } },
      spec: { selector: { app: 'relay' }, type: 'ClusterIP', clusterIP: '10.0.0.1', ports: [{ name: 'submission', port: 587, targetPort: 'submission', protocol: 'TCP' }] },
      status: { loadBalancer: {} },
    } as KubeObject;
    expect(coversDesired(actual, desired())).toBe(true);
  });

  test('server metadata in desired is ignored', () => {
    const want = { ...desired(), metadata: { ...desired().metadata, resourceVersion: '1', uid: 'other', generation: 9, creationTimestamp: 'then', managedFields: [{ manager: 'x' }] } } as KubeObject;
    expect(coversDesired(desired(), want)).toBe(true);
  });

  test('a missing or extra list element does not cover desired', () => {
    const want = desired();
    (want.spec as { ports: unknown[] }).ports.push({ name: 'submissions', port: 465, targetPort: 'submissions' });
    expect(coversDesired(desired(), want)).toBe(false);
    expect(coversDesired(want, desired())).toBe(false);
  });

  test('numbers and strings are compared strictly', () => {
    const actual = desired();
    (actual.spec as { ports: { port: unknown }[] }).ports[0]!.port = '587';
    expect(coversDesired(actual, desired())).toBe(false);
  });

  test('an empty object in desired needs the key in actual', () => {
    const want = { ...desired(), spec: { ...(desired().spec as object), emptyDir: {} } } as KubeObject;
    expect(coversDesired(desired(), want)).toBe(false);
    expect(coversDesired(want, want)).toBe(true);
  });
});
