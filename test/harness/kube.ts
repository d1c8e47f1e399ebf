// Helpers for tests that talk to the shared test control plane that jest's
// globalSetup started (process.env.KUBECONFIG points at its admin kubeconfig).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { KubeConfig } from '@kubernetes/client-node';
import { kubeJson, kubeRequest } from './kube-http.js';
import { targetFromKubeconfig } from './service-account.js';

export { serviceAccountKubeconfig } from './service-account.js';

export function kubeconfigPath(): string {
  const file = process.env.KUBECONFIG;
  if (!file) {
    throw new Error(
      'KUBECONFIG is not set: this test needs the real test control plane, which the integration jest project starts ' +
        'in its globalSetup (test/harness/global-setup.ts). Run it with --selectProjects integration.',
    );
  }
  return file;
}

/** A client-node KubeConfig for the shared control plane (admin). */
export function kubeConfig(file = kubeconfigPath()): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(file);
  return kc;
}

export interface TestNamespace {
  name: string;
  /** Deletes the namespace. Without kube-controller-manager it stays Terminating until the control plane stops. */
  cleanup(): Promise<void>;
}

export interface TestNamespaceOptions {
  labels?: Record<string, string>;
  kubeconfig?: string;
}

/**
 * Creates a namespace with a unique name (`<prefix>-<random>`) and its `default`
 * ServiceAccount (no kube-controller-manager creates it here, and Pod admission needs it).
 */
export async function createTestNamespace(prefix: string, opts: TestNamespaceOptions = {}): Promise<TestNamespace> {
  const base = prefix.toLowerCase().replace(/[^a-z0-9-]/g, '-').replace(/^-+|-+$/g, '').slice(0, 50) || 'test';
  const name = `${base}-${randomBytes(3).toString('hex')}`;
  const admin = await targetFromKubeconfig(opts.kubeconfig ?? kubeconfigPath());
  await kubeJson(admin, 'POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: opts.labels } });
  await kubeJson(admin, 'POST', `/api/v1/namespaces/${name}/serviceaccounts`, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default' } });
  return {
    name,
    async cleanup() {
      const res = await kubeRequest(admin, 'DELETE', `/api/v1/namespaces/${name}`);
      if (res.status !== 200 && res.status !== 202 && res.status !== 404) {
        throw new Error(`deleting namespace ${name} answered ${res.status}: ${res.text.slice(0, 300)}`);
      }
    },
  };
}

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface KubectlOptions {
  /** Written to kubectl's stdin (for `-f -`). */
  input?: string;
  /** Default: process.env.KUBECONFIG. */
  kubeconfig?: string;
  timeoutMs?: number;
}

/** Runs the machine's kubectl against the test control plane. Never throws on a non-zero exit. */
export function kubectl(args: string[], opts: KubectlOptions = {}): Promise<KubectlResult> {
  const env = { ...process.env, KUBECONFIG: opts.kubeconfig ?? kubeconfigPath() };
  return new Promise((resolve, reject) => {
    const child = spawn('kubectl', args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject((err as NodeJS.ErrnoException).code === 'ENOENT' ? new Error('kubectl is not installed (it is needed on PATH for this test)') : err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
    // kubectl may exit before it reads its input (it needs none for most commands): an EPIPE
    // here says nothing the exit code and stderr do not already say.
    child.stdin.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') reject(err);
    });
    child.stdin.end(opts.input ?? '');
  });
}

export interface WaitForOptions {
  timeoutMs?: number;
  intervalMs?: number;
  /** What is awaited, for the timeout message ("relay r1 Ready=True"). */
  description: string;
}

/**
 * Polls fn until it returns a value other than undefined/null/false and returns it.
 * Errors thrown by fn count as "not yet"; the last one is in the timeout message.
 */
export async function waitFor<T>(fn: () => Promise<T | undefined | null | false> | T | undefined | null | false, opts: WaitForOptions): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const intervalMs = opts.intervalMs ?? 200;
  const deadline = Date.now() + timeoutMs;
  let last = 'never evaluated';
  for (;;) {
    try {
      const value = await fn();
      if (value !== undefined && value !== null && value !== false) return value as T;
      last = `last result: ${String(value)}`;
    } catch (err) {
      last = `last error: ${(err as Error).message}`;
    }
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs}ms waiting for ${opts.description} (${last})`);
    await new Promise((r) => setTimeout(r, Math.min(intervalMs, Math.max(0, deadline - Date.now()))));
  }
}
