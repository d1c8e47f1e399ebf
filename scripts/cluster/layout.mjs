// The test cluster's fixed facts: names, addresses, ports and where its state lives.
// Addresses come only from RFC 2544's benchmarking range (198.18.0.0/15): never 10/8,
// 172.16/12 or 192.168/16, and nothing is routed or masqueraded off the machine.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const binDir = path.join(repoRoot, '.cache', 'bin');
/** Everything cluster:up makes on disk (cluster:down removes it). */
export const stateDir = path.join(repoRoot, '.cache', 'cluster');

export const net = {
  /** The node's bridge: pods' veths attach to it; it carries NODE_IP, the pods' gateway. */
  bridge: 'sro-br0',
  /** The node address pods reach (their default gateway): the API server and test upstreams listen here. */
  nodeIp: '198.18.0.1',
  clusterCidr: '198.18.0.0/16',
  /** The first (and only) node's podCIDR from --allocate-node-cidrs with mask 24; up.mjs checks it. */
  nodePodCidr: '198.18.0.0/24',
  serviceCidr: '198.19.0.0/16',
  /** The `kubernetes` Service: the first address of the range. */
  apiServiceIp: '198.19.0.1',
  dnsServiceIp: '198.19.0.10',
  clusterDomain: 'cluster.local',
  /** nftables table of cluster:up's own rules (forwarding only between the bridge and pod veths). */
  nftTable: 'sro_cluster',
};

export const nodeName = 'sro-node';

/** Fixed ports, below the ephemeral range, so the jest control plane's free ports never collide. */
export const ports = {
  etcdClient: 12379,
  etcdPeer: 12380,
  apiServer: 6443,
  controllerManager: 10257,
  scheduler: 10259,
  kubelet: 10250,
  kubeletHealthz: 10248,
  kubeProxyHealthz: 10256,
  kubeProxyMetrics: 10249,
  coreDnsMetrics: 9153,
  // metrics-server's API (metrics.k8s.io), on NODE_IP: the API server's aggregator dials it there.
  metricsServer: 10262,
};

export const apiServerUrl = `https://${net.nodeIp}:${ports.apiServer}`;

export const paths = {
  pki: path.join(stateDir, 'pki'),
  kubeconfigs: path.join(stateDir, 'kubeconfigs'),
  adminKubeconfig: path.join(stateDir, 'kubeconfigs', 'admin.kubeconfig'),
  pids: path.join(stateDir, 'pids'),
  logs: path.join(stateDir, 'logs'),
  etcdData: path.join(stateDir, 'etcd'),
  config: path.join(stateDir, 'config'),
  containerdRoot: path.join(stateDir, 'containerd', 'root'),
  containerdState: path.join(stateDir, 'containerd', 'state'),
  containerdSocket: path.join(stateDir, 'containerd', 'containerd.sock'),
  runcRoot: path.join(stateDir, 'containerd', 'runc'),
  cniConfDir: path.join(stateDir, 'cni', 'net.d'),
  cniIpamDir: path.join(stateDir, 'cni', 'ipam'),
  kubeletRoot: path.join(stateDir, 'kubelet'),
  podLogs: path.join(stateDir, 'pod-logs'),
  volumes: path.join(stateDir, 'volumes'),
  /** What the machine looked like before cluster:up (sysctls, dirs, nft tables): cluster:down restores it. */
  before: path.join(stateDir, 'before.json'),
};

/** Host paths that Kubernetes parts hard-code (not configurable): cluster:down removes them if cluster:up created them. */
export const hardcodedHostPaths = ['/var/log/containers', '/run/containerd', '/var/lib/cni', '/var/run/netns', '/etc/cni', '/opt/containerd', '/run/nri', '/var/lib/kubelet'];

/** CNI plugins from Debian's containernetworking-plugins. */
export const cniBinDir = '/usr/lib/cni';
export const runcBinary = '/usr/bin/runc';

/** Image archives made by scripts/image/build.mjs and the references the cluster uses. */
export const images = {
  operator: { archive: path.join(repoRoot, '.cache', 'images', 'operator.tar'), ref: 'docker.io/library/smtp-relay-operator:dev' },
  pause: { archive: path.join(repoRoot, '.cache', 'images', 'pause.tar'), ref: 'localhost/pause:sro' },
  coredns: { archive: path.join(repoRoot, '.cache', 'images', 'coredns.tar'), ref: 'localhost/coredns:sro' },
};

/**
 * Sysctls cluster:up sets, or that the kubelet and kube-proxy set on start (kubelet: its
 * "kernel defaults"); cluster:down writes the values recorded before back.
 */
export const touchedSysctls = [
  'net/ipv4/ip_forward',
  'net/bridge/bridge-nf-call-iptables',
  'net/bridge/bridge-nf-call-ip6tables',
  'net/ipv4/conf/all/route_localnet',
  'vm/overcommit_memory',
  'vm/panic_on_oom',
  'kernel/panic',
  'kernel/panic_on_oops',
  'kernel/keys/root_maxkeys',
  'kernel/keys/root_maxbytes',
  'net/netfilter/nf_conntrack_max',
  'net/netfilter/nf_conntrack_tcp_timeout_established',
  'net/netfilter/nf_conntrack_tcp_timeout_close_wait',
];

/** Components in start order; cluster:down stops them in reverse. */
export const components = [
  'etcd',
  'kube-apiserver',
  'kube-controller-manager',
  'kube-scheduler',
  'containerd',
  'kubelet',
  'kube-proxy',
  'cert-manager',
  'local-path-provisioner',
  'metrics-server',
];
