// The Helm chart and deploy/ must not drift: kustomize's render of deploy/base and its overlays
// and `helm template` of charts/smtp-relay-operator with the matching values give the same
// objects, after taking out the labels that only name the tool (test/helpers/manifest-diff.ts).
// A rule, flag, object or CRD added on one side only fails here with the object and the path.
// Needs the helm built by `npm run controlplane:build` (integration project), no API server.
import { describe, expect, test } from '@jest/globals';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { repoRoot } from '../../helpers/cli.js';
import { compareRenders, type K8sObject } from '../../helpers/manifest-diff.js';
import { CHART_DIR, helm } from '../../harness/helm.js';
import { kubectl } from '../../harness/kube.js';

const NAMESPACE = 'smtp-relay-system';
const HOW_TO_FIX =
  'deploy/ and charts/smtp-relay-operator must render the same objects: change the chart (templates/, values.yaml) ' +
  'the same way as deploy/ (or the other way round). CRDs are copied into the chart by `npm run crds`.';

const parse = (text: string) => parseAllDocuments(text).map((d) => d.toJSON() as K8sObject).filter(Boolean);

async function kustomize(dir: string): Promise<K8sObject[]> {
  const r = await kubectl(['kustomize', path.join(repoRoot, dir)]);
  if (r.code !== 0) throw new Error(`kubectl kustomize ${dir} failed: ${r.stderr}`);
  return parse(r.stdout);
}

async function chart(values: string[]): Promise<K8sObject[]> {
  const r = await helm(['template', 'smtp-relay-operator', CHART_DIR, '--namespace', NAMESPACE, '--include-crds', ...values.flatMap((v) => ['--set', v])]);
  if (r.code !== 0) throw new Error(`helm template failed: ${r.stderr}`);
  return parse(r.stdout);
}

function expectSame(deployName: string, deploy: K8sObject[], chartName: string, rendered: K8sObject[]): void {
  const problems = compareRenders({ name: deployName, objects: deploy }, { name: chartName, objects: rendered });
  if (problems.length > 0) throw new Error(`The Helm chart drifted from ${deployName}:\n  ${problems.join('\n  ')}\n${HOW_TO_FIX}`);
}

/** deploy/ without its Namespace: `helm install` needs the release namespace before it renders. */
const withoutNamespace = (objs: K8sObject[]) => objs.filter((o) => o.kind !== 'Namespace');

describe('charts/smtp-relay-operator renders what deploy/ renders', () => {
  test('default values: deploy/base (every object but the Namespace)', async () => {
    const base = await kustomize('deploy/base');
    expect(base.some((o) => o.kind === 'Namespace')).toBe(true);
    expectSame('deploy/base', withoutNamespace(base), 'helm template (default values)', await chart([]));
  });

  test('namespace.create=true: deploy/base with its Namespace (restricted Pod Security labels)', async () => {
    expectSame('deploy/base', await kustomize('deploy/base'), 'helm template (namespace.create=true)', await chart(['namespace.create=true']));
  });

  test('watchNamespaces: deploy/overlays/namespaced (RoleBindings per namespace, no ClusterRoleBinding, --namespace)', async () => {
    const overlay = await kustomize('deploy/overlays/namespaced');
    const dep = overlay.find((o) => o.kind === 'Deployment') as unknown as { spec: { template: { spec: { containers: { args: string[] }[] } } } };
    const flag = dep.spec.template.spec.containers[0]!.args.find((a) => a.startsWith('--namespace='));
    expect(flag).toBeDefined();
    const namespaces = flag!.slice('--namespace='.length);
    expect(namespaces.split(',').length).toBeGreaterThan(1);
    expectSame('deploy/overlays/namespaced', withoutNamespace(overlay), `helm template (watchNamespaces={${namespaces}})`, await chart([`watchNamespaces={${namespaces}}`]));
  });

  test('monitoring values: deploy/overlays/monitoring (ServiceMonitor and PrometheusRule)', async () => {
    const overlay = await kustomize('deploy/overlays/monitoring');
    expect(overlay.map((o) => o.kind)).toEqual(expect.arrayContaining(['ServiceMonitor', 'PrometheusRule']));
    const values = ['monitoring.serviceMonitor.enabled=true', 'monitoring.prometheusRule.enabled=true'];
    expectSame('deploy/overlays/monitoring', withoutNamespace(overlay), 'helm template (monitoring on)', await chart(values));
  });

  test('the comparison does fail: an added RBAC rule, a new flag and a missing CRD are each named', async () => {
    // Both sides from the chart, one side changed the way a new feature changes deploy/base.
    const rendered = await chart([]);
    const changed = structuredClone(rendered);
    const role = changed.find((o) => o.kind === 'ClusterRole') as unknown as { rules: unknown[] };
    role.rules.push({ apiGroups: ['smtprelay.dev'], resources: ['smtpwidgets'], verbs: ['list', 'watch'] });
    const dep = changed.find((o) => o.kind === 'Deployment') as unknown as { spec: { template: { spec: { containers: { args: string[] }[] } } } };
    dep.spec.template.spec.containers[0]!.args.push('--new-flag=1');
    changed.push({ apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', metadata: { name: 'smtpwidgets.smtprelay.dev' } });
    const problems = compareRenders({ name: 'deploy/base', objects: changed }, { name: 'chart', objects: rendered });
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^ClusterRole\/smtp-relay-operator differs at \.rules\[\*\]: \{.*"resources":\["smtpwidgets"\].*\} vs <absent>/),
        expect.stringMatching(/^Deployment\/smtp-relay-system\/smtp-relay-operator differs at \.spec\.template\.spec\.containers\[0\]\.args\[\*\]: "--new-flag=1" vs <absent>/),
        'CustomResourceDefinition/smtpwidgets.smtprelay.dev is in deploy/base but chart does not render it',
      ]),
    );
    expect(problems).toHaveLength(3);
  });
});
