// The config files of the node's parts, as pure functions of the layout (no I/O here).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { binDir, cniBinDir, images, net, nodeName, paths, ports, runcBinary } from './layout.mjs';

const pki = (name) => path.join(paths.pki, name);

/** containerd 2.4 (config version 4): own root, state, socket; CRI with our CNI dir and the local pause image. */
export function containerdConfig({ snapshotter, restrictOomScoreAdj }) {
  const q = (s) => JSON.stringify(s);
  return `version = 4
root = ${q(paths.containerdRoot)}
state = ${q(paths.containerdState)}
# Not /etc/containerd/conf.d: this containerd reads only this file.
imports = []

# Defaults that write outside our state dir: /opt/containerd, /var/run/nri/nri.sock.
[plugins.'io.containerd.internal.v1.opt']
  path = ${q(path.join(paths.containerdState, 'opt'))}

[plugins.'io.containerd.nri.v1.nri']
  disable = true

[plugins.'io.containerd.server.v1.grpc']
  address = ${q(paths.containerdSocket)}

[plugins.'io.containerd.server.v1.ttrpc']
  address = ${q(`${paths.containerdSocket}.ttrpc`)}

[plugins.'io.containerd.cri.v1.images']
  snapshotter = ${q(snapshotter)}

[plugins.'io.containerd.cri.v1.images'.pinned_images]
  sandbox = ${q(images.pause.ref)}

[plugins.'io.containerd.cri.v1.runtime']
  enable_selinux = false
  # Without CAP_SYS_RESOURCE nothing may lower an oom_score_adj (runc then fails every pod
  # sandbox, which the kubelet gives -998): clamp pods' scores at containerd's own.
  restrict_oom_score_adj = ${restrictOomScoreAdj}
  # Network namespaces under our state dir, not the shared /var/run/netns.
  netns_mounts_under_state_dir = true

[plugins.'io.containerd.cri.v1.runtime'.containerd]
  default_runtime_name = "runc"

[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
  BinaryName = ${q(runcBinary)}
  Root = ${q(paths.runcRoot)}
  # cgroupfs, as the kubelet (no systemd on this machine).
  SystemdCgroup = false

[plugins.'io.containerd.cri.v1.runtime'.cni]
  bin_dirs = [${q(cniBinDir)}]
  conf_dir = ${q(paths.cniConfDir)}
  max_conf_num = 1

[plugins.'io.containerd.grpc.v1.cri']
  disable_tcp_service = true
  # exec/attach/port-forward streams, proxied by the kubelet: loopback only.
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
`;
}

/** CNI: the bridge plugin on our bridge, host-local IPAM in the node's podCIDR, portmap for hostPorts. */
export function cniConflist() {
  return JSON.stringify(
    {
      cniVersion: '1.0.0',
      name: 'sro-pods',
      plugins: [
        {
          type: 'bridge',
          bridge: net.bridge,
          isGateway: true,
          // The pods' default route via NODE_IP (the plugin adds it; no IPAM route as well).
          isDefaultGateway: true,
          // No masquerade: pod traffic never leaves the machine (nftables drops it anyway).
          ipMasq: false,
          // A pod reaching itself through its own Service.
          hairpinMode: true,
          ipam: {
            type: 'host-local',
            ranges: [[{ subnet: net.nodePodCidr, gateway: net.nodeIp }]],
            dataDir: paths.cniIpamDir,
          },
        },
        { type: 'portmap', capabilities: { portMappings: true } },
      ],
    },
    null,
    2,
  );
}

/** KubeletConfiguration. cgroup v1 + cgroupfs: see docs (this kernel binds its controllers to v1). */
export function kubeletConfig({ oomScoreAdj }) {
  return JSON.stringify(
    {
      apiVersion: 'kubelet.config.k8s.io/v1beta1',
      kind: 'KubeletConfiguration',
      // The kubelet refuses cgroup v1 unless told otherwise; this kernel's controllers are bound to v1.
      failCgroupV1: false,
      cgroupDriver: 'cgroupfs',
      containerRuntimeEndpoint: `unix://${paths.containerdSocket}`,
      address: net.nodeIp,
      port: ports.kubelet,
      readOnlyPort: 0,
      healthzBindAddress: '127.0.0.1',
      healthzPort: ports.kubeletHealthz,
      tlsCertFile: pki('kubelet.crt'),
      tlsPrivateKeyFile: pki('kubelet.key'),
      authentication: { anonymous: { enabled: false }, webhook: { enabled: true }, x509: { clientCAFile: pki('ca.crt') } },
      authorization: { mode: 'Webhook' },
      clusterDomain: net.clusterDomain,
      clusterDNS: [net.dnsServiceIp],
      // No host resolv.conf for pods: its nameserver is off the machine.
      resolvConf: '',
      podLogsDir: paths.podLogs,
      failSwapOn: false,
      // -999 upstream; 0 when this machine cannot lower scores (no CAP_SYS_RESOURCE).
      oomScoreAdj,
      serializeImagePulls: false,
      // Image GC would delete our preloaded images only under disk pressure; keep the default
      // eviction thresholds relative to this disk.
      evictionHard: { 'memory.available': '100Mi', 'nodefs.available': '5%', 'imagefs.available': '5%' },
      rotateCertificates: false,
      serverTLSBootstrap: false,
      staticPodPath: '',
      shutdownGracePeriod: '0s',
    },
    null,
    2,
  );
}

/** KubeProxyConfiguration: nftables mode; conntrack sysctls left as they are; NodePorts on NODE_IP only. */
export function kubeProxyConfig({ oomScoreAdj }) {
  return JSON.stringify(
    {
      apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
      kind: 'KubeProxyConfiguration',
      mode: 'nftables',
      oomScoreAdj,
      clientConnection: { kubeconfig: path.join(paths.kubeconfigs, 'kube-proxy.kubeconfig') },
      hostnameOverride: nodeName,
      bindAddress: net.nodeIp,
      healthzBindAddress: `127.0.0.1:${ports.kubeProxyHealthz}`,
      metricsBindAddress: `127.0.0.1:${ports.kubeProxyMetrics}`,
      clusterCIDR: net.clusterCidr,
      nodePortAddresses: [`${net.nodeIp}/32`],
      // 0 = do not touch the host's conntrack sysctls.
      conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: '0s', tcpCloseWaitTimeout: '0s' },
    },
    null,
    2,
  );
}

/** Every process's argv, by component. */
export function componentArgs() {
  const kc = (name) => path.join(paths.kubeconfigs, `${name}.kubeconfig`);
  return {
    etcd: [
      path.join(binDir, 'etcd'),
      '--name=sro-node',
      `--data-dir=${paths.etcdData}`,
      `--listen-client-urls=http://127.0.0.1:${ports.etcdClient}`,
      `--advertise-client-urls=http://127.0.0.1:${ports.etcdClient}`,
      `--listen-peer-urls=http://127.0.0.1:${ports.etcdPeer}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${ports.etcdPeer}`,
      `--initial-cluster=sro-node=http://127.0.0.1:${ports.etcdPeer}`,
      '--initial-cluster-state=new',
      '--listen-metrics-urls=',
      '--unsafe-no-fsync',
      '--log-level=warn',
    ],
    'kube-apiserver': [
      path.join(binDir, 'kube-apiserver'),
      `--etcd-servers=http://127.0.0.1:${ports.etcdClient}`,
      `--bind-address=${net.nodeIp}`,
      `--advertise-address=${net.nodeIp}`,
      `--secure-port=${ports.apiServer}`,
      `--cert-dir=${path.join(paths.pki, 'apiserver-generated')}`,
      `--tls-cert-file=${pki('kube-apiserver.crt')}`,
      `--tls-private-key-file=${pki('kube-apiserver.key')}`,
      `--client-ca-file=${pki('ca.crt')}`,
      `--kubelet-client-certificate=${pki('apiserver-kubelet-client.crt')}`,
      `--kubelet-client-key=${pki('apiserver-kubelet-client.key')}`,
      `--kubelet-certificate-authority=${pki('ca.crt')}`,
      '--kubelet-preferred-address-types=InternalIP',
      '--authorization-mode=Node,RBAC',
      '--enable-admission-plugins=NodeRestriction',
      '--allow-privileged=true',
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${pki('service-account.pub')}`,
      `--service-account-signing-key-file=${pki('service-account.key')}`,
      `--service-cluster-ip-range=${net.serviceCidr}`,
      // API aggregation, for metrics-server (the HPA's metrics.k8s.io): the proxy's client identity,
      // and endpoint routing (the aggregator dials the EndpointSlice's NODE_IP, not a ClusterIP).
      `--requestheader-client-ca-file=${pki('ca.crt')}`,
      '--requestheader-allowed-names=front-proxy-client',
      '--requestheader-username-headers=X-Remote-User',
      '--requestheader-group-headers=X-Remote-Group',
      '--requestheader-extra-headers-prefix=X-Remote-Extra-',
      `--proxy-client-cert-file=${pki('front-proxy-client.crt')}`,
      `--proxy-client-key-file=${pki('front-proxy-client.key')}`,
      '--enable-aggregator-routing=true',
      '--profiling=false',
      '--v=0',
    ],
    'kube-controller-manager': [
      path.join(binDir, 'kube-controller-manager'),
      `--kubeconfig=${kc('kube-controller-manager')}`,
      `--authentication-kubeconfig=${kc('kube-controller-manager')}`,
      `--authorization-kubeconfig=${kc('kube-controller-manager')}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${ports.controllerManager}`,
      '--leader-elect=false',
      '--allocate-node-cidrs=true',
      `--cluster-cidr=${net.clusterCidr}`,
      '--node-cidr-mask-size=24',
      `--service-cluster-ip-range=${net.serviceCidr}`,
      '--configure-cloud-routes=false',
      `--root-ca-file=${pki('ca.crt')}`,
      `--service-account-private-key-file=${pki('service-account.key')}`,
      `--cluster-signing-cert-file=${pki('ca.crt')}`,
      `--cluster-signing-key-file=${pki('ca.key')}`,
      '--use-service-account-credentials=true',
      // Every default controller, the HPA one included (it is on by default), syncing every 5 s
      // (upstream: 15 s) so the HPA test on the node takes seconds, not a minute.
      '--controllers=*',
      '--horizontal-pod-autoscaler-sync-period=5s',
      '--profiling=false',
      '--v=1',
    ],
    'kube-scheduler': [
      path.join(binDir, 'kube-scheduler'),
      `--kubeconfig=${kc('kube-scheduler')}`,
      `--authentication-kubeconfig=${kc('kube-scheduler')}`,
      `--authorization-kubeconfig=${kc('kube-scheduler')}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${ports.scheduler}`,
      '--leader-elect=false',
      '--profiling=false',
      '--v=1',
    ],
    containerd: [path.join(binDir, 'containerd'), `--config=${path.join(paths.config, 'containerd.toml')}`, '--log-level=info'],
    kubelet: [
      path.join(binDir, 'kubelet'),
      `--config=${path.join(paths.config, 'kubelet.json')}`,
      `--kubeconfig=${kc('kubelet')}`,
      `--root-dir=${paths.kubeletRoot}`,
      `--node-ip=${net.nodeIp}`,
      `--hostname-override=${nodeName}`,
      '--v=1',
    ],
    'kube-proxy': [path.join(binDir, 'kube-proxy'), `--config=${path.join(paths.config, 'kube-proxy.json')}`, '--v=1'],
    'cert-manager': [
      path.join(binDir, 'cert-manager'),
      // A host process with the admin kubeconfig (in a real cluster: a pod with its own RBAC).
      `--kubeconfig=${kc('admin')}`,
      '--cluster-resource-namespace=cert-manager',
      '--certificate-request-minimum-backoff-duration=5s',
      '--certificate-request-maximum-backoff-duration=30s',
      '--v=2',
    ],
    // The resource metrics API (metrics.k8s.io) that the HPA controller reads: a host process with
    // the admin kubeconfig (in a real cluster: a pod with its own RBAC), scraping the kubelet's
    // /metrics/resource with the API server's kubelet-client identity, verifying the kubelet's cert.
    'metrics-server': [
      path.join(binDir, 'metrics-server'),
      `--kubeconfig=${kc('admin')}`,
      `--authentication-kubeconfig=${kc('admin')}`,
      `--authorization-kubeconfig=${kc('admin')}`,
      `--bind-address=${net.nodeIp}`,
      `--secure-port=${ports.metricsServer}`,
      `--tls-cert-file=${pki('metrics-server.crt')}`,
      `--tls-private-key-file=${pki('metrics-server.key')}`,
      `--cert-dir=${path.join(paths.pki, 'metrics-server-generated')}`,
      `--kubelet-certificate-authority=${pki('ca.crt')}`,
      `--kubelet-client-certificate=${pki('apiserver-kubelet-client.crt')}`,
      `--kubelet-client-key=${pki('apiserver-kubelet-client.key')}`,
      '--kubelet-preferred-address-types=InternalIP',
      `--kubelet-port=${ports.kubelet}`,
      // The HPA controller syncs every 15 s: fresh metrics at that pace (it must exceed the
      // 10 s kubelet request timeout; upstream's default is 60 s).
      '--metric-resolution=15s',
      '--profiling=false',
      '--v=1',
    ],
    'local-path-provisioner': [process.execPath, fileURLToPath(new URL('./provisioner.mjs', import.meta.url)), `--kubeconfig=${kc('admin')}`, `--dir=${paths.volumes}`],
  };
}

/**
 * metrics-server's registration: the APIService for metrics.k8s.io (trusting the cluster CA that
 * signed its serving cert) and a selectorless Service whose Endpoints name the host process on NODE_IP
 * (the EndpointSlice mirroring controller makes the slice).
 */
export function metricsApiObjects(caPem) {
  const port = { name: 'https', port: 443, targetPort: ports.metricsServer, protocol: 'TCP' };
  return [
    { apiVersion: 'v1', kind: 'Service', metadata: { name: 'metrics-server', namespace: 'kube-system' }, spec: { ports: [port] } },
    {
      apiVersion: 'v1',
      kind: 'Endpoints',
      metadata: { name: 'metrics-server', namespace: 'kube-system' },
      subsets: [{ addresses: [{ ip: net.nodeIp }], ports: [{ name: 'https', port: ports.metricsServer, protocol: 'TCP' }] }],
    },
    {
      apiVersion: 'apiregistration.k8s.io/v1',
      kind: 'APIService',
      metadata: { name: 'v1beta1.metrics.k8s.io' },
      spec: {
        group: 'metrics.k8s.io',
        version: 'v1beta1',
        service: { name: 'metrics-server', namespace: 'kube-system', port: 443 },
        caBundle: Buffer.from(caPem).toString('base64'),
        groupPriorityMinimum: 100,
        versionPriority: 100,
      },
    },
  ];
}
