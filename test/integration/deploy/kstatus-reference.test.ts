// test/unit/deploy/kstatus.ts reimplements kstatus; here it is checked against
// the real thing: sigs.k8s.io/cli-utils/pkg/kstatus/status.Compute, built from
// the Go module proxy (./kstatus-reference, pinned in its go.sum), on statuses
// the operator's computeStatus writes plus the edge cases of the rules.
// (It is in the integration project because it needs Go, like the control plane.)
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Condition, EndpointStatus, SmtpRelay } from '../../../src/api/types.js';
import { computeStatus, type Observed } from '../../../src/controller/status.js';
import { repoRoot } from '../../helpers/cli.js';
import { kstatus, type KStatusResult } from '../../unit/deploy/kstatus.js';

const sourceDir = path.join(repoRoot, 'test', 'integration', 'deploy', 'kstatus-reference');
let binDir = '';
let bin = '';

beforeAll(() => {
  binDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kstatus-ref-'));
  bin = path.join(binDir, 'kstatus-reference');
  // Incremental through Go's build cache: slow only the first time on a machine.
  const r = spawnSync('go', ['build', '-mod=readonly', '-o', bin, '.'], { cwd: sourceDir, encoding: 'utf8', timeout: 600_000 });
  if (r.error) throw new Error(`go is needed to build the kstatus reference: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`building the kstatus reference failed: ${r.stderr}`);
}, 600_000);

afterAll(() => {
  if (binDir) fs.rmSync(binDir, { recursive: true, force: true });
});

function reference(objs: unknown[]): (KStatusResult & { error?: string })[] {
  const r = spawnSync(bin, [], { input: JSON.stringify(objs), encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) throw new Error(`kstatus reference failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as (KStatusResult & { error?: string })[];
}

const T0 = new Date('2026-11-28T12:00:00Z');
const base = (generation: number): SmtpRelay => ({
  apiVersion: 'smtprelay.dev/v1alpha1',
  kind: 'SmtpRelay',
  metadata: { name: 'outbound', namespace: 'mail', uid: 'u-1', generation },
  spec: {
    hostname: 'smtp.example.com',
    replicas: 2,
    tls: { issuerRef: { name: 'letsencrypt', kind: 'ClusterIssuer' } },
    upstream: { host: 'email-smtp.eu-west-1.amazonaws.com' },
  },
});
const endpoints: EndpointStatus[] = [{ name: 'submission', port: 587, mode: 'starttls', healthy: true }];
const facts = { notBefore: '2026-11-01T00:00:00Z', notAfter: '2027-01-30T00:00:00Z', fingerprint: 'ab'.repeat(32) };
const deployment = { generation: 1, observedGeneration: 1, replicas: 2, updatedReplicas: 2, readyReplicas: 2, availableReplicas: 2 };
const ok: Observed = { problems: [], deployment, certificate: { ready: 'True' }, tlsSecret: facts, probe: { enabled: true, endpoints } };
const withStatus = (observed: Observed, generation = 1): SmtpRelay => {
  const r = base(generation);
  return { ...r, status: computeStatus(r, observed, T0) };
};
const cond = (type: string, status: Condition['status'], message = `${type} is ${status}`): Condition => ({ type, status, reason: 'Because', message, lastTransitionTime: '2026-11-28T12:00:00Z' });
const raw = (generation: number, status?: Record<string, unknown>, extraMeta: Record<string, unknown> = {}) => ({
  apiVersion: 'smtprelay.dev/v1alpha1',
  kind: 'SmtpRelay',
  metadata: { name: 'outbound', namespace: 'mail', generation, ...extraMeta },
  ...(status ? { status } : {}),
});

const cases: [string, unknown][] = [
  ['created, no status', base(1)],
  ['first reconcile: certificate issuing', withStatus({ problems: [], probe: { enabled: true } })],
  ['rolling out', withStatus({ ...ok, deployment: { ...deployment, updatedReplicas: 1, availableReplicas: 1 } })],
  ['awaiting first probe', withStatus({ ...ok, probe: { enabled: true } })],
  ['ready', withStatus(ok)],
  ['stalled: Secret missing', withStatus({ ...ok, problems: [{ reason: 'SecretNotFound', message: 'Secret x does not exist.' }] })],
  ['TLS unhealthy', withStatus({ ...ok, probe: { enabled: true, endpoints: [{ ...endpoints[0]!, healthy: false, failures: [{ check: 'c', result: 'fail', reason: 'StaleCertificateServed' }] }] } })],
  ['probe disabled', withStatus({ ...ok, probe: { enabled: false } })],
  ['spec edited, not observed', { ...withStatus(ok), metadata: { ...base(2).metadata } }],
  ['being deleted', { ...withStatus(ok), metadata: { ...base(1).metadata, deletionTimestamp: '2026-11-28T12:30:00Z' } }],
  ['conditions but no observedGeneration', raw(3, { conditions: [cond('Ready', 'True')] })],
  ['Stalled listed before Reconciling', raw(1, { observedGeneration: 1, conditions: [cond('Stalled', 'True', 's'), cond('Reconciling', 'True', 'r')] })],
  ['Reconciling listed before Stalled', raw(1, { observedGeneration: 1, conditions: [cond('Reconciling', 'True', 'r'), cond('Stalled', 'True', 's')] })],
  ['Ready Unknown', raw(1, { observedGeneration: 1, conditions: [cond('Ready', 'Unknown', 'u')] })],
  ['Ready False only', raw(1, { observedGeneration: 1, conditions: [cond('Ready', 'False', 'f')] })],
  ['unrelated conditions only', raw(1, { observedGeneration: 1, conditions: [cond('Available', 'False')] })],
  ['Reconciling False and Stalled False, no Ready', raw(1, { observedGeneration: 1, conditions: [cond('Reconciling', 'False'), cond('Stalled', 'False')] })],
];

let results: (KStatusResult & { error?: string })[] = [];
beforeAll(() => {
  results = reference(cases.map((c) => c[1]));
});

test.each(cases.map(([name, obj], i) => [name, obj, i] as const))('%s: the TypeScript kstatus agrees with cli-utils', (_name, obj, i) => {
  const expected = results[i]!;
  expect(expected.error).toBeUndefined();
  expect(kstatus(obj as never)).toEqual({ status: expected.status, message: expected.message });
});

test('the reference is live: it tells InProgress from Current', () => {
  const [a, b] = reference([raw(2, { observedGeneration: 1 }), raw(1, { observedGeneration: 1, conditions: [cond('Ready', 'True')] })]);
  expect([a!.status, b!.status]).toEqual(['InProgress', 'Current']);
});
