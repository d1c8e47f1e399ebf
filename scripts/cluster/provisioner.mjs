#!/usr/bin/env node
// TEST STAND-IN, not a product part: a tiny host-path PersistentVolume provisioner for
// the single-node test cluster, run by cluster:up as a host process (like Rancher's
// local-path-provisioner, without its helper pods and images). For PVCs of StorageClass
// `local-path` (WaitForFirstConsumer) that the scheduler has placed on the node, it makes a
// directory under --dir and a hostPath PV bound to the claim; when a PV of ours is
// Released, it deletes the directory and the PV (reclaimPolicy Delete).
// Usage: node scripts/cluster/provisioner.mjs --kubeconfig=FILE --dir=DIR
import fs from 'node:fs';
import path from 'node:path';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';

export const STORAGE_CLASS = 'local-path';
export const PROVISIONER = 'smtprelay.dev/test-host-path';
const SELECTED_NODE = 'volume.kubernetes.io/selected-node';
const PROVISIONED_BY = 'pv.kubernetes.io/provisioned-by';

const arg = (name) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const log = (msg) => process.stdout.write(`${new Date().toISOString()} ${msg}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The PV for a claim (pure). */
export function volumeFor(pvc, dir, node) {
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolume',
    metadata: { name: `pvc-${pvc.metadata.uid}`, annotations: { [PROVISIONED_BY]: PROVISIONER } },
    spec: {
      capacity: { storage: pvc.spec.resources?.requests?.storage ?? '1Gi' },
      accessModes: pvc.spec.accessModes ?? ['ReadWriteOnce'],
      persistentVolumeReclaimPolicy: 'Delete',
      storageClassName: STORAGE_CLASS,
      volumeMode: pvc.spec.volumeMode ?? 'Filesystem',
      claimRef: { apiVersion: 'v1', kind: 'PersistentVolumeClaim', namespace: pvc.metadata.namespace, name: pvc.metadata.name, uid: pvc.metadata.uid },
      hostPath: { path: dir, type: 'Directory' },
      nodeAffinity: { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: [node] }] }] } },
    },
  };
}

async function provision(api, root) {
  const pvcs = (await api.listPersistentVolumeClaimForAllNamespaces()).items;
  for (const pvc of pvcs) {
    const node = pvc.metadata.annotations?.[SELECTED_NODE];
    if (pvc.spec.storageClassName !== STORAGE_CLASS || pvc.spec.volumeName || pvc.status?.phase !== 'Pending' || !node) continue;
    const dir = path.join(root, `${pvc.metadata.namespace}_${pvc.metadata.name}_${pvc.metadata.uid}`);
    // Pods run as any non-root uid and fsGroup does not apply to hostPath: world-writable, as local-path does.
    fs.mkdirSync(dir, { recursive: true });
    fs.chmodSync(dir, 0o777);
    try {
      await api.createPersistentVolume({ body: volumeFor(pvc, dir, node) });
      log(`provisioned ${dir} for ${pvc.metadata.namespace}/${pvc.metadata.name}`);
    } catch (err) {
      if (err.code !== 409) throw err;
    }
  }
}

async function reclaim(api) {
  for (const pv of (await api.listPersistentVolume()).items) {
    if (pv.metadata.annotations?.[PROVISIONED_BY] !== PROVISIONER || pv.status?.phase !== 'Released') continue;
    fs.rmSync(pv.spec.hostPath.path, { recursive: true, force: true });
    await api.deletePersistentVolume({ name: pv.metadata.name }).catch((err) => {
      if (err.code !== 404) throw err;
    });
    log(`deleted ${pv.metadata.name} (${pv.spec.hostPath.path})`);
  }
}

async function main() {
  const kubeconfig = arg('kubeconfig');
  const root = arg('dir');
  if (!kubeconfig || !root) throw new Error('usage: provisioner.mjs --kubeconfig=FILE --dir=DIR');
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  const api = kc.makeApiClient(CoreV1Api);
  fs.mkdirSync(root, { recursive: true });
  let stopping = false;
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => (stopping = true));
  log(`watching PVCs of StorageClass ${STORAGE_CLASS}; volumes under ${root}`);
  while (!stopping) {
    try {
      await provision(api, root);
      await reclaim(api);
    } catch (err) {
      log(`error: ${err.message}`);
    }
    await sleep(1000);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) main().catch((err) => {
  log(`fatal: ${err.message}`);
  process.exit(1);
});
