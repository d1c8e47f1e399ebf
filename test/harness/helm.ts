// Real helm v4 (built from helm.sh/helm/v4 by `npm run controlplane:build` into .cache/bin/helm)
// against the test control plane, with config/cache/data dirs under .cache/helm so nothing of the
// user's ~/.config/helm is read or written.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { repoRoot } from '../helpers/cli.js';
import { defaultBinDir, requireBinary } from './controlplane.js';
import { kubeconfigPath, type KubectlResult } from './kube.js';

export const CHART_DIR = path.join(repoRoot, 'charts', 'smtp-relay-operator');

// Helm's config/cache/data dirs: the repository's, never the user's (the tests add no repos or plugins).
const helmHome = path.join(repoRoot, '.cache', 'helm');

function helmEnv(kubeconfig: string | undefined): NodeJS.ProcessEnv {
  return {
    ...process.env,
    ...(kubeconfig ? { KUBECONFIG: kubeconfig } : {}),
    HELM_CONFIG_HOME: path.join(helmHome, 'config'),
    HELM_CACHE_HOME: path.join(helmHome, 'cache'),
    HELM_DATA_HOME: path.join(helmHome, 'data'),
  };
}

export interface HelmOptions {
  /** Commands that talk to the API server need it; `template`/`lint` do not. */
  cluster?: boolean;
  timeoutMs?: number;
}

/** Runs .cache/bin/helm. Never throws on a non-zero exit. */
export function helm(args: string[], opts: HelmOptions = {}): Promise<KubectlResult> {
  const bin = requireBinary(defaultBinDir, 'helm');
  const env = helmEnv(opts.cluster ? kubeconfigPath() : undefined);
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
  });
}
