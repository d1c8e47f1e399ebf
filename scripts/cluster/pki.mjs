// The cluster's certificates and kubeconfigs. The CA, admin cert and service-account
// key pair come from the test harness's PKI (test/harness/pki.ts, openssl CLI); the
// node's own identities are leaf certs from the same CA, named as Kubernetes expects
// them (the Node authorizer and the default RBAC bindings key on these names).
import fs from 'node:fs';
import path from 'node:path';
import { apiServerUrl, net, nodeName, paths, repoRoot } from './layout.mjs';

const client = ['keyUsage=critical,digitalSignature', 'extendedKeyUsage=clientAuth'];
const server = (sans) => ['keyUsage=critical,digitalSignature', 'extendedKeyUsage=serverAuth', `subjectAltName=${sans}`];

/** name -> [subject, extensions]. */
const leaves = {
  'kube-apiserver': [
    '/CN=kube-apiserver',
    server(
      [
        `IP:${net.nodeIp}`,
        `IP:${net.apiServiceIp}`,
        'IP:127.0.0.1',
        'DNS:localhost',
        'DNS:kubernetes',
        'DNS:kubernetes.default',
        'DNS:kubernetes.default.svc',
        `DNS:kubernetes.default.svc.${net.clusterDomain}`,
      ].join(','),
    ),
  ],
  'apiserver-kubelet-client': ['/O=system:masters/CN=kube-apiserver-kubelet-client', client],
  kubelet: [`/CN=${nodeName}`, server(`IP:${net.nodeIp},DNS:${nodeName}`)],
  'kubelet-client': [`/O=system:nodes/CN=system:node:${nodeName}`, client],
  'kube-controller-manager': ['/CN=system:kube-controller-manager', client],
  'kube-scheduler': ['/CN=system:kube-scheduler', client],
  'kube-proxy': ['/CN=system:kube-proxy', client],
  // API aggregation: the API server proxies metrics.k8s.io to metrics-server with this identity
  // (--requestheader-allowed-names). Production clusters use a CA of its own for it; one CA here.
  'front-proxy-client': ['/CN=front-proxy-client', client],
  'metrics-server': ['/CN=metrics-server', server(`IP:${net.nodeIp},DNS:metrics-server.kube-system.svc`)],
};

/** Client cert per kubeconfig (admin's comes from createPki). */
const kubeconfigUsers = {
  admin: 'admin',
  kubelet: 'kubelet-client',
  'kube-controller-manager': 'kube-controller-manager',
  'kube-scheduler': 'kube-scheduler',
  'kube-proxy': 'kube-proxy',
};

/** A kubeconfig for one client certificate (files referenced, not embedded, except for admin). */
function kubeconfig({ user, cert, key, embed = false }) {
  const b64 = (p) => fs.readFileSync(p).toString('base64');
  const cluster = embed ? { server: apiServerUrl, 'certificate-authority-data': b64(path.join(paths.pki, 'ca.crt')) } : { server: apiServerUrl, 'certificate-authority': path.join(paths.pki, 'ca.crt') };
  const creds = embed ? { 'client-certificate-data': b64(cert), 'client-key-data': b64(key) } : { 'client-certificate': cert, 'client-key': key };
  return JSON.stringify(
    {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'sro-cluster', cluster }],
      users: [{ name: user, user: creds }],
      contexts: [{ name: `${user}@sro-cluster`, context: { cluster: 'sro-cluster', user } }],
      'current-context': `${user}@sro-cluster`,
    },
    null,
    2,
  );
}

/** Creates the PKI and kubeconfigs unless they exist (a rerun of cluster:up keeps them). */
export async function ensurePki() {
  const done = path.join(paths.pki, '.complete');
  if (!fs.existsSync(done)) {
    fs.rmSync(paths.pki, { recursive: true, force: true });
    const { tsImport } = await import('tsx/esm/api');
    const { createPki, issueLeaf } = await tsImport(path.join(repoRoot, 'test', 'harness', 'pki.ts'), import.meta.url);
    const base = await createPki(paths.pki);
    const ca = { cert: base.caCertPath, key: base.caKeyPath };
    await Promise.all(Object.entries(leaves).map(([name, [subject, ext]]) => issueLeaf(paths.pki, name, ca, subject, ext)));
    fs.writeFileSync(done, `${new Date().toISOString()}\n`);
  }
  fs.mkdirSync(paths.kubeconfigs, { recursive: true, mode: 0o700 });
  for (const [name, certName] of Object.entries(kubeconfigUsers)) {
    const file = path.join(paths.kubeconfigs, `${name}.kubeconfig`);
    if (fs.existsSync(file)) continue;
    const cert = path.join(paths.pki, `${certName}.crt`);
    const key = path.join(paths.pki, `${certName}.key`);
    // admin's is self-contained: it is the one printed for tests and users.
    fs.writeFileSync(file, kubeconfig({ user: name, cert, key, embed: name === 'admin' }), { mode: 0o600 });
  }
}
