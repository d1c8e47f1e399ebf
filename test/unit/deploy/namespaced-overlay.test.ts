// deploy/overlays/namespaced, read as data: no ClusterRoleBinding, one RoleBinding per
// watched namespace to the base ClusterRole (its rules, granted in that namespace only),
// and the operator's --namespace list equal to the namespaces that have a RoleBinding.
import { describe, expect, test } from '@jest/globals';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { parseOperatorFlags, type OperatorOptions } from '../../../src/controller/flags.js';
import { repoRoot } from '../../helpers/cli.js';

type Doc = { kind: string; metadata: { name: string; namespace?: string }; roleRef?: { apiGroup: string; kind: string; name: string }; subjects?: { kind: string; name: string; namespace: string }[] };

const dir = path.join(repoRoot, 'deploy', 'overlays', 'namespaced');
const readAll = (file: string) => YAML.parseAllDocuments(fs.readFileSync(file, 'utf8')).map((d) => d.toJSON() as Doc).filter(Boolean);
const kustomization = YAML.parse(fs.readFileSync(path.join(dir, 'kustomization.yaml'), 'utf8')) as { resources: string[]; patches: { target: { kind: string; name: string }; patch: string }[] };
const bindings = kustomization.resources.filter((r) => r.endsWith('.yaml')).flatMap((r) => readAll(path.join(dir, r)));
const base = readAll(path.join(repoRoot, 'deploy', 'base', 'rbac.yaml'));

describe('deploy/overlays/namespaced', () => {
  test('deletes the ClusterRoleBinding, and adds no cluster-wide binding or role of its own', () => {
    const deleted = kustomization.patches.filter((p) => /\$patch: delete/.test(p.patch)).map((p) => `${p.target.kind}/${p.target.name}`);
    expect(deleted).toEqual(['ClusterRoleBinding/smtp-relay-operator']);
    expect(base.filter((d) => d.kind === 'ClusterRoleBinding').map((d) => d.metadata.name)).toEqual(['smtp-relay-operator']);
    expect(bindings.map((d) => d.kind).every((k) => k === 'RoleBinding')).toBe(true);
  });

  const watched = (() => {
    const arg = kustomization.patches.map((p) => /value: (--namespace=\S+)/.exec(p.patch)?.[1]).find(Boolean)!;
    return (parseOperatorFlags([arg], {}) as OperatorOptions).namespaces!;
  })();

  test('a RoleBinding of the base ClusterRole to the operator ServiceAccount in exactly the namespaces the operator watches', () => {
    expect(watched.length).toBeGreaterThan(1);
    expect(bindings.map((d) => d.metadata.namespace).sort()).toEqual([...watched].sort());
    const clusterRole = base.find((d) => d.kind === 'ClusterRole')!.metadata.name;
    for (const b of bindings) {
      expect(b.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: clusterRole });
      expect(b.subjects).toEqual([{ kind: 'ServiceAccount', name: 'smtp-relay-operator', namespace: 'smtp-relay-system' }]);
    }
  });
});
