// The operator's Kubernetes credentials as users run it (`node dist/cli.js operator`):
// client-node loads the kubeconfig in a child process, so the long-lived operator process never
// loads it; the operator then holds a plain connection and renews it.
// 1. A client-certificate kubeconfig (the test control plane's admin): the operator reconciles a
//    relay to Ready, and '@kubernetes/client-node' is not among the modules its process loaded.
// 2. A kubeconfig whose user gets a bound ServiceAccount token from a file, by tokenFile or by an
//    exec plugin: the file is rotated to a new token, the old one is revoked (its bound Secret
//    deleted: the API server's minimum token lifetime is 600 s, too long to wait for), and the
//    operator keeps listing and writing.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { parse } from 'yaml';
import { loadKubeConfig } from '../../../src/kube/client.js';
import { kubeRequest as operatorRequest } from '../../../src/kube/http.js';
import { cliPath, nodeBin, repoRoot } from '../../helpers/cli.js';
import { createTestNamespace, kubeconfigPath, kubectl, waitFor, type TestNamespace } from '../../harness/kube.js';
import { kubeJson, kubeRequest } from '../../harness/kube-http.js';
import { targetFromKubeconfig } from '../../harness/service-account.js';
import { applyRelay, condition, createTlsSecret, createUsersSecret, getRelay, kubectlOk, relayManifest, simulateDeploymentAvailable } from './helpers.js';

jest.setTimeout(180_000);

const SYSTEM_NS = 'smtp-relay-system';
const SA = 'smtp-relay-operator';
const MODULE_TRACE = path.join(repoRoot, 'test', 'helpers', 'module-trace.mjs');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'op-creds-'));
let ns: TestNamespace;
const operators: ChildProcess[] = [];

interface RunningOperator {
  child: ChildProcess;
  output: () => string;
  /** SIGTERM; resolves with the exit code. */
  stop(): Promise<number | null>;
}

function startOperator(kubeconfig: string, nodeArgs: string[] = [], env: NodeJS.ProcessEnv = {}): RunningOperator {
  const child = spawn(
    nodeBin,
    [...nodeArgs, cliPath, 'operator', '--kubeconfig', kubeconfig, '--namespace', ns.name, '--tls-probe=off', '--mail-auth-check=off', '--leader-elect=false', '--metrics-port=0', '--health-port=0', '--bind-address=127.0.0.1'],
    { env: { ...process.env, KUBECONFIG: '', LOG_LEVEL: 'info', ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  operators.push(child);
  let output = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (output += c));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (output += c));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    output: () => output,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

async function relayReady(name: string, op: RunningOperator): Promise<void> {
  await createTlsSecret(ns.name, `${name}-tls`, `${name}.example.test`);
  await applyRelay(relayManifest(ns.name, name, { tls: { secretName: `${name}-tls` } }));
  const explain = async (err: Error) => {
    throw new Error(`${err.message}\nrelay status: ${JSON.stringify((await getRelay(ns.name, name))?.status)}\noperator output:\n${op.output().slice(-4000)}`);
  };
  await waitFor(async () => (await kubectl(['-n', ns.name, 'get', 'deployment', name])).code === 0, { description: `Deployment ${name}`, timeoutMs: 60_000, intervalMs: 200 }).catch(explain);
  await simulateDeploymentAvailable(ns.name, name);
  await waitFor(async () => condition(await getRelay(ns.name, name), 'Ready')?.status === 'True', { description: `${name} Ready`, timeoutMs: 30_000, intervalMs: 200 }).catch(explain);
}

beforeAll(async () => {
  if (!fs.existsSync(cliPath)) throw new Error(`${cliPath} is missing: run 'npm run build' first (npm test does)`);
  ns = await createTestNamespace('op-creds');
  await createUsersSecret(ns.name);
});

afterAll(async () => {
  for (const c of operators) if (c.exitCode === null) c.kill('SIGKILL');
  await ns?.cleanup();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('client-certificate kubeconfig', () => {
  test('the operator reconciles to Ready, and its process never loads @kubernetes/client-node', async () => {
    const admin = parse(fs.readFileSync(kubeconfigPath(), 'utf8')) as { users: { user: Record<string, string> }[] };
    expect(admin.users[0]!.user['client-certificate-data']).toBeTruthy(); // this kubeconfig authenticates by client certificate

    const traceFile = path.join(tmp, 'modules.txt');
    const op = startOperator(kubeconfigPath(), ['--import', MODULE_TRACE], { MODULE_TRACE_FILE: traceFile });
    await relayReady('cert', op);
    expect(await op.stop()).toBe(0);

    const modules = fs.readFileSync(traceFile, 'utf8').split('\n');
    // The trace saw the operator's own graph, so an absence below means something.
    expect(modules.some((m) => m.endsWith('/dist/controller/operator.js'))).toBe(true);
    expect(modules.filter((m) => m.includes('@kubernetes/client-node'))).toEqual([]);
  });
});

describe('bound ServiceAccount tokens that rotate', () => {
  let adminTarget: Awaited<ReturnType<typeof targetFromKubeconfig>>;
  const saPath = `/api/v1/namespaces/${SYSTEM_NS}/serviceaccounts`;

  /** A TokenRequest token bound to a new Secret: deleting the Secret revokes the token. */
  async function boundToken(): Promise<{ token: string; secret: string }> {
    const secret = `creds-bind-${randomBytes(4).toString('hex')}`;
    const created = await kubeJson<{ metadata: { uid: string } }>(adminTarget, 'POST', `/api/v1/namespaces/${SYSTEM_NS}/secrets`, { apiVersion: 'v1', kind: 'Secret', metadata: { name: secret } });
    const review = await kubeJson<{ status: { token: string } }>(adminTarget, 'POST', `${saPath}/${SA}/token`, {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenRequest',
      spec: { expirationSeconds: 600, boundObjectRef: { apiVersion: 'v1', kind: 'Secret', name: secret, uid: created.metadata.uid } },
    });
    return { token: review.status.token, secret };
  }

  /** Writes the token file the way the kubelet does: the new content appears at once (rename). */
  function writeToken(file: string, token: string): void {
    fs.writeFileSync(`${file}.new`, token, { mode: 0o600 });
    fs.renameSync(`${file}.new`, file);
  }

  /** What the API server answers this token on a list in the test namespace. */
  async function statusFor(token: string): Promise<number> {
    return (await kubeRequest({ server: adminTarget.server, ca: adminTarget.ca, token }, 'GET', `/api/v1/namespaces/${ns.name}/configmaps`)).status;
  }

  beforeAll(async () => {
    adminTarget = await targetFromKubeconfig(kubeconfigPath());
    const created = await kubectl(['create', 'namespace', SYSTEM_NS]);
    if (created.code !== 0 && !/AlreadyExists/.test(created.stderr)) throw new Error(created.stderr);
    await kubectlOk(['apply', '-f', path.join(repoRoot, 'deploy', 'base', 'rbac.yaml')]);
    await kubeJson(adminTarget, 'PATCH', `${saPath}/${SA}?fieldManager=test-harness`, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: SA, namespace: SYSTEM_NS } }, 'application/apply-patch+yaml');
  });

  /**
   * Starts the operator with a kubeconfig whose user reads a bound token from a file (`user` is
   * given the file's path), rotates the file to a new token, revokes the old one, and checks that
   * the operator and a KubeCredentials still list and write.
   */
  async function rotationKeepsWorking(label: string, user: (tokenFile: string) => object): Promise<void> {
    const tokenFile = path.join(tmp, `${label}.token`);
    const first = await boundToken();
    writeToken(tokenFile, first.token);
    const kubeconfig = path.join(tmp, `${label}.kubeconfig`);
    fs.writeFileSync(
      kubeconfig,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'test', cluster: { server: adminTarget.server, 'certificate-authority-data': adminTarget.ca.toString('base64') } }],
        users: [{ name: 'operator', user: user(tokenFile) }],
        contexts: [{ name: 'operator', context: { cluster: 'test', user: 'operator' } }],
        'current-context': 'operator',
      }),
      { mode: 0o600 },
    );

    const op = startOperator(kubeconfig);
    // Loaded now, so it holds the first token as the operator does: lists after the rotation go through the same 401 path.
    const kc = loadKubeConfig({ kubeconfig });
    await relayReady(`${label}-before`, op);

    const second = await boundToken();
    writeToken(tokenFile, second.token);
    await kubeJson(adminTarget, 'DELETE', `/api/v1/namespaces/${SYSTEM_NS}/secrets/${first.secret}`);
    // The API server caches successful token reviews for a few seconds: wait until the old token is refused.
    await waitFor(async () => (await statusFor(first.token)) === 401, { description: 'the first token revoked', timeoutMs: 60_000, intervalMs: 500 });
    expect(await statusFor(second.token)).toBe(200);

    // Lists, through the same credentials code as the operator's.
    const list = await operatorRequest<{ items: unknown[] }>(kc, { method: 'GET', path: `/api/v1/namespaces/${ns.name}/secrets` });
    expect(list.items.length).toBeGreaterThan(0);
    // Writes: the operator applies a new relay's children and status with the new token.
    await relayReady(`${label}-after`, op);

    expect(await op.stop()).toBe(0);
    const output = op.output();
    expect(output).not.toContain(first.token);
    expect(output).not.toContain(second.token);
  }

  test('tokenFile: the file is rotated and the old token revoked; the operator re-reads it and keeps listing and writing', async () => {
    await rotationKeepsWorking('token-file', (tokenFile) => ({ tokenFile }));
  });

  test('exec plugin: after the old token is revoked, a 401 runs the kubeconfig child (and the plugin) again; the operator keeps listing and writing', async () => {
    // The plugin prints the file's current token, with no expiry: only a 401 makes the operator ask again.
    const script = path.join(tmp, 'exec-plugin.mjs');
    fs.writeFileSync(
      script,
      `import fs from 'node:fs';\nprocess.stdout.write(JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential', status: { token: fs.readFileSync(process.argv[2], 'utf8') } }));\n`,
    );
    await rotationKeepsWorking('exec', (tokenFile) => ({ exec: { apiVersion: 'client.authentication.k8s.io/v1', command: nodeBin, args: [script, tokenFile], interactiveMode: 'Never' } }));
  });
});
