// The operator against the real control plane, with a relay that brings its own
// TLS Secret: children with owner references under our field manager, status
// progressing to Ready, spec changes, self-healing of deleted and edited
// children, and Stalled/SecretNotFound healing without a restart.
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { FIELD_MANAGER } from '../../../src/controller/builders/index.js';
import type { OperatorHandle } from '../../../src/controller/operator.js';
import { createTestNamespace, kubectl, waitFor, type TestNamespace } from '../../harness/kube.js';
import { SIM_DEPLOYMENT_STATUS } from '../../harness/simulated.js';
import {
  applyRelay,
  condition,
  createTlsSecret,
  createUsersSecret,
  eventsFor,
  getChild,
  getRelay,
  kubectlOk,
  relayManifest,
  runOperatorInProcess,
  simulateDeploymentAvailable,
} from './helpers.js';

jest.setTimeout(60_000);

let ns: TestNamespace;
let operator: OperatorHandle;

beforeAll(async () => {
  ns = await createTestNamespace('op-lifecycle');
  await createUsersSecret(ns.name);
  operator = await runOperatorInProcess(ns.name);
});

/** Prints how many reconciles an operator ran and their mean duration (a figure for the report). */
async function reportReconciles(op: OperatorHandle, label: string): Promise<void> {
  const h = (await op.metrics.reconcileDuration.get()).values;
  const sum = h.find((v) => v.metricName?.endsWith('_sum'))?.value ?? 0;
  const count = h.find((v) => v.metricName?.endsWith('_count'))?.value ?? 0;
  process.stdout.write(`RECONCILE ${label}: ${count} reconciles, mean ${count ? ((sum / count) * 1000).toFixed(1) : '-'} ms\n`);
}

afterAll(async () => {
  if (operator) await reportReconciles(operator, 'lifecycle suite, operator after restart');
  await operator?.stop();
  await ns?.cleanup();
});

const managers = (obj: { metadata: { managedFields?: unknown[] } } | undefined) =>
  ((obj?.metadata.managedFields ?? []) as { manager: string; operation: string }[]).filter((m) => m.operation === 'Apply').map((m) => m.manager);

describe('a relay with its own TLS Secret', () => {
  const name = 'byo';

  test(`gets its children with owner references under our field manager, and becomes Ready ${SIM_DEPLOYMENT_STATUS}`, async () => {
    await createTlsSecret(ns.name, 'byo-cert', 'byo.example.test');
    const created = Date.now();
    await applyRelay(relayManifest(ns.name, name, { tls: { secretName: 'byo-cert' } }));

    const relay = await waitFor(async () => {
      const r = await getRelay(ns.name, name);
      return r?.status?.observedGeneration === 1 ? r : undefined;
    }, { description: 'the first status', timeoutMs: 20_000, intervalMs: 100 });
    const firstStatusMs = Date.now() - created;
    for (const [kind, apiVersion, child] of [['ConfigMap', 'v1', 'byo-config'], ['Service', 'v1', 'byo'], ['Deployment', 'apps/v1', 'byo']] as const) {
      const obj = await getChild(kind, apiVersion, ns.name, child);
      expect(obj).toBeDefined();
      expect(obj!.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'SmtpRelay', name, uid: relay.metadata.uid, controller: true, blockOwnerDeletion: true })]);
      expect(managers(obj)).toEqual([FIELD_MANAGER]);
    }
    expect(await getChild('PodDisruptionBudget', 'policy/v1', ns.name, name)).toBeUndefined();
    // No pods run here yet: the relay is progressing, not stalled.
    expect(condition(relay, 'Ready')).toMatchObject({ status: 'False' });
    expect(condition(relay, 'Reconciling')).toMatchObject({ status: 'True' });
    expect(condition(relay, 'Stalled')).toMatchObject({ status: 'False' });
    expect(condition(relay, 'CertificateReady')).toMatchObject({ status: 'True', reason: 'CertificateValid' });
    expect(relay.status?.certificate?.fingerprint).toMatch(/^[0-9a-f]{64}$/);

    const simulated = Date.now();
    await simulateDeploymentAvailable(ns.name, name);
    const ready = await waitFor(async () => {
      const r = await getRelay(ns.name, name);
      return condition(r, 'Ready')?.status === 'True' ? r : undefined;
    }, { description: 'Ready=True', timeoutMs: 20_000, intervalMs: 50 });
    const readyAfterAvailableMs = Date.now() - simulated;
    expect(condition(ready, 'Available')).toMatchObject({ status: 'True', reason: 'MinimumReplicasAvailable' });
    expect(condition(ready, 'TLSHealthy')).toMatchObject({ status: 'Unknown', reason: 'NotProbed' });
    process.stdout.write(`LATENCY create->first status: ${firstStatusMs} ms; deployment available->Ready: ${readyAfterAvailableMs} ms\n`);

    const waited = await kubectl(['-n', ns.name, 'wait', '--for=condition=Ready', `smtprelay/${name}`, '--timeout=10s']);
    expect(waited.code).toBe(0);
    const table = await kubectlOk(['-n', ns.name, 'get', 'smtprelays', '-o', 'wide']);
    const [header, row] = table.trim().split('\n');
    expect(header).toMatch(/NAME\s+HOSTNAME\s+READY\s+TLS\s+QUEUE\s+CERT EXPIRY\s+AGE\s+REASON\s+REPLICAS/);
    expect(row).toMatch(/^byo\s+byo\.example\.test\s+True\s+Unknown\s+PassThrough\s+\S+\s+\S+\s+Ready\s+1/);
    expect((await eventsFor(ns.name, name)).map((e) => e.reason)).toContain('Ready');
  });

  test('its pods pass the restricted Pod Security Standard (real PodSecurity admission)', async () => {
    const restricted = await createTestNamespace('op-restricted', { labels: { 'pod-security.kubernetes.io/enforce': 'restricted', 'pod-security.kubernetes.io/enforce-version': 'latest' } });
    try {
      const d = await getChild('Deployment', 'apps/v1', ns.name, name);
      const template = (d!.spec as { template: { metadata: object; spec: object } }).template;
      const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { ...template.metadata, name: 'psa-check', namespace: restricted.name }, spec: template.spec };
      const r = await kubectl(['create', '--dry-run=server', '-f', '-'], { input: JSON.stringify(pod) });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      // The check has teeth: the same pod with privilege escalation allowed is refused.
      const spec = structuredClone(template.spec) as { containers: { securityContext: Record<string, unknown> }[] };
      spec.containers[0]!.securityContext.allowPrivilegeEscalation = true;
      const bad = await kubectl(['create', '--dry-run=server', '-f', '-'], { input: JSON.stringify({ ...pod, spec }) });
      expect(bad.code).not.toBe(0);
      expect(bad.stderr).toMatch(/violates PodSecurity "restricted/);
    } finally {
      await restricted.cleanup();
    }
  });

  test(`a Ready relay at rest is not reconciled again and again (no hot loop) ${SIM_DEPLOYMENT_STATUS}`, async () => {
    const total = async () => (await operator.metrics.reconcileTotal.get()).values.reduce((sum, v) => sum + v.value, 0);
    await new Promise((r) => setTimeout(r, 500)); // let the last status write's echo settle
    const before = await total();
    await new Promise((r) => setTimeout(r, 3000));
    expect((await total()) - before).toBeLessThanOrEqual(1);
  });

  test(`a spec change updates the children and observedGeneration; scaling adds and prunes the PDB ${SIM_DEPLOYMENT_STATUS}`, async () => {
    const before = await getChild('Deployment', 'apps/v1', ns.name, name);
    await kubectlOk(['-n', ns.name, 'patch', 'smtprelay', name, '--type=merge', '-p', JSON.stringify({ spec: { replicas: 2, hostname: 'mail2.example.test' } })]);
    const relay = await waitFor(async () => {
      const r = await getRelay(ns.name, name);
      return r?.status?.observedGeneration === 2 ? r : undefined;
    }, { description: 'observedGeneration 2', timeoutMs: 20_000, intervalMs: 100 });
    expect(relay.status!.conditions!.every((c) => c.observedGeneration === 2)).toBe(true);
    const after = await getChild('Deployment', 'apps/v1', ns.name, name);
    expect((after!.spec as { replicas: number }).replicas).toBe(2);
    const checksum = (d: typeof after) => (d!.spec as { template: { metadata: { annotations: Record<string, string> } } }).template.metadata.annotations['smtprelay.dev/config-checksum'];
    expect(checksum(after)).not.toBe(checksum(before)); // the hostname is in the config: pods roll
    const cm = await getChild('ConfigMap', 'v1', ns.name, 'byo-config');
    expect(JSON.parse((cm!.data as Record<string, string>)['relay.json']!).hostname).toBe('mail2.example.test');
    await waitFor(() => getChild('PodDisruptionBudget', 'policy/v1', ns.name, name), { description: 'PDB created', timeoutMs: 10_000 });
    // The new template is not rolled out yet: Reconciling, not Ready.
    expect(condition(relay, 'Ready')?.status).toBe('False');

    await kubectlOk(['-n', ns.name, 'patch', 'smtprelay', name, '--type=merge', '-p', JSON.stringify({ spec: { replicas: 1 } })]);
    await waitFor(async () => (await getChild('PodDisruptionBudget', 'policy/v1', ns.name, name)) === undefined, { description: 'PDB pruned', timeoutMs: 10_000 });
    await simulateDeploymentAvailable(ns.name, name);
    await waitFor(async () => condition(await getRelay(ns.name, name), 'Ready')?.status === 'True', { description: 'Ready again', timeoutMs: 20_000 });
  });

  test('a child deleted by hand is recreated', async () => {
    const old = await getChild('Service', 'v1', ns.name, name);
    await kubectlOk(['-n', ns.name, 'delete', 'service', name]);
    const recreated = await waitFor(async () => {
      const svc = await getChild('Service', 'v1', ns.name, name);
      return svc && svc.metadata.uid !== old!.metadata.uid ? svc : undefined;
    }, { description: 'Service recreated', timeoutMs: 10_000, intervalMs: 100 });
    expect((recreated.spec as { ports: { name: string; port: number }[] }).ports.map((p) => [p.name, p.port])).toEqual([['submission', 587], ['submissions', 465]]);
  });

  test('a child edited by hand gets our fields back; fields of other managers survive', async () => {
    // Someone else adds a label and changes a field we own.
    await kubectlOk(['-n', ns.name, 'label', 'configmap', 'byo-config', 'team=payments']);
    await kubectlOk(['-n', ns.name, 'patch', 'configmap', 'byo-config', '--type=merge', '-p', JSON.stringify({ data: { 'relay.json': '{"tampered":true}' } })]);
    const restored = await waitFor(async () => {
      const cm = await getChild('ConfigMap', 'v1', ns.name, 'byo-config');
      const json = (cm?.data as Record<string, string> | undefined)?.['relay.json'] ?? '';
      return json.includes('mail2.example.test') ? cm : undefined;
    }, { description: 'ConfigMap data restored', timeoutMs: 10_000, intervalMs: 100 });
    expect(restored.metadata.labels?.team).toBe('payments');
    expect(restored.metadata.labels?.['app.kubernetes.io/managed-by']).toBe('smtp-relay-operator');
  });

  test(`a deleted TLS Secret stalls the relay with SecretNotFound and an Event; recreating it heals without a restart ${SIM_DEPLOYMENT_STATUS}`, async () => {
    await kubectlOk(['-n', ns.name, 'delete', 'secret', 'byo-cert']);
    const stalled = await waitFor(async () => {
      const r = await getRelay(ns.name, name);
      return condition(r, 'Stalled')?.status === 'True' ? r : undefined;
    }, { description: 'Stalled=True', timeoutMs: 10_000, intervalMs: 100 });
    expect(condition(stalled, 'Stalled')).toMatchObject({ reason: 'SecretNotFound' });
    expect(condition(stalled, 'Stalled')!.message).toMatch(/Secret byo-cert .* was not found .* Create it/);
    expect(condition(stalled, 'Ready')).toMatchObject({ status: 'False', reason: 'SecretNotFound' });
    const events = await waitFor(async () => {
      const list = await eventsFor(ns.name, name);
      return list.some((e) => e.reason === 'SecretNotFound' && e.type === 'Warning') ? list : undefined;
    }, { description: 'a SecretNotFound Warning event', timeoutMs: 10_000 });
    expect(events.length).toBeGreaterThan(0);

    await createTlsSecret(ns.name, 'byo-cert', 'mail2.example.test');
    // The new Secret's resourceVersion changes the checksum: a new template to roll out.
    await waitFor(async () => condition(await getRelay(ns.name, name), 'Stalled')?.status === 'False', { description: 'Stalled=False', timeoutMs: 10_000, intervalMs: 100 });
    await simulateDeploymentAvailable(ns.name, name);
    await waitFor(async () => condition(await getRelay(ns.name, name), 'Ready')?.status === 'True', { description: 'Ready again', timeoutMs: 10_000 });
  });
});

test('a same-named object someone else made is left alone and reported (ChildNotOwned)', async () => {
  const name = 'squat';
  await kubectlOk(['-n', ns.name, 'create', 'service', 'clusterip', name, '--tcp=80:8080']);
  await createTlsSecret(ns.name, 'squat-cert', 'squat.example.test');
  await applyRelay(relayManifest(ns.name, name, { tls: { secretName: 'squat-cert' } }));
  const stalled = await waitFor(async () => {
    const r = await getRelay(ns.name, name);
    return condition(r, 'Stalled')?.status === 'True' ? r : undefined;
  }, { description: 'Stalled', timeoutMs: 10_000, intervalMs: 100 });
  expect(condition(stalled, 'Stalled')).toMatchObject({ reason: 'ChildNotOwned' });
  expect(condition(stalled, 'Stalled')!.message).toMatch(/A Service named squat already exists .* leaves it alone/);
  const svc = await getChild('Service', 'v1', ns.name, name);
  expect(svc!.metadata.ownerReferences).toBeUndefined();
  expect(svc!.metadata.labels?.['app.kubernetes.io/managed-by']).toBeUndefined();
  expect((svc!.spec as { ports: { port: number }[] }).ports.map((p) => p.port)).toEqual([80]);
  // The rest of the relay is still built.
  expect(await getChild('ConfigMap', 'v1', ns.name, 'squat-config')).toBeDefined();
});

test('changes made while the operator was down are reconciled after a restart (level-based)', async () => {
  const name = 'byo';
  await reportReconciles(operator, 'lifecycle suite, first operator');
  await operator.stop();
  await kubectlOk(['-n', ns.name, 'delete', 'service', name]);
  await kubectlOk(['-n', ns.name, 'patch', 'smtprelay', name, '--type=merge', '-p', JSON.stringify({ spec: { service: { annotations: { 'example.com/team': 'mail' } } } })]);
  const generation = (await getRelay(ns.name, name))!.metadata.generation;
  operator = await runOperatorInProcess(ns.name);
  const svc = await waitFor(() => getChild('Service', 'v1', ns.name, name), { description: 'Service recreated after restart', timeoutMs: 15_000, intervalMs: 100 });
  expect(svc.metadata.annotations?.['example.com/team']).toBe('mail');
  await waitFor(async () => (await getRelay(ns.name, name))?.status?.observedGeneration === generation, { description: 'observedGeneration caught up', timeoutMs: 10_000 });
});
