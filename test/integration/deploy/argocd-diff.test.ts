// No perpetual OutOfSync in Argo CD (argo-cd #11074): every SmtpRelay sample and
// the full fixture are applied to the real API server and read back, and Argo
// CD's own diff (gitops-engine pkg/diff.Diff, built from the Go module proxy in
// ./argocd-diff-reference, pinned in its go.sum, Argo CD's default options:
// the classic three-way diff against kubectl's last-applied-configuration) must
// report them in sync: right after apply, and again after the operator has
// reconciled them and written their status.
// (It is in the integration project because it needs Go, like the control plane.)
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import type { OperatorHandle } from '../../../src/controller/operator.js';
import { repoRoot } from '../../helpers/cli.js';
import { createTestNamespace, waitFor, type TestNamespace } from '../../harness/kube.js';
import { kubectlOk, runOperatorInProcess } from '../operator/helpers.js';

const sourceDir = path.join(repoRoot, 'test', 'integration', 'deploy', 'argocd-diff-reference');
let binDir = '';
let bin = '';

interface Verdict {
  modified: boolean;
  paths: string[];
}
interface Result {
  raw: Verdict;
  ignoreStatus: Verdict;
  error?: string;
}
type Obj = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; generation?: number; annotations?: Record<string, string> }; spec?: Record<string, unknown>; status?: { observedGeneration?: number } };

function reference(pairs: { desired: unknown; live: unknown }[]): Result[] {
  const r = spawnSync(bin, [], { input: JSON.stringify(pairs), encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) throw new Error(`argocd diff reference failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Result[];
}

// Every SmtpRelay and SmtpUser in deploy/samples, and the fixture that sets every spec field.
const manifestFiles = [
  ...fs.readdirSync(path.join(repoRoot, 'deploy', 'samples')).filter((f) => /^(smtprelay|smtpuser)-.*\.yaml$/.test(f)).map((f) => path.join('deploy', 'samples', f)),
  path.join('test', 'fixtures', 'valid', 'full.yaml'),
];

let ns: TestNamespace;
let operator: OperatorHandle | undefined;
/** [file, how applied, the manifest as Argo CD would hold it] */
const desired: [string, 'client-side' | 'server-side', Obj][] = [];

beforeAll(() => {
  binDir = fs.mkdtempSync(path.join(os.tmpdir(), 'argocd-diff-ref-'));
  bin = path.join(binDir, 'argocd-diff-reference');
  // Incremental through Go's build cache: slow only the first time on a machine.
  const r = spawnSync('go', ['build', '-mod=readonly', '-o', bin, '.'], { cwd: sourceDir, encoding: 'utf8', timeout: 600_000 });
  if (r.error) throw new Error(`go is needed to build the Argo CD diff reference: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`building the Argo CD diff reference failed: ${r.stderr}`);
}, 600_000);

beforeAll(async () => {
  ns = await createTestNamespace('argocd-diff');
  for (const file of manifestFiles) {
    const docs = (parse(fs.readFileSync(path.join(repoRoot, file), 'utf8'), { merge: false }) as Obj | null) ?? undefined;
    if (!docs || (docs.kind !== 'SmtpRelay' && docs.kind !== 'SmtpUser')) throw new Error(`${file} is not one SmtpRelay or SmtpUser`);
    const stem = path.basename(file, '.yaml').replace(/^smtprelay-/, '');
    // Argo CD sets the destination namespace on the manifests it applies; so do we.
    // Client-side apply is Argo CD's default; ServerSideApply=true is its opt-in.
    for (const how of ['client-side', 'server-side'] as const) {
      const obj: Obj = { ...docs, metadata: { ...docs.metadata, name: `${stem}-${how === 'client-side' ? 'csa' : 'ssa'}`, namespace: ns.name } };
      const args = how === 'client-side' ? ['apply', '-f', '-'] : ['apply', '--server-side', '--field-manager=argocd-controller', '-f', '-'];
      await kubectlOk(args, JSON.stringify(obj));
      desired.push([file, how, obj]);
    }
  }
}, 120_000);

afterAll(async () => {
  await operator?.stop();
  await ns?.cleanup();
  if (binDir) fs.rmSync(binDir, { recursive: true, force: true });
});

async function live(obj: Obj): Promise<Obj> {
  return JSON.parse(await kubectlOk(['-n', ns.name, 'get', obj.kind.toLowerCase(), obj.metadata.name, '-o', 'json'])) as Obj;
}

/** Argo CD's verdict on every applied manifest against its live object, keyed "file (how)". */
async function verdicts(): Promise<Record<string, Result>> {
  const lives = await Promise.all(desired.map(([, , obj]) => live(obj)));
  const results = reference(desired.map(([, , obj], i) => ({ desired: obj, live: lives[i] })));
  return Object.fromEntries(desired.map(([file, how], i) => [`${file} (${how})`, results[i]!]));
}

/** Paths under spec the live object has and the manifest lacks: what the server filled in. */
function filledByServer(manifest: unknown, liveValue: unknown, at = ''): string[] {
  if (liveValue === null || typeof liveValue !== 'object') return manifest === undefined ? [at] : [];
  if (manifest === undefined) return [at];
  return Object.entries(liveValue as Record<string, unknown>).flatMap(([k, v]) => filledByServer((manifest as Record<string, unknown>)[k], v, `${at}/${k}`));
}

const inSync: Result = { raw: { modified: false, paths: [] }, ignoreStatus: { modified: false, paths: [] } };

describe('Argo CD sees every sample in sync', () => {
  test('the reference is live: an edited live field is reported, with its path', async () => {
    const [, , obj] = desired[0]!;
    const l = await live(obj);
    const edited = { ...l, spec: { ...l.spec, hostname: 'drifted.example.com' } };
    const [r] = reference([{ desired: obj, live: edited }]);
    expect(r).toEqual({ raw: { modified: true, paths: ['/spec/hostname'] }, ignoreStatus: { modified: true, paths: ['/spec/hostname'] } });
  });

  test('right after apply', async () => {
    const all = await verdicts();
    expect(Object.keys(all)).toHaveLength(manifestFiles.length * 2);
    for (const v of Object.values(all)) expect(v).toEqual(inSync);
    // The classic trigger of argo-cd #11074 is present: CRD structural defaults the manifests lack.
    const full = desired.find(([file, how]) => file.endsWith('full.yaml') && how === 'client-side')![2];
    const ses = desired.find(([file, how]) => file.endsWith('smtprelay-ses.yaml') && how === 'client-side')![2];
    const sesFilled = filledByServer(ses.spec, (await live(ses)).spec, '/spec');
    expect(sesFilled.length).toBeGreaterThan(0);
    process.stdout.write(`ARGOCD-DIFF server-filled: ses ${sesFilled.join(' ')}; full ${filledByServer(full.spec, (await live(full)).spec, '/spec').join(' ')}\n`);
    // client-side apply leaves the annotation Argo CD's three-way diff reads.
    const csa = await live(desired.find(([, how]) => how === 'client-side')![2]);
    expect(csa.metadata.annotations?.['kubectl.kubernetes.io/last-applied-configuration']).toBeDefined();
  });

  test('the real server can put a sample out of sync: a field it prunes is reported', async () => {
    const [, , base] = desired.find(([, how]) => how === 'client-side')!;
    // E.g. a field name from before a v1alpha1 rename, left in someone's Git repository:
    // the server prunes it (structural schema), and Argo CD would show the app OutOfSync for ever.
    const obj: Obj = { ...base, metadata: { ...base.metadata, name: 'pruned-csa' }, spec: { ...base.spec, retiredField: 'x' } };
    await kubectlOk(['apply', '--validate=false', '-f', '-'], JSON.stringify(obj));
    const [r] = reference([{ desired: obj, live: await live(obj) }]);
    expect(r!.ignoreStatus).toEqual({ modified: true, paths: ['/spec/retiredField'] });
  });

  test('after the operator has reconciled them and written their status', async () => {
    operator = await runOperatorInProcess(ns.name);
    for (const [, , obj] of desired) {
      await waitFor(async () => {
        const l = await live(obj);
        return l.status?.observedGeneration !== undefined && l.status.observedGeneration === l.metadata.generation;
      }, { description: `${obj.metadata.name} reconciled`, timeoutMs: 30_000, intervalMs: 200 });
    }
    const all = await verdicts();
    for (const v of Object.values(all)) expect(v).toEqual(inSync);
  }, 120_000);
});
