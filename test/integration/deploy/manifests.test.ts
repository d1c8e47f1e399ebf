// The shipped manifests against the real kube-apiserver (test/harness, with our
// CRD and cert-manager's CRDs installed): kustomize renders them, the API server
// accepts every object (server-side dry run: schema, CEL rules, admission), and
// both pod templates, the operator's and the relays' (from the real
// buildDeployment), are admitted under the restricted Pod Security Standard,
// while a privileged pod is refused there.
// The Prometheus Operator CRDs are not installed, so the monitoring component
// is only rendered here; test/unit/deploy/monitoring.test.ts checks its shape.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import path from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import type { SmtpRelay } from '../../../src/api/types.js';
import { buildDeployment } from '../../../src/controller/builders/deployment.js';
import { buildStatefulSet } from '../../../src/controller/builders/statefulset.js';
import { repoRoot } from '../../helpers/cli.js';
import { createTestNamespace, kubectl, type TestNamespace } from '../../harness/kube.js';

interface Obj {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec?: Record<string, unknown>;
  [k: string]: unknown;
}

const OPERATOR_NAMESPACE = 'smtp-relay-system';
const RESTRICTED = { 'pod-security.kubernetes.io/enforce': 'restricted', 'pod-security.kubernetes.io/enforce-version': 'latest' };

async function render(dir: string): Promise<Obj[]> {
  const r = await kubectl(['kustomize', path.join(repoRoot, dir)]);
  if (r.code !== 0) throw new Error(`kubectl kustomize ${dir} failed: ${r.stderr}`);
  return parseAllDocuments(r.stdout).map((d) => d.toJSON() as Obj).filter(Boolean);
}

const toYaml = (objs: unknown[]) => objs.map((o) => stringify(o)).join('---\n');

/** Server-side dry run of `kubectl apply`; resolves with kubectl's result. */
function dryRunApply(objs: unknown[], namespace?: string) {
  return kubectl(['apply', '--server-side', '--force-conflicts', '--field-manager=deploy-manifests-test', '--dry-run=server', ...(namespace ? ['-n', namespace] : []), '-f', '-'], { input: toYaml(objs) });
}

/** Server-side dry run of creating one Pod. */
function dryRunCreatePod(pod: unknown, namespace: string) {
  return kubectl(['create', '--dry-run=server', '-n', namespace, '-o', 'name', '-f', '-'], { input: JSON.stringify(pod) });
}

function podFromTemplate(template: { metadata?: Record<string, unknown>; spec?: unknown }, name: string, namespace: string) {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { ...(template.metadata ?? {}), name, namespace }, spec: template.spec };
}

let base: Obj[] = [];
let restricted: TestNamespace;
let plain: TestNamespace;

beforeAll(async () => {
  base = await render('deploy/base');
  restricted = await createTestNamespace('deploy-psa', { labels: RESTRICTED });
  plain = await createTestNamespace('deploy-samples');
});

afterAll(async () => {
  await restricted?.cleanup();
  await plain?.cleanup();
});

describe('deploy/base', () => {
  test('renders every object the operator needs, namespaced objects in smtp-relay-system', () => {
    const kinds = base.map((o) => `${o.kind}/${o.metadata.name}`);
    for (const want of [
      'Namespace/smtp-relay-system',
      'CustomResourceDefinition/smtprelays.smtprelay.dev',
      'ServiceAccount/smtp-relay-operator',
      'ClusterRole/smtp-relay-operator',
      'Deployment/smtp-relay-operator',
      'Service/smtp-relay-operator-metrics',
      'NetworkPolicy/smtp-relay-operator',
      'PodDisruptionBudget/smtp-relay-operator',
    ]) {
      expect(kinds).toContain(want);
    }
    for (const kind of ['ClusterRoleBinding', 'Role', 'RoleBinding']) expect(base.some((o) => o.kind === kind)).toBe(true);
    const clusterScoped = new Set(['Namespace', 'CustomResourceDefinition', 'ClusterRole', 'ClusterRoleBinding']);
    for (const o of base.filter((x) => !clusterScoped.has(x.kind))) expect({ obj: `${o.kind}/${o.metadata.name}`, ns: o.metadata.namespace }).toEqual({ obj: `${o.kind}/${o.metadata.name}`, ns: OPERATOR_NAMESPACE });
    const ns = base.find((o) => o.kind === 'Namespace')!;
    expect(ns.metadata.labels?.['pod-security.kubernetes.io/enforce']).toBe('restricted');
  });

  test('the bindings give the operator ServiceAccount its roles', () => {
    for (const b of base.filter((o) => o.kind === 'ClusterRoleBinding' || o.kind === 'RoleBinding')) {
      const subjects = (b as unknown as { subjects: { kind: string; name: string; namespace: string }[] }).subjects;
      expect(subjects).toContainEqual(expect.objectContaining({ kind: 'ServiceAccount', name: 'smtp-relay-operator', namespace: OPERATOR_NAMESPACE }));
    }
  });

  test('every rendered object passes server-side dry run', async () => {
    // Namespaced dry runs need the namespace to exist; creating it is idempotent and harmless.
    const ns = base.filter((o) => o.kind === 'Namespace');
    const created = await kubectl(['apply', '--server-side', '--field-manager=deploy-manifests-test', '-f', '-'], { input: toYaml(ns) });
    expect(created).toMatchObject({ code: 0 });
    // The CRD already exists (globalSetup installed crds/). An apply would merge
    // with the installed version; a dry-run replace validates exactly our copy.
    const crds = base.filter((o) => o.kind === 'CustomResourceDefinition');
    const rest = base.filter((o) => o.kind !== 'CustomResourceDefinition');
    const crd = await kubectl(['replace', '--dry-run=server', '-f', '-'], { input: toYaml(crds) });
    expect({ code: crd.code, stderr: crd.stderr }).toEqual({ code: 0, stderr: '' });
    const r = await dryRunApply(rest);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    const lines = [...crd.stdout.trim().split('\n'), ...r.stdout.trim().split('\n')];
    expect(lines).toHaveLength(base.length);
    for (const line of lines) expect(line).toMatch(/\(server dry run\)$/);
  });

  test('the API server does check: a broken object in the same render is refused', async () => {
    const broken = structuredClone(base);
    const dep = broken.find((o) => o.kind === 'Deployment')! as unknown as { spec: { replicas: unknown } };
    dep.spec.replicas = 'two';
    const r = await dryRunApply(broken);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/replicas/);
  });

  test('the operator pod is admitted under restricted Pod Security', async () => {
    const dep = base.find((o) => o.kind === 'Deployment')! as unknown as { spec: { template: { metadata: Record<string, unknown>; spec: { serviceAccountName: string } } } };
    // Pod admission needs the ServiceAccount to exist in the namespace.
    const sa = { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: dep.spec.template.spec.serviceAccountName } };
    expect(await kubectl(['apply', '-n', restricted.name, '-f', '-'], { input: JSON.stringify(sa) })).toMatchObject({ code: 0 });
    const r = await dryRunCreatePod(podFromTemplate(dep.spec.template, 'operator', restricted.name), restricted.name);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    expect(r.stdout.trim()).toBe('pod/operator');
  });
});

describe('Pod Security of relay pods (buildDeployment)', () => {
  const relays = async (): Promise<SmtpRelay[]> =>
    (await render('deploy/samples'))
      .filter((o) => o.kind === 'SmtpRelay')
      .map((o, i) => ({ ...(o as unknown as SmtpRelay), metadata: { ...(o.metadata as SmtpRelay['metadata']), namespace: restricted.name, uid: `uid-${i}`, generation: 1 } }));

  test('the relay pod template of every sample is admitted in a restricted namespace', async () => {
    const list = await relays();
    expect(list.length).toBeGreaterThanOrEqual(3);
    for (const relay of list) {
      const dep = buildDeployment(relay, { defaultImage: 'smtp-relay-operator:0.1.0', secretVersions: {} });
      const pod = podFromTemplate(dep.spec!.template as never, `relay-${relay.metadata.name}`, restricted.name);
      const r = await dryRunCreatePod(pod, restricted.name);
      expect({ relay: relay.metadata.name, code: r.code, stderr: r.stderr }).toEqual({ relay: relay.metadata.name, code: 0, stderr: '' });
    }
  });

  test('the relay Deployment itself passes server-side dry run', async () => {
    const [relay] = await relays();
    const dep = buildDeployment(relay!, { defaultImage: 'smtp-relay-operator:0.1.0', secretVersions: {} });
    // Owner references to a relay that does not exist are fine for a dry run.
    const r = await dryRunApply([dep], restricted.name);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
  });

  test('Durable (the default): the relay StatefulSet passes server-side dry run, and its pod with the queue claim is admitted restricted', async () => {
    const [relay] = await relays();
    const durable = { ...relay!, spec: { ...relay!.spec, queue: { mode: 'Durable' as const } } };
    const set = buildStatefulSet(durable, { defaultImage: 'smtp-relay-operator:0.1.0', secretVersions: {} });
    const applied = await dryRunApply([set], restricted.name);
    expect({ code: applied.code, stderr: applied.stderr }).toEqual({ code: 0, stderr: '' });
    // What the StatefulSet controller makes of the template: the claim becomes a PVC volume of the pod.
    const template = structuredClone(set.spec!.template) as { spec: { volumes: unknown[] } };
    template.spec.volumes.push({ name: 'queue', persistentVolumeClaim: { claimName: `queue-${durable.metadata.name}-0` } });
    const r = await dryRunCreatePod(podFromTemplate(template as never, `relay-${durable.metadata.name}-0`, restricted.name), restricted.name);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
  });

  test('a privileged pod is refused in the same namespace (the check can fail)', async () => {
    const [relay] = await relays();
    const dep = buildDeployment(relay!, { defaultImage: 'smtp-relay-operator:0.1.0', secretVersions: {} });
    const pod = podFromTemplate(structuredClone(dep.spec!.template) as never, 'privileged', restricted.name) as { spec: { securityContext: Record<string, unknown>; containers: { securityContext: Record<string, unknown> }[] } };
    pod.spec.securityContext = { ...pod.spec.securityContext, runAsNonRoot: false, runAsUser: 0 };
    pod.spec.containers[0]!.securityContext = { privileged: true, allowPrivilegeEscalation: true, runAsUser: 0, runAsNonRoot: false };
    const r = await dryRunCreatePod(pod, restricted.name);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/violates PodSecurity "restricted:latest"/);
    expect(r.stderr).toMatch(/privileged/);
  });
});

describe('deploy/samples', () => {
  test('the Secrets and SmtpRelays render and pass server-side dry run', async () => {
    const samples = (await render('deploy/samples')).filter((o) => o.kind !== 'ClusterIssuer');
    expect(samples.filter((o) => o.kind === 'SmtpRelay')).toHaveLength(8);
    expect(samples.filter((o) => o.kind === 'SmtpUser')).toHaveLength(1);
    const r = await dryRunApply(samples, plain.name);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    expect(r.stdout.trim().split('\n')).toHaveLength(samples.length);
  });

  test('the cert-manager ClusterIssuers pass server-side dry run (needs cert-manager CRDs from globalSetup)', async () => {
    const issuers = (await render('deploy/samples')).filter((o) => o.kind === 'ClusterIssuer');
    expect(issuers).toHaveLength(3);
    const crd = await kubectl(['get', 'crd', 'clusterissuers.cert-manager.io', '-o', 'name']);
    if (crd.code !== 0) throw new Error('cert-manager CRDs are not installed in the test control plane (SMTP_RELAY_CERT_MANAGER=0?): cannot validate the ClusterIssuer samples');
    const r = await dryRunApply(issuers);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
  });

  test('the SES sample uses the smarthost on 587 with STARTTLS and a credentials Secret', async () => {
    const relay = (await render('deploy/samples')).find((o) => o.kind === 'SmtpRelay' && o.metadata.name === 'outbound') as unknown as SmtpRelay;
    expect(relay.spec.upstream).toMatchObject({ host: 'email-smtp.eu-west-1.amazonaws.com', port: 587, tls: 'starttls', passwordSecretRef: { name: 'ses-smtp-credentials' } });
  });

  test('an open relay variant of the in-cluster sample is refused by the API server', async () => {
    const samples = await render('deploy/samples');
    const apps = structuredClone(samples.find((o) => o.metadata.name === 'apps')!) as unknown as SmtpRelay;
    apps.spec.listeners!.relay!.allowedNetworks = ['0.0.0.0/0'];
    const r = await dryRunApply([apps], plain.name);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/open relay/);
  });
});

describe('deploy/components/monitoring', () => {
  test('the monitoring overlay renders base + ServiceMonitor + PrometheusRule', async () => {
    const objs = await render('deploy/overlays/monitoring');
    const sm = objs.find((o) => o.kind === 'ServiceMonitor');
    const pr = objs.find((o) => o.kind === 'PrometheusRule');
    expect(sm?.metadata.namespace).toBe(OPERATOR_NAMESPACE);
    expect(pr?.metadata.namespace).toBe(OPERATOR_NAMESPACE);
    expect(objs.length).toBe(base.length + 2);
  });
});
