// The scale subresource of SmtpRelay (kubectl scale, HorizontalPodAutoscaler, KEDA): the CRD
// declares it, the workloads follow spec.replicas without rolling a pod, and status.selector
// (labelSelectorPath) names the relay pods and never makes the status churn.
import { describe, expect, test } from '@jest/globals';
import { buildCrd, buildUserCrd } from '../../../src/api/crd.js';
import type { JSONSchemaProps } from '../../../src/api/schema-types.js';
import { buildDeployment, buildStatefulSet, selectorString } from '../../../src/controller/builders/index.js';
import { computeStatus, type Observed } from '../../../src/controller/status.js';
import { statusWriteDecision } from '../../../src/controller/tls-health/index.js';
import { ctx, relay } from './fixtures.js';

const t0 = new Date('2026-11-28T10:00:00Z');
const observed = (replicas: number): Observed => ({
  problems: [],
  deployment: { generation: 2, observedGeneration: 2, replicas, updatedReplicas: replicas, readyReplicas: replicas, availableReplicas: replicas },
  tlsSecret: { notBefore: '2026-11-01T00:00:00Z', notAfter: '2027-02-01T00:00:00Z', fingerprint: 'ab'.repeat(32) },
  probe: { enabled: false },
});
const byo = (replicas?: number) => relay({ tls: { secretName: 'byo-tls' }, ...(replicas !== undefined ? { replicas } : {}) }, 2);

/** Parses "k=v,k2=v2" (the equality-only selectors status.selector holds). */
function parseSelector(s: string): Record<string, string> {
  return Object.fromEntries(s.split(',').map((kv) => kv.split('=') as [string, string]));
}

describe('the CRD', () => {
  const version = buildCrd().spec.versions[0]!;

  test('SmtpRelay has the scale subresource: spec.replicas, status.replicas, status.selector', () => {
    expect(version.subresources).toEqual({
      status: {},
      scale: { specReplicasPath: '.spec.replicas', statusReplicasPath: '.status.replicas', labelSelectorPath: '.status.selector' },
    });
  });

  test('every path the scale subresource names exists in the schema with the type /scale needs', () => {
    const at = (path: string) =>
      path
        .slice(1)
        .split('.')
        .reduce<JSONSchemaProps | undefined>((node, key) => node?.properties?.[key], version.schema.openAPIV3Schema);
    const scale = version.subresources.scale!;
    expect(at(scale.specReplicasPath)).toMatchObject({ type: 'integer', format: 'int32' });
    expect(at(scale.statusReplicasPath)).toMatchObject({ type: 'integer', format: 'int32' });
    // The API server reads labelSelectorPath as a string selector (metav1.LabelSelector is refused there).
    expect(at(scale.labelSelectorPath)).toMatchObject({ type: 'string' });
  });

  test('SmtpUser has no replicas, so no scale subresource', () => {
    expect(buildUserCrd().spec.versions[0]!.subresources).toEqual({ status: {} });
  });
});

describe('the workloads follow spec.replicas', () => {
  test('the Deployment takes spec.replicas (1 when unset), and its pod template does not depend on it', () => {
    expect(buildDeployment(byo(), ctx).spec!.replicas).toBe(1);
    expect(buildDeployment(byo(3), ctx).spec!.replicas).toBe(3);
    expect(buildDeployment(byo(0), ctx).spec!.replicas).toBe(0);
    // A template that changed with the count would roll every pod on each scale (HPA 1 <-> 2 included).
    const template = (n: number) => buildDeployment(byo(n), ctx).spec!.template;
    expect(template(1)).toEqual(template(2));
    expect(template(0)).toEqual(template(7));
  });

  test('the StatefulSet (Durable) takes spec.replicas, and the drain plan\'s replicas while a scale-down drains', () => {
    const durable = (n: number) => relay({ tls: { secretName: 'byo-tls' }, replicas: n, queue: { mode: 'Durable' } });
    expect(buildStatefulSet(durable(4), ctx).spec!.replicas).toBe(4);
    expect(buildStatefulSet(durable(1), { ...ctx, statefulSetReplicas: 3 }).spec!.replicas).toBe(3);
  });
});

describe('status.selector', () => {
  test('is the relay pods\' selector as a string, keys sorted, written before any pod exists', () => {
    expect(selectorString(byo())).toBe('app.kubernetes.io/instance=mail,app.kubernetes.io/name=smtp-relay');
    const s = computeStatus(byo(), { ...observed(1), deployment: undefined }, t0);
    expect(s.selector).toBe('app.kubernetes.io/instance=mail,app.kubernetes.io/name=smtp-relay');
    expect(s.replicas).toBeUndefined();
  });

  test('selects exactly what the workloads select, and every relay pod carries those labels', () => {
    const r = byo(2);
    const selector = parseSelector(computeStatus(r, observed(2), t0).selector!);
    const deployment = buildDeployment(r, ctx);
    const statefulSet = buildStatefulSet({ ...r, spec: { ...r.spec, queue: { mode: 'Durable' } } }, ctx);
    for (const w of [deployment, statefulSet]) {
      expect(w.spec!.selector.matchLabels).toEqual(selector);
      expect(w.spec!.template.metadata!.labels).toMatchObject(selector);
    }
  });

  test('status.replicas is the pods that exist (the workload\'s status), not spec.replicas', () => {
    const s = computeStatus(byo(3), observed(2), t0);
    expect(s.replicas).toBe(2);
  });

  test('never churns: recomputed from what it wrote, the same status is not written again', () => {
    const first = computeStatus(byo(3), observed(3), t0);
    const again = computeStatus({ ...byo(3), status: first }, observed(3), new Date(t0.getTime() + 60_000));
    expect(statusWriteDecision(first, again)).toEqual({ write: false });
  });

  test('a status written before the selector existed gets it in one write, then none', () => {
    const old = computeStatus(byo(3), observed(3), t0);
    delete old.selector;
    const next = computeStatus({ ...byo(3), status: old }, observed(3), t0);
    expect(statusWriteDecision(old, next)).toEqual({ write: true, why: 'changed' });
    expect(statusWriteDecision(next, computeStatus({ ...byo(3), status: next }, observed(3), t0))).toEqual({ write: false });
  });
});
