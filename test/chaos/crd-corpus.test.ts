// Hostile input through the API: every manifest of test/fixtures/invalid/ (each must be
// refused by the API server) and every one of test/fixtures/valid/ (admitted, most with
// Secrets or issuers that do not exist) applied while an operator process runs. None may
// be admitted when invalid; none may crash or wedge the operator: afterwards every admitted
// relay has a status for its generation and a fresh valid relay is reconciled.
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createTestNamespace, kubeconfigPath, kubectl, waitFor, type TestNamespace } from '../harness/kube.js';
import { repoRoot } from '../helpers/cli.js';
import { relayManifest, USERS_SECRET } from '../integration/operator/helpers.js';
import { applyIn, createGenericSecretIn, createTlsSecretIn, getJson, getRelayIn, isObserved } from './kube-fixtures.js';
import { startOperatorProcess, type OperatorProcess } from './operator-process.js';

jest.setTimeout(120_000);

const invalidDir = path.join(repoRoot, 'test', 'fixtures', 'invalid');
const validDir = path.join(repoRoot, 'test', 'fixtures', 'valid');
let ns: TestNamespace;
let op: OperatorProcess;
let root: string;

beforeAll(async () => {
  ns = await createTestNamespace('crd-corpus');
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'crd-corpus-'));
  op = startOperatorProcess({ kubeconfig: kubeconfigPath(), namespace: ns.name, logPath: path.join(root, 'operator.log'), podName: 'corpus-op' });
});
afterAll(async () => {
  await op?.stop();
  await ns?.cleanup();
  fs.rmSync(root, { recursive: true, force: true });
});

describe('CRD corpus against a running operator', () => {
  test('every invalid manifest is refused; valid ones are admitted and get a status; the operator survives all of it', async () => {
    const invalid = fs.readdirSync(invalidDir).filter((f) => f.endsWith('.yaml'));
    expect(invalid.length).toBeGreaterThan(50);
    // One kubectl call per directory: kubectl reports each refused document and goes on.
    const bad = await kubectl(['-n', ns.name, 'apply', '-f', invalidDir], { timeoutMs: 90_000 });
    expect(bad.code).not.toBe(0);
    const admitted = (await getJson<{ items: { metadata: { name: string } }[] }>(kubeconfigPath(), ['-n', ns.name, 'get', 'smtprelays']))?.items ?? [];
    expect(admitted.map((r) => r.metadata.name)).toEqual([]);

    const good = await kubectl(['-n', ns.name, 'apply', '-f', validDir], { timeoutMs: 60_000 });
    expect(good.stderr).toBe('');
    const names = good.stdout.split('\n').filter(Boolean).map((l) => /smtprelay\.smtprelay\.dev\/(\S+)/.exec(l)?.[1]).filter(Boolean) as string[];
    expect(names.length).toBe(fs.readdirSync(validDir).filter((f) => f.endsWith('.yaml')).length);
    await waitFor(async () => {
      for (const n of names) if (!isObserved(await getRelayIn(kubeconfigPath(), ns.name, n))) return false;
      return true;
    }, { description: 'a status for every valid fixture', timeoutMs: 60_000, intervalMs: 300 });
    expect(op.proc.hasExited).toBe(false);

    // Not wedged: a relay created now, with everything it needs, gets its children.
    await createGenericSecretIn(kubeconfigPath(), ns.name, USERS_SECRET, { alice: 'corpus-password' });
    await createTlsSecretIn(kubeconfigPath(), ns.name, 'after-cert', 'after.example.test');
    await applyIn(kubeconfigPath(), relayManifest(ns.name, 'after-corpus', { tls: { secretName: 'after-cert' } }));
    const r = await waitFor(async () => {
      const x = await getRelayIn(kubeconfigPath(), ns.name, 'after-corpus');
      return isObserved(x) ? x : undefined;
    }, { description: 'the valid relay reconciled', timeoutMs: 30_000 });
    expect(r.status?.conditions?.find((c) => c.type === 'Stalled')?.status).toBe('False');
    expect(await getJson(kubeconfigPath(), ['-n', ns.name, 'get', 'deployment', 'after-corpus'])).toBeDefined();
    expect(op.proc.hasExited).toBe(false);
    expect(fs.readFileSync(path.join(root, 'operator.log'), 'utf8')).not.toMatch(/unhandled|uncaught|TypeError|RangeError/i);
  });
});
