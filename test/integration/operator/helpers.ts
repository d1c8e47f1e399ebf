// Shared pieces of the operator integration tests: run the operator in-process
// against the real test control plane, make TLS Secrets with openssl, read
// relays, and stand in for the Deployment controller this control plane lacks.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import bcrypt from 'bcryptjs';
import type { SmtpRelay, SmtpRelaySpec } from '../../../src/api/types.js';
import { createLogger } from '../../../src/common/logger.js';
import { loadKubeConfig } from '../../../src/kube/client.js';
import { getObject } from '../../../src/kube/apply.js';
import { kubeRequest } from '../../../src/kube/http.js';
import type { KubeObject } from '../../../src/kube/types.js';
import { createRelayEventRecorder } from '../../../src/controller/events.js';
import { parseOperatorFlags, type OperatorOptions } from '../../../src/controller/flags.js';
import { startOperator, type OperatorHandle } from '../../../src/controller/operator.js';
import { kubeconfigPath, kubectl } from '../../harness/kube.js';

export async function runOperatorInProcess(namespace: string, extraArgs: string[] = [], kubeconfig = kubeconfigPath()): Promise<OperatorHandle> {
  const opts = parseOperatorFlags(
    ['--namespace', namespace, '--leader-elect=false', '--tls-probe=off', '--mail-auth-check=off', '--metrics-port=0', '--health-port=0', '--bind-address=127.0.0.1', ...extraArgs],
    {},
  ) as OperatorOptions;
  const kc = loadKubeConfig({ kubeconfig });
  const logger = createLogger('operator-test', process.env.LOG_LEVEL ?? 'error');
  return startOperator(opts, { kubeConfig: kc, logger, recordEvent: createRelayEventRecorder(kc, logger) });
}

let admin: ReturnType<typeof loadKubeConfig> | undefined;

/** The admin credentials, loaded once per test file (loading runs the kubeconfig child process). */
export function adminKube() {
  return (admin ??= loadKubeConfig({ kubeconfig: kubeconfigPath() }));
}

/** A self-signed certificate + key made by openssl, as a kubernetes.io/tls Secret (via kubectl). */
export async function createTlsSecret(namespace: string, name: string, hostname: string, days = 90): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'relay-tls-'));
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', String(days), '-subj', `/CN=${hostname}`, '-addext', `subjectAltName=DNS:${hostname}`, '-keyout', path.join(dir, 'tls.key'), '-out', path.join(dir, 'tls.crt')], { stdio: 'ignore' });
    const r = await kubectl(['-n', namespace, 'create', 'secret', 'tls', name, `--cert=${path.join(dir, 'tls.crt')}`, `--key=${path.join(dir, 'tls.key')}`]);
    if (r.code !== 0) throw new Error(`kubectl create secret tls: ${r.stderr}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export const USERS_SECRET = 'smtp-users';

/** The SMTP users Secret the test relays reference: one user with a bcrypt hash. */
export async function createUsersSecret(namespace: string): Promise<void> {
  await kubectlOk(['-n', namespace, 'create', 'secret', 'generic', USERS_SECRET, `--from-literal=alice=${bcrypt.hashSync('correct horse battery staple', 4)}`]);
}

export function relayManifest(namespace: string, name: string, spec: Partial<SmtpRelaySpec>): SmtpRelay {
  return {
    apiVersion: 'smtprelay.dev/v1alpha1',
    kind: 'SmtpRelay',
    metadata: { name, namespace },
    // Submission listeners need auth (the CRD insists): every test relay uses the Secret from createUsersSecret.
    // PassThrough: these tests drive the Deployment path (simulateDeploymentAvailable); Durable relays (the API default) are tested in queue-*.test.ts.
    spec: { hostname: `${name}.example.test`, tls: {}, auth: { secretRef: { name: USERS_SECRET } }, upstream: { host: 'upstream.example.test' }, queue: { mode: 'PassThrough' }, ...spec },
  };
}

export async function kubectlOk(args: string[], input?: string): Promise<string> {
  const r = await kubectl(args, { input });
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

export async function applyRelay(relay: SmtpRelay): Promise<void> {
  await kubectlOk(['apply', '-f', '-'], JSON.stringify(relay));
}

export async function getRelay(namespace: string, name: string): Promise<SmtpRelay | undefined> {
  return (await getObject(adminKube(), { apiVersion: 'smtprelay.dev/v1alpha1', kind: 'SmtpRelay', namespace, name })) as unknown as SmtpRelay | undefined;
}

export function condition(relay: SmtpRelay | undefined, type: string) {
  return relay?.status?.conditions?.find((c) => c.type === type);
}

export async function getChild(kind: string, apiVersion: string, namespace: string, name: string): Promise<KubeObject | undefined> {
  return getObject(adminKube(), { apiVersion, kind, namespace, name });
}

/**
 * This control plane runs no kube-controller-manager and no kubelet, so nothing
 * ever reports a Deployment's pods. This stands in for them: it writes the status
 * the Deployment controller would write once `replicas` pods of the current
 * template are available. Only the status subresource is touched.
 */
export async function simulateDeploymentAvailable(namespace: string, name: string): Promise<void> {
  const kc = adminKube();
  const d = await getObject(kc, { apiVersion: 'apps/v1', kind: 'Deployment', namespace, name });
  if (!d) throw new Error(`Deployment ${namespace}/${name} does not exist`);
  const replicas = (d.spec as { replicas?: number }).replicas ?? 1;
  await kubeRequest(kc, {
    method: 'PATCH',
    path: `/apis/apps/v1/namespaces/${namespace}/deployments/${name}/status`,
    contentType: 'application/merge-patch+json',
    body: { status: { observedGeneration: d.metadata.generation, replicas, updatedReplicas: replicas, readyReplicas: replicas, availableReplicas: replicas } },
  });
}

export async function eventsFor(namespace: string, relayName: string): Promise<{ reason: string; type: string; message: string }[]> {
  const out = await kubectlOk(['-n', namespace, 'get', 'events', '-o', 'json', '--field-selector', `involvedObject.name=${relayName},involvedObject.kind=SmtpRelay`]);
  return (JSON.parse(out) as { items: { reason: string; type: string; message: string }[] }).items;
}
