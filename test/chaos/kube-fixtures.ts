// kubectl-based fixtures that take an explicit kubeconfig, so the same code works on the
// shared control plane and on a private one (fault tests own theirs).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { SmtpRelay } from '../../src/api/types.js';
import { kubectl } from '../harness/kube.js';

export async function kubectlIn(kubeconfig: string, args: string[], input?: string): Promise<string> {
  const r = await kubectl(args, { kubeconfig, input });
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

export async function getJson<T>(kubeconfig: string, args: string[]): Promise<T | undefined> {
  const r = await kubectl([...args, '-o', 'json'], { kubeconfig });
  if (r.code !== 0) {
    if (/NotFound|not found/.test(r.stderr)) return undefined;
    throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
  }
  return JSON.parse(r.stdout) as T;
}

/** A self-signed ECDSA certificate as a kubernetes.io/tls Secret; returns the PEMs. */
export async function createTlsSecretIn(kubeconfig: string, namespace: string, name: string, hostname: string): Promise<{ cert: string; key: string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chaos-tls-'));
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '30', '-subj', `/CN=${hostname}`, '-addext', `subjectAltName=DNS:${hostname}`, '-keyout', path.join(dir, 'tls.key'), '-out', path.join(dir, 'tls.crt')], { stdio: 'ignore' });
    await kubectlIn(kubeconfig, ['-n', namespace, 'create', 'secret', 'tls', name, `--cert=${path.join(dir, 'tls.crt')}`, `--key=${path.join(dir, 'tls.key')}`]);
    return { cert: fs.readFileSync(path.join(dir, 'tls.crt'), 'utf8'), key: fs.readFileSync(path.join(dir, 'tls.key'), 'utf8') };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export async function createGenericSecretIn(kubeconfig: string, namespace: string, name: string, data: Record<string, string>): Promise<void> {
  await kubectlIn(kubeconfig, ['-n', namespace, 'create', 'secret', 'generic', name, ...Object.entries(data).map(([k, v]) => `--from-literal=${k}=${v}`)]);
}

export async function applyIn(kubeconfig: string, obj: unknown): Promise<void> {
  await kubectlIn(kubeconfig, ['apply', '-f', '-'], JSON.stringify(obj));
}

export async function getRelayIn(kubeconfig: string, namespace: string, name: string): Promise<SmtpRelay | undefined> {
  return getJson<SmtpRelay>(kubeconfig, ['-n', namespace, 'get', 'smtprelay', name]);
}

export function conditionOf(relay: SmtpRelay | undefined, type: string) {
  return relay?.status?.conditions?.find((c) => c.type === type);
}

/** Reconciled: the status describes the current generation. */
export function isObserved(relay: SmtpRelay | undefined): boolean {
  return !!relay && relay.status?.observedGeneration === relay.metadata.generation;
}

/**
 * Stands in for the Deployment controller (none runs here): the status it would write
 * once every replica of the current template is available.
 */
export async function simulateAvailableIn(kubeconfig: string, namespace: string, name: string): Promise<void> {
  const d = await getJson<{ metadata: { generation: number }; spec: { replicas?: number } }>(kubeconfig, ['-n', namespace, 'get', 'deployment', name]);
  if (!d) throw new Error(`Deployment ${namespace}/${name} does not exist`);
  const n = d.spec.replicas ?? 1;
  const status = { status: { observedGeneration: d.metadata.generation, replicas: n, updatedReplicas: n, readyReplicas: n, availableReplicas: n } };
  await kubectlIn(kubeconfig, ['-n', namespace, 'patch', 'deployment', name, '--subresource=status', '--type=merge', '-p', JSON.stringify(status)]);
}
