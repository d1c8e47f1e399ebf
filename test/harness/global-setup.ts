// jest globalSetup of the integration project: starts one shared real control
// plane (etcd + kube-apiserver, CRDs from crds/, cert-manager when
// test/harness/cert-manager.ts exists) and hands it to the test workers through
// the environment, which workers inherit:
//   KUBECONFIG                     admin kubeconfig (system:masters)
//   SMTP_RELAY_CONTROLPLANE_STATE  JSON file with server, CA/admin cert paths, etcd endpoint, ...
//   SMTP_RELAY_CERT_MANAGER        '1' when cert-manager runs (ClusterIssuer test-ca is ready), else '0'
// Set SMTP_RELAY_CERT_MANAGER=0 before running jest to start without cert-manager.
import fs from 'node:fs/promises';
import path from 'node:path';
import { tsImport } from 'tsx/esm/api';
import type { ControlPlane } from './controlplane.js';

// jest loads globalSetup as native ESM, where './x.js' does not resolve to x.ts;
// tsx loads the harness (and its relative .js imports) the same way `npm start` does.
type Harness = typeof import('./controlplane.js');

declare global {
  var __SMTP_RELAY_CONTROLPLANE__: ControlPlane | undefined;
}

export default async function globalSetup(): Promise<void> {
  // Development switch for relay/probe-only iteration (tests that need Kubernetes then fail):
  // never set by npm test or CI.
  if (process.env.SMTP_RELAY_CONTROLPLANE === 'off') {
    process.stdout.write('\nSMTP_RELAY_CONTROLPLANE=off: no test control plane started\n');
    return;
  }
  const { startControlPlane, stateFilePath } = (await tsImport('./controlplane.ts', import.meta.url)) as Harness;
  const certManager = process.env.SMTP_RELAY_CERT_MANAGER !== '0';
  const cp = await startControlPlane({ certManager });
  globalThis.__SMTP_RELAY_CONTROLPLANE__ = cp;

  const state = {
    pid: process.pid,
    kubeconfigPath: cp.kubeconfigPath,
    server: cp.server,
    workDir: cp.workDir,
    caCertPath: cp.caCertPath,
    adminCertPath: cp.adminCertPath,
    adminKeyPath: cp.adminKeyPath,
    etcdEndpoint: cp.etcdEndpoint,
    certManager: cp.certManager,
    crds: cp.crds,
    timings: cp.timings,
  };
  const json = `${JSON.stringify(state, null, 2)}\n`;
  const ownState = path.join(cp.workDir, 'state.json');
  await fs.writeFile(ownState, json);
  // The well-known copy is for people and tools; with parallel jest runs the last one wins.
  await fs.mkdir(path.dirname(stateFilePath), { recursive: true });
  await fs.writeFile(stateFilePath, json);

  process.env.KUBECONFIG = cp.kubeconfigPath;
  process.env.SMTP_RELAY_CONTROLPLANE_STATE = ownState;
  process.env.SMTP_RELAY_CERT_MANAGER = cp.certManager ? '1' : '0';
  process.stdout.write(
    `\ntest control plane ready at ${cp.server} in ${cp.timings.total}ms (${cp.crds.length} CRDs, cert-manager ${cp.certManager ? 'on' : 'off'})\n`,
  );
}
