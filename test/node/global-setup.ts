// jest globalSetup of the `node` project: the e2e tests on the real single-node cluster
// that `npm run cluster:up` (scripts/cluster/up.mjs) starts. It starts nothing itself:
// it points the workers at that cluster (KUBECONFIG, SRO_NODE_IP) and fails the run,
// naming the command, when the cluster is not up. Never a silent skip.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
/** Written by cluster:up (scripts/cluster/layout.mjs paths.adminKubeconfig). */
export const clusterKubeconfig = path.join(repoRoot, '.cache', 'cluster', 'kubeconfigs', 'admin.kubeconfig');
/** The node address pods reach (scripts/cluster/layout.mjs net.nodeIp). */
export const nodeIp = '198.18.0.1';

export default async function globalSetup(): Promise<void> {
  if (!fs.existsSync(clusterKubeconfig)) {
    throw new Error(`the node e2e tests need the test cluster: run \`sudo npm run cluster:up\` first (${clusterKubeconfig} does not exist)`);
  }
  process.env.KUBECONFIG = clusterKubeconfig;
  process.env.SRO_NODE_IP = nodeIp;
}
