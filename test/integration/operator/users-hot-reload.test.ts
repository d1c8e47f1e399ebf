// A change of the static users Secret (spec.auth.secretRef) reaches the running relay by hot
// reload, not by a rollout: the pod template's checksum no longer covers the users Secrets,
// so adding a user neither restarts the relay process nor drops its connections.
// Real API server, operator in process, relay processes from the development-only local runtime.
import { afterAll, beforeAll, expect, jest, test } from '@jest/globals';
import bcrypt from 'bcryptjs';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { OperatorHandle } from '../../../src/controller/operator.js';
import { createTestNamespace, kubeconfigPath, waitFor, type TestNamespace } from '../../harness/kube.js';
import { startLocalRuntime, type LocalRelay, type LocalRuntime } from '../../harness/local-runtime.js';
import { SIM_LOCAL_RUNTIME } from '../../harness/simulated.js';
import { cliPath, nodeBin } from '../../helpers/cli.js';
import { createTestCa } from '../../helpers/smtp/certs.js';
import { applyRelay, kubectlOk, relayManifest, runOperatorInProcess, USERS_SECRET } from './helpers.js';

jest.setTimeout(120_000);
const run = promisify(execFile);
const HOST = 'hot.example.test';

let ns: TestNamespace;
let operator: OperatorHandle;
let runtime: LocalRuntime;
let workDir: string;
const runtimeLog: string[] = [];

beforeAll(async () => {
  if (!fs.existsSync(cliPath)) throw new Error(`${cliPath} is missing: npm run build first`);
  ns = await createTestNamespace('users-hot');
  workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'users-hot-'));
  const ca = createTestCa(path.join(workDir, 'ca'));
  const leaf = ca.issue('relay', [HOST]);
  fs.writeFileSync(path.join(workDir, 'tls.crt'), leaf.cert);
  fs.writeFileSync(path.join(workDir, 'tls.key'), leaf.key);
  await kubectlOk(['-n', ns.name, 'create', 'secret', 'tls', 'relay-cert', `--cert=${path.join(workDir, 'tls.crt')}`, `--key=${path.join(workDir, 'tls.key')}`]);
  await kubectlOk(['-n', ns.name, 'create', 'secret', 'generic', USERS_SECRET, `--from-literal=alice=${bcrypt.hashSync('alice-password', 4)}`]);
  operator = await runOperatorInProcess(ns.name);
  runtime = await startLocalRuntime({ kubeconfig: kubeconfigPath(), namespace: ns.name, cliPath, nodeBin, workDir: path.join(workDir, 'rt'), pollMs: 250, log: (l) => runtimeLog.push(l) });
  await applyRelay(relayManifest(ns.name, 'hot', { hostname: HOST, tls: { secretName: 'relay-cert' } }));
});

afterAll(async () => {
  await runtime?.stop();
  await operator?.stop();
  await ns?.cleanup();
  if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
});

async function relayProcess(): Promise<LocalRelay> {
  return waitFor(async () => runtime.relays().find((r) => r.name === 'hot' && r.ready && r.pid !== undefined), { description: 'relay ready', timeoutMs: 60_000, intervalMs: 200 }).catch((err: Error) => {
    throw new Error(`${err.message}\n${runtimeLog.slice(-20).join('\n')}`);
  });
}

async function auth(user: string, password: string): Promise<boolean> {
  const relay = await relayProcess();
  const args = ['--server', `127.0.0.1:${relay.ports.submission}`, '--tls', '--tls-verify', '--tls-ca-path', path.join(workDir, 'ca', 'ca.crt'), '--tls-sni', HOST, '--auth', 'PLAIN', '--auth-user', user, '--auth-password', password, '--quit-after', 'AUTH'];
  return run('swaks', args, { timeout: 20_000 }).then(() => true, () => false);
}

test(`adding a user to the users Secret: the new user can AUTH within seconds, and the relay process is the same ${SIM_LOCAL_RUNTIME}`, async () => {
  const before = await relayProcess();
  expect(await auth('alice', 'alice-password')).toBe(true);
  expect(await auth('bob', 'bob-password')).toBe(false);
  const secret = await kubectlOk(['-n', ns.name, 'create', 'secret', 'generic', USERS_SECRET, `--from-literal=alice=${bcrypt.hashSync('alice-password', 4)}`, `--from-literal=bob=${bcrypt.hashSync('bob-password', 4)}`, '--dry-run=client', '-o', 'json']);
  await kubectlOk(['apply', '-f', '-'], secret);
  await waitFor(async () => ((await auth('bob', 'bob-password')) ? true : undefined), { description: 'bob can AUTH', timeoutMs: 20_000, intervalMs: 500 });
  // Give the operator time to reconcile the Secret event (it would roll the pods on a checksum change).
  await new Promise((r) => setTimeout(r, 3000));
  const after = await relayProcess();
  expect(after.pid).toBe(before.pid);
  expect(runtimeLog.filter((l) => /started relay replica/.test(l))).toHaveLength(1);
});
