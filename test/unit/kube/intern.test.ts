// The interner behind the informer caches (src/kube/intern.ts). Sharing itself is not observable
// from JavaScript (=== compares strings by value); what is: values never change, an object's
// own identity strings stay out of the table, long strings too, and the table stays bounded.
// The memory it saves is measured by the operator bench (docs/benchmarks.md).
import { describe, expect, test } from '@jest/globals';
import { StringInterner } from '../../../src/kube/intern.js';

const deployment = (name: string, uid: string) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: {
    name,
    namespace: 'team-a',
    uid,
    resourceVersion: `rv-${uid}`,
    creationTimestamp: '2026-12-01T23:00:00Z',
    generation: 3,
    labels: { 'app.kubernetes.io/name': 'smtp-relay', 'app.kubernetes.io/instance': name },
    ownerReferences: [{ apiVersion: 'smtprelay.dev/v1alpha1', kind: 'SmtpRelay', name, uid: `owner-${uid}`, controller: true }],
  },
  spec: { replicas: 2, template: { spec: { containers: [{ name: 'relay', image: 'ghcr.io/x/relay:1.0', args: ['--config=/etc/relay/relay.json'] }] } } },
  status: { replicas: 2, availableReplicas: 2 },
});

describe('StringInterner', () => {
  test('an interned object is deep-equal to what went in, numbers and booleans included', () => {
    const i = new StringInterner();
    const a = deployment('mail', 'u1');
    expect(i.object(structuredClone(a))).toEqual(a);
    expect(i.object({ spec: ['x', { y: ['z', 1, null, true] }] })).toEqual({ spec: ['x', { y: ['z', 1, null, true] }] });
  });

  test("the object's own uid, resourceVersion and timestamps stay out of the table; names, labels and owner references go in", () => {
    const i = new StringInterner();
    i.object(deployment('mail', 'u1'));
    const after1 = i.size;
    // A second relay: only its own name and owner uid are new strings (its uid and resourceVersion are skipped).
    i.object(deployment('other', 'u2'));
    expect(i.size - after1).toBe(2);
    // The same object again adds nothing.
    i.object(deployment('other', 'u2'));
    expect(i.size - after1).toBe(2);
  });

  test('strings longer than the limit are left out of the table', () => {
    const i = new StringInterner(100, 16);
    i.object({ spec: { short: 'smtp-relay', long: 'x'.repeat(17) } });
    expect(i.size).toBe(1);
  });

  test('the table is bounded: past maxEntries it starts over', () => {
    const i = new StringInterner(10);
    for (let n = 0; n < 25; n++) i.string(`s-${n}`);
    expect(i.size).toBeLessThanOrEqual(10);
    expect(i.string('s-24')).toBe('s-24');
  });
});
