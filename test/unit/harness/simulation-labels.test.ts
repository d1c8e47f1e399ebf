// Every test file that stands in for a Kubernetes component says so in a test name
// (issue 14; labels in test/harness/simulated.ts). A file that uses one of the known
// stand-ins must put the matching label into at least one test or describe name.
import { describe, expect, test } from '@jest/globals';
import fs from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../../helpers/cli.js';

/** The stand-in, how its use shows in a test file, and the label it asks for. */
const STAND_INS: { what: string; used: (src: string) => boolean; label: string }[] = [
  { what: 'Deployment status written by the test', used: (s) => /\bsimulate(DeploymentAvailable|AvailableIn)\(|deployments\/\$\{[^}]+\}\/status/.test(s), label: 'SIM_DEPLOYMENT_STATUS' },
  { what: 'the local runtime', used: (s) => /\bstartLocalRuntime\(|SMTP_RELAY_LOCAL\b/.test(s), label: 'SIM_LOCAL_RUNTIME' },
  { what: 'Service routing by the local endpoints annotation', used: (s) => /\b(LOCAL_)?ENDPOINTS_ANNOTATION\b/.test(s) && !/\bstartLocalRuntime\(/.test(s), label: 'SIM_SERVICE_ROUTING' },
  { what: 'a relay pod run by the test (volumes projected kubelet-style)', used: (s) => /\b(projectVolume|mountSecret)\(/.test(s), label: 'SIM_KUBELET' },
  { what: '/scale writes as the HPA controller makes them', used: (s) => /fieldManager=kube-controller-manager/.test(s), label: 'SIM_HPA_CONTROLLER' },
];

/** Test files of the integration project (the unit tests run no Kubernetes component at all). */
function integrationTestFiles(): string[] {
  const roots = ['integration', 'e2e', 'security', 'chaos', 'soak'].map((d) => path.join(repoRoot, 'test', d));
  return roots.flatMap((root) => (fs.existsSync(root) ? (fs.readdirSync(root, { recursive: true }) as string[]).filter((f) => f.endsWith('.test.ts')).map((f) => path.join(root, f)) : []));
}

/** Labels used inside a test/describe name: `${SIM_X}` in a template literal. */
function labelsInNames(src: string): Set<string> {
  return new Set([...src.matchAll(/\b(?:test|describe|it)(?:\.\w+)?\(`[^`]*\$\{(SIM_[A-Z_]+)\}/g)].flatMap((m) => [...m[0].matchAll(/\$\{(SIM_[A-Z_]+)\}/g)].map((x) => x[1]!)));
}

describe('simulation labels in test names', () => {
  const files = integrationTestFiles();

  test('the scan finds the integration test files', () => {
    expect(files.length).toBeGreaterThan(20);
  });

  test('every file that uses a stand-in names it in a test or describe', () => {
    const missing: string[] = [];
    for (const file of files) {
      const src = fs.readFileSync(file, 'utf8');
      const labels = labelsInNames(src);
      for (const s of STAND_INS) if (s.used(src) && !labels.has(s.label)) missing.push(`${path.relative(repoRoot, file)}: uses ${s.what} but no name carries \${${s.label}}`);
    }
    expect(missing).toEqual([]);
  });

  test('the label finder reads labels from names, not from elsewhere', () => {
    expect([...labelsInNames('test(`x ${SIM_KUBELET} ${SIM_DEPLOYMENT_STATUS}`, async () => {})')].sort()).toEqual(['SIM_DEPLOYMENT_STATUS', 'SIM_KUBELET']);
    expect([...labelsInNames("import { SIM_KUBELET } from '../harness/simulated.js';\ntest('x', () => {});")]).toEqual([]);
  });
});
