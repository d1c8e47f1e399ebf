// Kubeconfigs for ServiceAccounts, from the TokenRequest API, so RBAC tests can
// run the operator with a real ServiceAccount token instead of admin rights.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'yaml';
import { kubeJson, type KubeHttpTarget } from './kube-http.js';

interface KubeconfigFile {
  clusters?: { name: string; cluster: { server: string; 'certificate-authority-data'?: string } }[];
  users?: { name: string; user: { 'client-certificate-data'?: string; 'client-key-data'?: string; token?: string } }[];
  contexts?: { name: string; context: { cluster: string; user: string } }[];
  'current-context'?: string;
}

/** Reads the current context of a kubeconfig written by the harness (data embedded). */
export async function targetFromKubeconfig(kubeconfigPath: string): Promise<KubeHttpTarget> {
  const config = parse(await fs.readFile(kubeconfigPath, 'utf8')) as KubeconfigFile;
  const context = config.contexts?.find((c) => c.name === config['current-context'])?.context;
  const cluster = config.clusters?.find((c) => c.name === context?.cluster)?.cluster;
  const user = config.users?.find((u) => u.name === context?.user)?.user;
  const ca = cluster?.['certificate-authority-data'];
  if (!context || !cluster || !user || !ca) {
    throw new Error(`${kubeconfigPath}: expected a current context with a cluster (certificate-authority-data) and a user`);
  }
  const b = (s: string | undefined) => (s ? Buffer.from(s, 'base64') : undefined);
  return { server: cluster.server, ca: Buffer.from(ca, 'base64'), cert: b(user['client-certificate-data']), key: b(user['client-key-data']), token: user.token };
}

export function tokenKubeconfig(server: string, ca: Buffer, user: string, token: string, namespace: string): string {
  return JSON.stringify(
    {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'test', cluster: { server, 'certificate-authority-data': ca.toString('base64') } }],
      users: [{ name: user, user: { token } }],
      contexts: [{ name: user, context: { cluster: 'test', user, namespace } }],
      'current-context': user,
    },
    null,
    2,
  );
}

export interface ServiceAccountKubeconfigOptions {
  /** Token lifetime; the API server's minimum is 600. Default 3600. */
  expirationSeconds?: number;
  /** Create the ServiceAccount first if it does not exist. Default true. */
  create?: boolean;
}

/**
 * Writes a kubeconfig that authenticates as system:serviceaccount:<namespace>:<saName>
 * with a TokenRequest token, next to the admin kubeconfig; returns its path.
 * `cp` is a ControlPlane, or `{ kubeconfigPath: process.env.KUBECONFIG }` in a jest worker.
 */
export async function serviceAccountKubeconfig(
  cp: { kubeconfigPath: string },
  namespace: string,
  saName: string,
  opts: ServiceAccountKubeconfigOptions = {},
): Promise<string> {
  const admin = await targetFromKubeconfig(cp.kubeconfigPath);
  const saPath = `/api/v1/namespaces/${encodeURIComponent(namespace)}/serviceaccounts`;
  if (opts.create ?? true) {
    await kubeJson(admin, 'PATCH', `${saPath}/${encodeURIComponent(saName)}?fieldManager=test-harness`,
      { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: saName, namespace } }, 'application/apply-patch+yaml');
  }
  const review = await kubeJson<{ status?: { token?: string } }>(admin, 'POST', `${saPath}/${encodeURIComponent(saName)}/token`, {
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'TokenRequest',
    spec: { expirationSeconds: opts.expirationSeconds ?? 3600 },
  });
  const token = review.status?.token;
  if (!token) throw new Error(`TokenRequest for ${namespace}/${saName} returned no token`);
  const dir = path.join(path.dirname(cp.kubeconfigPath), 'kubeconfigs');
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  const file = path.join(dir, `${namespace}.${saName}.${randomBytes(3).toString('hex')}.kubeconfig`);
  await fs.writeFile(file, tokenKubeconfig(admin.server, admin.ca, `${namespace}-${saName}`, token, namespace), { mode: 0o600 });
  return file;
}
