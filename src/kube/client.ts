// Where the operator's cluster credentials come from, and whether a cluster answers.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KubeCredentials, loadConnection, loadConnectionSync, type KubeConfigSource } from './credentials.js';
import { kubeRequest } from './http.js';
import type { KubeConfig } from './kube-config.js';

const IN_CLUSTER_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

export interface LoadKubeConfigOptions {
  /** An explicit kubeconfig file; wins over everything else. */
  kubeconfig?: string;
  /** For tests: the environment and home directory to look at. */
  env?: NodeJS.ProcessEnv;
  homeDir?: string;
  /** Told when renewing the credentials fails (the message carries no secret); the old ones stay in use. */
  onCredentialError?: (message: string) => void;
}

/** Which source loadKubeConfig would use. Pure apart from file-existence checks. */
export function kubeConfigSource(opts: LoadKubeConfigOptions = {}): KubeConfigSource | undefined {
  const env = opts.env ?? process.env;
  if (opts.kubeconfig) return { kind: 'file', path: opts.kubeconfig };
  const fromEnv = env.KUBECONFIG?.split(path.delimiter).find((f) => f.length > 0);
  if (fromEnv) return { kind: 'file', path: fromEnv };
  if (env.KUBERNETES_SERVICE_HOST && env.KUBERNETES_SERVICE_PORT && fs.existsSync(IN_CLUSTER_TOKEN)) return { kind: 'in-cluster' };
  const home = path.join(opts.homeDir ?? os.homedir(), '.kube', 'config');
  if (fs.existsSync(home)) return { kind: 'file', path: home };
  return undefined;
}

/**
 * The credentials from: explicit path, else $KUBECONFIG (first file), else the in-cluster
 * service account, else ~/.kube/config. Throws a clear error when there is none
 * (client-node's loadFromDefault would silently pick localhost:8080).
 * client-node reads the kubeconfig in a child process (credentials.ts), not in this one.
 */
export function loadKubeConfig(opts: LoadKubeConfigOptions = {}): KubeCredentials {
  const source = kubeConfigSource(opts);
  if (!source) {
    throw new Error('no Kubernetes configuration found: pass --kubeconfig, set KUBECONFIG, run in a cluster, or create ~/.kube/config');
  }
  if (source.kind === 'file' && !fs.existsSync(source.path)) throw new Error(`kubeconfig file ${source.path} does not exist`);
  return new KubeCredentials(loadConnectionSync(source), { reload: () => loadConnection(source), onError: opts.onCredentialError });
}

/** True when GET /version answers 2xx within timeoutMs. Never throws. */
export async function isClusterReachable(kc: KubeConfig, timeoutMs = 3000): Promise<boolean> {
  try {
    await kubeRequest(kc, { method: 'GET', path: '/version', timeoutMs, signal: AbortSignal.timeout(timeoutMs) });
    return true;
  } catch {
    return false;
  }
}
