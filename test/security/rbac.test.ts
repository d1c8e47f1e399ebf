// The operator's RBAC (deploy/base/rbac.yaml) is exactly enough: the operator runs with a
// ServiceAccount token bound to it and nothing else, converges relays through create,
// update, prune and delete, and every (resource, verb) it was granted is either seen in
// the API server's audit log of that run or justified below. No wildcards.
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { buildDeployment } from '../../src/controller/builders/deployment.js';
import { startControlPlane, type ControlPlane } from '../harness/controlplane.js';
import { createTestNamespace, serviceAccountKubeconfig, waitFor } from '../harness/kube.js';
import { repoRoot } from '../helpers/cli.js';
import { relayManifest, USERS_SECRET } from '../integration/operator/helpers.js';
import { startOperatorProcess, type OperatorProcess } from '../chaos/operator-process.js';
import { applyIn, conditionOf, createGenericSecretIn, createTlsSecretIn, getJson, getRelayIn, isObserved, kubectlIn, simulateAvailableIn } from '../chaos/kube-fixtures.js';

jest.setTimeout(180_000);

const SA_NS = 'smtp-relay-system';
const SA = 'smtp-relay-operator';
const SA_USER = `system:serviceaccount:${SA_NS}:${SA}`;

interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}
interface AuditEvent {
  verb: string;
  user: { username: string };
  objectRef?: { resource?: string; subresource?: string; apiGroup?: string; namespace?: string; name?: string };
  responseStatus?: { code?: number };
}

/** Granted permissions, as "group/resource[/sub]:verb" keys. */
function grantsOf(rules: Rule[]): Set<string> {
  const out = new Set<string>();
  for (const r of rules) for (const g of r.apiGroups) for (const res of r.resources) for (const v of r.verbs) out.add(`${g}/${res}:${v}`);
  return out;
}

// Granted but not necessarily exercised by this run, each with the code path that needs it.
const JUSTIFIED: Record<string, string> = {
  'cert-manager.io/certificates:list': 'informer on Certificates when cert-manager is installed (this control plane has no cert-manager)',
  'cert-manager.io/certificates:watch': 'same informer',
  'cert-manager.io/certificates:get': 'ownership check after a create-only apply of a Certificate got 409 (it exists and was not in the cache)',
  // Children are created by a create-only server-side apply (no GET at creation); only a 409
  // (the object exists but was missing from the synced cache) leads to one GET that decides
  // ours (apply) or ChildNotOwned. This run has no such conflict.
  '/configmaps:get': 'ownership check after a create-only apply got 409 (src/controller/reconciler.ts)',
  '/services:get': 'same, for Services',
  'apps/deployments:get': 'same, for Deployments',
  'apps/statefulsets:get': 'same, for StatefulSets (Durable queue)',
  'policy/poddisruptionbudgets:get': 'same, for PodDisruptionBudgets',
  'networking.k8s.io/networkpolicies:get': 'same, for NetworkPolicies',
  'cert-manager.io/certificates:patch': 'server-side apply of the Certificate for relays with spec.tls.issuerRef',
  'cert-manager.io/certificates:delete': 'prune: relay switched from issuerRef to secretName',
  'cert-manager.io/issuers:get': 'issuerRef check (does the Issuer exist?), only with cert-manager',
  'cert-manager.io/clusterissuers:get': 'issuerRef check for kind ClusterIssuer',
  'cert-manager.io/issuers:list': 'metadata-only Issuer informer (src/controller/issuers.ts) when cert-manager is installed',
  'cert-manager.io/issuers:watch': 'same informer',
  'cert-manager.io/clusterissuers:list': 'metadata-only ClusterIssuer informer when cert-manager is installed',
  'cert-manager.io/clusterissuers:watch': 'same informer',
  'apps/deployments:delete': 'prune path for every owned kind; a Deployment is always desired, so only hit by a builder change',
  '/services:delete': 'prune path for every owned kind; the relay listener\'s <name>-internal Service is pruned when that listener is switched off',
  'networking.k8s.io/networkpolicies:delete': 'prune path for every owned kind; a NetworkPolicy is always desired today',
  '/configmaps:delete': 'prune path for every owned kind; a ConfigMap is always desired today',
  'cert-manager.io/certificates:create': 'the first server-side apply of a Certificate (an apply that creates is authorized as create)',
  'events.k8s.io/events:patch': 'a repeated Event within 10 min bumps series.count on the existing one',
  'coordination.k8s.io/leases:update': 'lease renewal (seen in any run longer than one retry period)',
  '/namespaces:list': 'metadata-only Namespace informer for spec.users.namespaceSelector; only in a cluster-wide install (this run is namespaced: --namespace)',
  '/namespaces:watch': 'same informer',
};

let cp: ControlPlane;
let op: OperatorProcess | undefined;
let ns: string;
let logPath: string;
let clusterRole: Rule[];
let leaseRole: Rule[];

beforeAll(async () => {
  cp = await startControlPlane({ certManager: false, audit: true });
  const docs = YAML.parseAllDocuments(fs.readFileSync(path.join(repoRoot, 'deploy', 'base', 'rbac.yaml'), 'utf8')).map((d) => d.toJSON() as { kind: string; rules?: Rule[] });
  clusterRole = docs.find((d) => d.kind === 'ClusterRole')?.rules ?? [];
  leaseRole = docs.find((d) => d.kind === 'Role')?.rules ?? [];
  await kubectlIn(cp.kubeconfigPath, ['create', 'namespace', SA_NS]);
  await kubectlIn(cp.kubeconfigPath, ['apply', '-f', path.join(repoRoot, 'deploy', 'base', 'rbac.yaml')]);
  const saKubeconfig = await serviceAccountKubeconfig(cp, SA_NS, SA);
  ns = (await createTestNamespace('rbac', { kubeconfig: cp.kubeconfigPath })).name;
  await createGenericSecretIn(cp.kubeconfigPath, ns, USERS_SECRET, { alice: '$2b$04$abcdefghijklmnopqrstuuM1bF0y2bq9xH4a8bFJQ4m9q0fJ1kX2u' });
  await createTlsSecretIn(cp.kubeconfigPath, ns, 'r1-cert', 'r1.example.test');
  // The Secrets only the relay pods need: the operator must never read their data.
  await createGenericSecretIn(cp.kubeconfigPath, ns, 'upstream-creds', { username: 'relay-acct', password: 'Up5-never-read-by-operator' });
  await createGenericSecretIn(cp.kubeconfigPath, ns, 'dkim-key', { 'private.key': 'not-a-real-key-never-read' });
  await createGenericSecretIn(cp.kubeconfigPath, ns, 'upstream-ca', { 'ca.crt': 'not-a-real-ca' });
  logPath = path.join(cp.workDir, 'operator.log');
  op = startOperatorProcess({ kubeconfig: saKubeconfig, namespace: ns, logPath, leaderElect: true, leaseNamespace: SA_NS, podName: 'rbac-op' });
});

afterAll(async () => {
  await op?.stop();
  await cp?.stop();
});

describe('the operator with only deploy/base/rbac.yaml', () => {
  test('converges a relay through create, scale up (PDB), scale down (prune), Ready, and deletion; never forbidden', async () => {
    const kc = cp.kubeconfigPath;
    await applyIn(kc, relayManifest(ns, 'r1', { tls: { secretName: 'r1-cert' }, replicas: 2 }));
    const first = await waitFor(async () => {
      const r = await getRelayIn(kc, ns, 'r1');
      return isObserved(r) ? r : undefined;
    }, { description: 'r1 observed', timeoutMs: 60_000, intervalMs: 250 });
    expect(conditionOf(first, 'Stalled')?.reason).not.toBe('ApplyForbidden');
    expect(await getJson(kc, ['-n', ns, 'get', 'poddisruptionbudget', 'r1'])).toBeDefined();

    await simulateAvailableIn(kc, ns, 'r1');
    await waitFor(async () => conditionOf(await getRelayIn(kc, ns, 'r1'), 'Ready')?.status === 'True', { description: 'r1 Ready', timeoutMs: 30_000 });

    await kubectlIn(kc, ['-n', ns, 'patch', 'smtprelay', 'r1', '--type=merge', '-p', '{"spec":{"replicas":1}}']);
    await waitFor(async () => (await getJson(kc, ['-n', ns, 'get', 'poddisruptionbudget', 'r1'])) === undefined, { description: 'PDB pruned', timeoutMs: 30_000 });

    // A relay with upstream credentials, upstream CA and a DKIM key: reconciled (the
    // operator sees those Secrets in its metadata-only cache) without reading them.
    await applyIn(kc, relayManifest(ns, 'r3', {
      tls: { secretName: 'r1-cert' },
      upstream: { host: 'upstream.example.test', passwordSecretRef: { name: 'upstream-creds' }, caSecretRef: { name: 'upstream-ca' } },
      dkim: { selector: 's1', domain: 'example.test', keySecretRef: { name: 'dkim-key' } },
      // The CRD requires sender domains with dkim (a relay signs only for its own domains).
      policy: { allowedSenderDomains: ['example.test'] },
    }));
    const r3 = await waitFor(async () => {
      const r = await getRelayIn(kc, ns, 'r3');
      return isObserved(r) ? r : undefined;
    }, { description: 'r3 observed', timeoutMs: 30_000, intervalMs: 250 });
    expect(conditionOf(r3, 'Stalled')?.status).toBe('False');
    // The relay pods mount them (Deployment or StatefulSet, whichever the builders make).
    const workloads = await getJson<{ items: { spec: { template: { spec: { volumes?: { secret?: { secretName: string } }[] } } } }[] }>(kc, ['-n', ns, 'get', 'deployments,statefulsets', '-l', 'app.kubernetes.io/instance=r3']);
    const volumes = (workloads?.items ?? []).flatMap((w) => w.spec.template.spec.volumes ?? []).map((v) => v.secret?.secretName);
    expect(volumes).toEqual(expect.arrayContaining(['upstream-creds', 'upstream-ca', 'dkim-key']));

    // A relay referring to a missing Secret: status + Warning event, still no 403.
    await applyIn(kc, relayManifest(ns, 'r2', { tls: { secretName: 'missing-cert' } }));
    await waitFor(async () => conditionOf(await getRelayIn(kc, ns, 'r2'), 'Stalled')?.reason === 'SecretNotFound', { description: 'r2 SecretNotFound', timeoutMs: 30_000 });
    await kubectlIn(kc, ['-n', ns, 'delete', 'smtprelay', 'r2', '--wait=false']);

    // A Durable relay (a StatefulSet; pods and claims are only listed and watched), switched to
    // PassThrough: with no replica there is nothing to drain, so the StatefulSet is pruned at once.
    await applyIn(kc, relayManifest(ns, 'r4', { tls: { secretName: 'r1-cert' }, replicas: 0, queue: { mode: 'Durable' } }));
    await waitFor(async () => (await getJson(kc, ['-n', ns, 'get', 'statefulset', 'r4'])) !== undefined, { description: 'r4 StatefulSet', timeoutMs: 30_000 });
    await kubectlIn(kc, ['-n', ns, 'patch', 'smtprelay', 'r4', '--type=merge', '-p', '{"spec":{"queue":{"mode":"PassThrough"}}}']);
    await waitFor(async () => (await getJson(kc, ['-n', ns, 'get', 'statefulset', 'r4'])) === undefined, { description: 'r4 StatefulSet pruned after the switch', timeoutMs: 30_000 });

    // An SmtpUser: finalizer and status patches, the managed users Secret and the connection
    // Secret created, then a rotation (patches both), then deletion (patch removes the user).
    await applyIn(kc, relayManifest(ns, 'r5', { tls: { secretName: 'r1-cert' }, users: { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns } } } }));
    await applyIn(kc, { apiVersion: 'smtprelay.dev/v1alpha1', kind: 'SmtpUser', metadata: { name: 'app', namespace: ns }, spec: { relayRef: { name: 'r5', namespace: ns }, senders: ['app@example.test'], connectionSecretRef: { name: 'smtp-app' } } });
    const issuedAt = async () => (await getJson<{ metadata: { annotations?: Record<string, string> } }>(kc, ['-n', ns, 'get', 'secret', 'smtp-app']))?.metadata.annotations?.['smtprelay.dev/password-issued-at'];
    const firstIssue = await waitFor(issuedAt, { description: 'connection Secret written', timeoutMs: 30_000, intervalMs: 250 });
    await kubectlIn(kc, ['-n', ns, 'annotate', 'smtpuser', 'app', 'smtprelay.dev/rotate=1']);
    await waitFor(async () => ((await issuedAt()) !== firstIssue ? true : undefined), { description: 'rotated', timeoutMs: 30_000, intervalMs: 250 });
    await kubectlIn(kc, ['-n', ns, 'delete', 'smtpuser', 'app', '--wait=true', '--timeout=30s']);
    // Let the lease be renewed at least once (retry period 2 s).
    await new Promise((r) => setTimeout(r, 4000));

    const log = fs.readFileSync(logPath, 'utf8');
    expect(log).not.toMatch(/forbidden/i);
  });

  test('the audit log: the operator was never refused, and every granted (resource, verb) was used or is justified', async () => {
    const events = fs
      .readFileSync(cp.auditLogPath as string, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as AuditEvent)
      .filter((e) => e.user.username === SA_USER && e.objectRef?.resource);
    expect(events.length).toBeGreaterThan(10);
    const forbidden = events.filter((e) => e.responseStatus?.code === 403).map((e) => `${e.verb} ${e.objectRef?.resource}`);
    expect(forbidden).toEqual([]);

    const key = (e: AuditEvent, verb: string) => `${e.objectRef?.apiGroup ?? ''}/${e.objectRef?.resource}${e.objectRef?.subresource ? `/${e.objectRef.subresource}` : ''}:${verb}`;
    const used = new Set(events.map((e) => key(e, e.verb)));
    // A server-side apply that creates the object (201) is authorized as create as well.
    for (const e of events) if (e.verb === 'patch' && e.responseStatus?.code === 201) used.add(key(e, 'create'));
    const granted = new Set([...grantsOf(clusterRole), ...grantsOf(leaseRole)]);
    const usedNotGranted = [...used].filter((u) => !granted.has(u));
    const grantedUnusedUnjustified = [...granted].filter((g) => !used.has(g) && !JUSTIFIED[g]);
    const staleJustifications = Object.keys(JUSTIFIED).filter((j) => !granted.has(j));
    process.stdout.write(`RBAC verbs used by the operator (audit log): ${[...used].sort().join(', ')}\n`);
    expect(usedNotGranted).toEqual([]);
    expect(grantedUnusedUnjustified).toEqual([]);
    expect(staleJustifications).toEqual([]);
  });

  test('the audit log: the operator wrote only the Secrets it owns (r5-smtpusers, smtp-app)', () => {
    const writes = fs
      .readFileSync(cp.auditLogPath as string, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as AuditEvent)
      .filter((e) => e.user.username === SA_USER && e.objectRef?.resource === 'secrets' && ['create', 'patch', 'update', 'delete'].includes(e.verb));
    const names = [...new Set(writes.map((e) => e.objectRef?.name ?? `(create in ${e.objectRef?.namespace})`))].sort();
    process.stdout.write(`Secrets the operator wrote (audit log): ${writes.map((e) => `${e.verb} ${e.objectRef?.name ?? '(new)'}`).join(', ')}\n`);
    expect(writes.length).toBeGreaterThan(0);
    // A create's objectRef has no name (the API assigns the path before the body is read).
    expect(names.filter((n) => !n.startsWith('(create'))).toEqual(['r5-smtpusers', 'smtp-app']);
  });

  test('the audit log: the operator read the TLS Secret, and never read the upstream credentials, upstream CA or DKIM key', () => {
    const secretReads = fs
      .readFileSync(cp.auditLogPath as string, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as AuditEvent)
      .filter((e) => e.user.username === SA_USER && e.objectRef?.resource === 'secrets' && e.verb === 'get')
      .map((e) => e.objectRef?.name);
    process.stdout.write(`Secrets the operator read in full (audit log): ${[...new Set(secretReads)].sort().join(', ')}\n`);
    expect(secretReads).toContain('r1-cert');
    for (const name of ['upstream-creds', 'upstream-ca', 'dkim-key', USERS_SECRET]) expect({ name, reads: secretReads.filter((n) => n === name).length }).toEqual({ name, reads: 0 });
  });

  test('no wildcards, Secrets written only by create/patch (never update/delete), pods and claims read-only (no pods/exec), no cluster-wide lease rights', () => {
    for (const r of [...clusterRole, ...leaseRole]) {
      expect(r.verbs).not.toContain('*');
      expect(r.resources).not.toContain('*');
      expect(r.apiGroups).not.toContain('*');
    }
    const granted = grantsOf(clusterRole);
    // Secrets: create and patch for the two kinds the operator owns (SmtpUsers' managed users
    // and connection Secrets; the code writes no other); never update or delete.
    for (const v of ['update', 'delete', 'deletecollection']) expect(granted.has(`/secrets:${v}`)).toBe(false);
    expect([...granted].filter((g) => g.startsWith('/secrets:')).sort()).toEqual(['/secrets:create', '/secrets:get', '/secrets:list', '/secrets:patch', '/secrets:watch']);
    expect([...granted].filter((g) => g.startsWith('/namespaces')).sort()).toEqual(['/namespaces:list', '/namespaces:watch']);
    // Pods: list and watch only (their IPs, for the queue's GET /queue and POST /drain); never exec, logs, or any write.
    expect([...granted].filter((g) => g.startsWith('/pods')).sort()).toEqual(['/pods:list', '/pods:watch']);
    expect([...granted].filter((g) => g.startsWith('/persistentvolumeclaims')).sort()).toEqual(['/persistentvolumeclaims:list', '/persistentvolumeclaims:watch']);
    expect([...granted].some((g) => g.startsWith('coordination.k8s.io/'))).toBe(false);
    expect([...granted].some((g) => g.startsWith('rbac.authorization.k8s.io/'))).toBe(false);
  });

  test('relay pods get no ServiceAccount token: automountServiceAccountToken is false', () => {
    const relay = relayManifest('ns', 'r', { tls: { secretName: 'c' } });
    const d = buildDeployment(relay, { defaultImage: 'img', secretVersions: {} } as Parameters<typeof buildDeployment>[1]);
    expect(d.spec?.template.spec?.automountServiceAccountToken).toBe(false);
  });
});
