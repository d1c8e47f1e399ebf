// charts/smtp-relay-operator with real helm v4 (.cache/bin/helm, built from helm.sh/helm/v4)
// against the real kube-apiserver of the test control plane: lint, template + server-side
// dry run, restricted Pod Security of the operator pod, install / upgrade / uninstall.
// No kubelet runs, so the Deployment gets no pods: the tests assert on the objects.
// The Prometheus Operator CRDs are not installed: the monitoring objects are linted and
// rendered (and compared with deploy/ in helm-drift.test.ts), not dry-run.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { parseAllDocuments, stringify } from 'yaml';
import { parseOperatorFlags, type OperatorOptions } from '../../../src/controller/flags.js';
import type { K8sObject } from '../../helpers/manifest-diff.js';
import { CHART_DIR, helm } from '../../harness/helm.js';
import { createTestNamespace, kubectl, type TestNamespace } from '../../harness/kube.js';

const RESTRICTED = { 'pod-security.kubernetes.io/enforce': 'restricted', 'pod-security.kubernetes.io/enforce-version': 'latest' };
const parse = (text: string) => parseAllDocuments(text).map((d) => d.toJSON() as K8sObject).filter(Boolean);
const toYaml = (objs: unknown[]) => objs.map((o) => stringify(o)).join('---\n');
const sets = (values: string[]) => values.flatMap((v) => ['--set', v]);

interface Deployment extends K8sObject {
  spec: { replicas: number; template: { metadata: Record<string, unknown>; spec: { serviceAccountName: string; containers: { image: string; args: string[]; env: { name: string; value?: string }[] }[] } } };
}

async function template(namespace: string, values: string[] = [], extra: string[] = []): Promise<K8sObject[]> {
  const r = await helm(['template', 'smtp-relay-operator', CHART_DIR, '--namespace', namespace, ...extra, ...sets(values)]);
  if (r.code !== 0) throw new Error(`helm template failed: ${r.stderr}`);
  return parse(r.stdout);
}

const operatorArgs = (objs: K8sObject[]) => (objs.find((o) => o.kind === 'Deployment') as Deployment).spec.template.spec.containers[0]!.args;

let ns: TestNamespace;
let watched: TestNamespace;

beforeAll(async () => {
  ns = await createTestNamespace('helm', { labels: RESTRICTED });
  watched = await createTestNamespace('helm-watched');
});

afterAll(async () => {
  await ns?.cleanup();
  await watched?.cleanup();
});

describe('helm lint', () => {
  test('the chart lints clean with default, namespaced and monitoring values', async () => {
    for (const values of [[], ['watchNamespaces={team-a,team-b}', 'allowedUpstreamHosts={*.amazonaws.com}'], ['monitoring.serviceMonitor.enabled=true', 'monitoring.prometheusRule.enabled=true']]) {
      const r = await helm(['lint', '--strict', CHART_DIR, ...sets(values)]);
      expect({ values, code: r.code, stderr: r.stderr }).toEqual({ values, code: 0, stderr: '' });
      expect(r.stdout).toMatch(/1 chart\(s\) linted, 0 chart\(s\) failed/);
    }
  });

  test('lint does fail: values.schema.json refuses a wrong value, naming it', async () => {
    const r = await helm(['lint', '--strict', CHART_DIR, '--set', 'replicas=two']);
    expect(r.code).not.toBe(0);
    expect(r.stdout + r.stderr).toMatch(/replicas/);
  });
});

describe('helm template', () => {
  test('values reach the operator: allow-lists and watched namespaces are flags the operator accepts', async () => {
    const args = operatorArgs(await template(ns.name, ['allowedRelayImages={registry.example.com/smtp-relay-operator:*}', 'allowedClusterIssuers={letsencrypt-prod,internal}', 'allowedUpstreamHosts={*.amazonaws.com}', 'watchNamespaces={a,b}']));
    const opts = parseOperatorFlags(args.slice(1), {}) as OperatorOptions;
    expect(opts).toMatchObject({ allowedClusterIssuers: ['letsencrypt-prod', 'internal'], namespaces: ['a', 'b'] });
    expect(args).toEqual(expect.arrayContaining(['--allowed-relay-images=registry.example.com/smtp-relay-operator:*', '--allowed-upstream-hosts=*.amazonaws.com']));
  });

  test('the image (with a digest) is the operator image and the default relay image', async () => {
    const objs = await template(ns.name, ['image.repository=registry.example.com/mail/smtp-relay-operator', 'image.tag=1.2.3', 'image.digest=sha256:' + 'a'.repeat(64)]);
    const c = (objs.find((o) => o.kind === 'Deployment') as Deployment).spec.template.spec.containers[0]!;
    const ref = `registry.example.com/mail/smtp-relay-operator:1.2.3@sha256:${'a'.repeat(64)}`;
    expect(c.image).toBe(ref);
    expect(c.env.find((e) => e.name === 'RELAY_IMAGE')?.value).toBe(ref);
  });

  test.each([
    ['cluster-wide (ClusterRoleBinding)', () => []],
    ['namespaced (a RoleBinding per watched namespace)', () => [`watchNamespaces={${watched.name}}`, 'allowedUpstreamHosts={*.amazonaws.com}']],
  ])('%s: every rendered object passes server-side dry run (namespaced objects in a test namespace)', async (_mode, values) => {
    // A name of its own: deploy/base's cluster-scoped objects (ClusterRoleBinding
    // `smtp-relay-operator`) may already exist, applied client-side by other tests.
    const objs = await template(ns.name, [`fullnameOverride=helm-dry-${ns.name}`.slice(0, 52), ...values()], ['--include-crds']);
    expect(objs.some((o) => o.kind === (values().length === 0 ? 'ClusterRoleBinding' : 'RoleBinding'))).toBe(true);
    expect(objs.filter((o) => o.kind.startsWith('Cluster')).map((o) => o.metadata.name)).not.toContain('smtp-relay-operator');
    // globalSetup installed the CRD: a dry-run replace validates exactly the chart's copy.
    const crds = objs.filter((o) => o.kind === 'CustomResourceDefinition');
    expect(crds.length).toBeGreaterThan(0);
    const crd = await kubectl(['replace', '--dry-run=server', '-f', '-'], { input: toYaml(crds) });
    expect({ code: crd.code, stderr: crd.stderr }).toEqual({ code: 0, stderr: '' });
    const rest = objs.filter((o) => o.kind !== 'CustomResourceDefinition');
    expect(rest.map((o) => o.kind)).toEqual(expect.arrayContaining(['ServiceAccount', 'ClusterRole', 'Role', 'RoleBinding', 'Deployment', 'Service', 'NetworkPolicy', 'PodDisruptionBudget']));
    const r = await kubectl(['apply', '--server-side', '--field-manager=helm-chart-test', '--dry-run=server', '-f', '-'], { input: toYaml(rest) });
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    expect(r.stdout.trim().split('\n')).toHaveLength(rest.length);
    for (const line of r.stdout.trim().split('\n')) expect(line).toMatch(/\(server dry run\)$/);
  });

  test('the operator pod is admitted under restricted Pod Security, and a root pod is not', async () => {
    const dep = (await template(ns.name)).find((o) => o.kind === 'Deployment') as Deployment;
    const sa = { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: dep.spec.template.spec.serviceAccountName } };
    expect(await kubectl(['apply', '-n', ns.name, '-f', '-'], { input: JSON.stringify(sa) })).toMatchObject({ code: 0 });
    const pod = (name: string, spec: unknown) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { ...dep.spec.template.metadata, name, namespace: ns.name }, spec });
    const ok = await kubectl(['create', '--dry-run=server', '-n', ns.name, '-o', 'name', '-f', '-'], { input: JSON.stringify(pod('operator', dep.spec.template.spec)) });
    expect({ code: ok.code, stderr: ok.stderr, stdout: ok.stdout.trim() }).toEqual({ code: 0, stderr: '', stdout: 'pod/operator' });
    const rootSpec = structuredClone(dep.spec.template.spec) as unknown as { securityContext: Record<string, unknown> };
    rootSpec.securityContext = { ...rootSpec.securityContext, runAsNonRoot: false, runAsUser: 0 };
    const refused = await kubectl(['create', '--dry-run=server', '-n', ns.name, '-o', 'name', '-f', '-'], { input: JSON.stringify(pod('root', rootSpec)) });
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/violates PodSecurity "restricted:latest"/);
  });
});

describe('helm install / upgrade / uninstall', () => {
  // A name of its own: other tests use the ClusterRole `smtp-relay-operator` of deploy/base.
  const release = 'smtp-relay-operator';
  const name = () => `helm-it-${ns.name}`.slice(0, 52);
  const get = (kind: string, objName: string, namespaced = true) => kubectl(['get', kind, objName, ...(namespaced ? ['-n', ns.name] : []), '-o', 'json']);

  test('install creates every object, upgrade changes replicas and an allow-list, uninstall removes them and keeps the CRD', async () => {
    const base = [`fullnameOverride=${name()}`];
    const installed = await helm(['install', release, CHART_DIR, '--namespace', ns.name, ...sets(base)], { cluster: true, timeoutMs: 120_000 });
    expect({ code: installed.code, stderr: installed.code === 0 ? '' : installed.stderr }).toEqual({ code: 0, stderr: '' });
    expect(installed.stdout).toMatch(/STATUS: deployed/);

    const dep = JSON.parse((await get('deployment', name())).stdout) as Deployment & { metadata: { annotations: Record<string, string> } };
    expect(dep.spec.replicas).toBe(2);
    expect(dep.metadata.labels).toMatchObject({ 'app.kubernetes.io/managed-by': 'Helm', 'app.kubernetes.io/name': 'smtp-relay-operator' });
    expect(dep.metadata.annotations).toMatchObject({ 'meta.helm.sh/release-name': release, 'meta.helm.sh/release-namespace': ns.name });
    for (const [kind, objName] of [['serviceaccount', name()], ['service', `${name()}-metrics`], ['networkpolicy', name()], ['poddisruptionbudget', name()], ['role', `${name()}-leader-election`], ['rolebinding', `${name()}-leader-election`]] as const) {
      expect({ kind, code: (await get(kind, objName)).code }).toEqual({ kind, code: 0 });
    }
    const binding = JSON.parse((await get('clusterrolebinding', name(), false)).stdout) as { roleRef: { name: string }; subjects: unknown[] };
    expect(binding.roleRef.name).toBe(name());
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: name(), namespace: ns.name }]);
    expect((await get('clusterrole', name(), false)).code).toBe(0);

    const upgraded = await helm(['upgrade', release, CHART_DIR, '--namespace', ns.name, ...sets([...base, 'replicas=3', 'allowedUpstreamHosts={smtp.example.com,*.amazonaws.com}'])], { cluster: true, timeoutMs: 120_000 });
    expect({ code: upgraded.code, stderr: upgraded.code === 0 ? '' : upgraded.stderr }).toEqual({ code: 0, stderr: '' });
    expect(upgraded.stdout).toMatch(/REVISION: 2/);
    const after = JSON.parse((await get('deployment', name())).stdout) as Deployment;
    expect(after.spec.replicas).toBe(3);
    expect(after.spec.template.spec.containers[0]!.args).toContain('--allowed-upstream-hosts=smtp.example.com,*.amazonaws.com');
    const list = JSON.parse((await helm(['list', '--namespace', ns.name, '-o', 'json'], { cluster: true })).stdout) as { name: string; revision: string; status: string }[];
    expect(list).toEqual([expect.objectContaining({ name: release, revision: '2', status: 'deployed' })]);

    const removed = await helm(['uninstall', release, '--namespace', ns.name], { cluster: true, timeoutMs: 120_000 });
    expect({ code: removed.code, stderr: removed.code === 0 ? '' : removed.stderr }).toEqual({ code: 0, stderr: '' });
    for (const [kind, objName, namespaced] of [['deployment', name(), true], ['serviceaccount', name(), true], ['service', `${name()}-metrics`, true], ['networkpolicy', name(), true], ['clusterrole', name(), false], ['clusterrolebinding', name(), false]] as const) {
      const r = await get(kind, objName, namespaced);
      expect({ kind, code: r.code, notFound: /NotFound|not found/.test(r.stderr) }).toEqual({ kind, code: 1, notFound: true });
    }
    // Helm never deletes what crds/ installed (or found installed).
    expect((await kubectl(['get', 'crd', 'smtprelays.smtprelay.dev', '-o', 'name'])).stdout.trim()).toBe('customresourcedefinition.apiextensions.k8s.io/smtprelays.smtprelay.dev');
    expect(JSON.parse((await helm(['list', '--namespace', ns.name, '-o', 'json'], { cluster: true })).stdout)).toEqual([]);
  });
});
