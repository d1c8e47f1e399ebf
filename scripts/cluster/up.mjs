#!/usr/bin/env node
// `npm run cluster:up`: a real single-node Kubernetes cluster on this machine, from
// registry parts (docs/architecture.md, "The test cluster"). Builds what is missing
// (stamped like controlplane:build), then starts etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler, containerd, kubelet, kube-proxy, CoreDNS (a
// pod), cert-manager (host process) with the test CA ClusterIssuer, a host-path volume
// provisioner (host process, test stand-in) and the operator from
// deploy/overlays/local-node. Idempotent: a rerun starts only what is not running.
// Progress goes to stderr; stdout ends with exactly `KUBECONFIG=<path>` and `NODE_IP=<addr>`.
// State: .cache/cluster/ (certs, kubeconfigs, pids, logs). `npm run cluster:down` undoes all.
// Usage: node scripts/cluster/up.mjs [--no-build]
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { componentArgs, containerdConfig, cniConflist, kubeletConfig, kubeProxyConfig, metricsApiObjects } from './configs.mjs';
import { logFile, logTail, runningPid, startDaemon, waitFor } from './daemons.mjs';
import { ClusterError, canLowerOomScore, overlayfsAvailable, preflight, recordMachineState, run, setUpNetwork } from './host.mjs';
import { binDir, images, net, nodeName, paths, ports, repoRoot } from './layout.mjs';
import { ensurePki } from './pki.mjs';

const started = Date.now();
const say = (line) => process.stderr.write(`cluster:up: ${line}\n`);
const secs = (ms) => `${(ms / 1000).toFixed(1)}s`;
const timings = {};
async function phase(name, fn) {
  const t = Date.now();
  const result = await fn();
  timings[name] = Date.now() - t;
  say(`${name} done in ${secs(timings[name])}`);
  return result;
}

// ---------- builds ----------

function buildAll() {
  const node = process.execPath;
  const steps = [
    ['control plane (etcd, kube-apiserver, cert-manager)', [path.join(repoRoot, 'scripts', 'controlplane-build.mjs'), 'etcd', 'kube-apiserver', 'cert-manager']],
    ['node parts (test/cluster/*)', [path.join(repoRoot, 'scripts', 'controlplane-build.mjs'), '--group', 'cluster']],
    ['images (scripts/image/build.mjs)', [path.join(repoRoot, 'scripts', 'image', 'build.mjs')]],
  ];
  for (const [what, args] of steps) {
    // The build scripts print to stdout; keep ours for the two result lines.
    const r = spawnSync(node, args, { cwd: repoRoot, stdio: ['ignore', 2, 2] });
    if (r.status !== 0) throw new ClusterError(`building the ${what} failed (see above)`);
  }
}

// ---------- API access ----------

const pkiFile = (name) => fs.readFileSync(path.join(paths.pki, name));

function httpsGet(url, { auth = true } = {}) {
  return new Promise((resolve, reject) => {
    const opts = auth
      ? { ca: pkiFile('ca.crt'), cert: pkiFile('admin.crt'), key: pkiFile('admin.key') }
      : // The controller manager's and scheduler's own serving certs are self-signed: health only.
        { rejectUnauthorized: false };
    const req = https.get(url, { ...opts, timeout: 3000, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode, text }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

function kubectl(args, { input, allowFail = false } = {}) {
  return run('kubectl', [`--kubeconfig=${paths.adminKubeconfig}`, ...args], { input, allowFail });
}

const getJson = (args) => {
  const r = kubectl([...args, '-o', 'json'], { allowFail: true });
  return r.status === 0 ? JSON.parse(r.stdout) : undefined;
};

// ---------- components ----------

function ensureDaemon(name, argv, env) {
  const pid = runningPid(name);
  if (pid !== undefined) {
    say(`${name} already running (pid ${pid})`);
    return false;
  }
  startDaemon(name, argv[0], argv.slice(1), env);
  say(`${name} started (log ${path.relative(repoRoot, logFile(name))})`);
  return true;
}

/** Writes only when the content differs: kube-proxy exits when its config file changes. */
function writeIfChanged(file, content) {
  if (fs.existsSync(file) && fs.readFileSync(file, 'utf8') === content) return;
  fs.writeFileSync(file, content);
}

function writeConfigs(snapshotter) {
  fs.mkdirSync(paths.config, { recursive: true });
  fs.mkdirSync(paths.cniConfDir, { recursive: true });
  const lower = canLowerOomScore();
  if (!lower) say('no CAP_SYS_RESOURCE here: pods, the kubelet and kube-proxy keep oom_score_adj >= 0 (containerd restrict_oom_score_adj)');
  writeIfChanged(path.join(paths.config, 'containerd.toml'), containerdConfig({ snapshotter, restrictOomScoreAdj: !lower }));
  writeIfChanged(path.join(paths.config, 'kubelet.json'), kubeletConfig({ oomScoreAdj: lower ? -999 : 0 }));
  writeIfChanged(path.join(paths.config, 'kube-proxy.json'), kubeProxyConfig({ oomScoreAdj: lower ? -999 : 0 }));
  writeIfChanged(path.join(paths.cniConfDir, '10-sro-pods.conflist'), cniConflist());
  for (const dir of [paths.kubeletRoot, paths.podLogs, paths.volumes]) fs.mkdirSync(dir, { recursive: true });
}

/** overlayfs when it mounts here (not on every filesystem), else containerd's native snapshotter. */
function chooseSnapshotter() {
  if (!overlayfsAvailable()) return 'native';
  const probe = path.join(paths.config, 'overlay-probe');
  const [lower, upper, work, merged] = ['lower', 'upper', 'work', 'merged'].map((d) => path.join(probe, d));
  for (const d of [lower, upper, work, merged]) fs.mkdirSync(d, { recursive: true });
  const ok = run('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lower},upperdir=${upper},workdir=${work}`, merged], { allowFail: true }).status === 0;
  if (ok) run('umount', [merged]);
  fs.rmSync(probe, { recursive: true, force: true });
  return ok ? 'overlayfs' : 'native';
}

const ctr = (args, opts) => run(path.join(binDir, 'ctr'), [`--address=${paths.containerdSocket}`, '--namespace=k8s.io', ...args], opts);

/** Imports the image archives containerd lacks, or that were rebuilt since; returns the names imported. */
function importImages(snapshotter) {
  const imported = [];
  const have = new Set(ctr(['images', 'ls', '-q']).stdout.split('\n').filter(Boolean));
  for (const [name, { archive, ref }] of Object.entries(images)) {
    const stamp = path.join(paths.config, `${name}.imported`);
    const fresh = have.has(ref) && fs.existsSync(stamp) && fs.statSync(stamp).mtimeMs >= fs.statSync(archive).mtimeMs;
    if (fresh) continue;
    if (!fs.existsSync(archive)) throw new ClusterError(`image archive ${archive} (${name}) is missing: scripts/image/build.mjs should have made it`);
    ctr(['images', 'import', `--snapshotter=${snapshotter}`, archive]);
    const now = new Set(ctr(['images', 'ls', '-q']).stdout.split('\n').filter(Boolean));
    if (!now.has(ref)) throw new ClusterError(`importing ${archive} did not give image ${ref} (containerd has: ${[...now].join(', ')})`);
    fs.writeFileSync(stamp, `${new Date().toISOString()}\n`);
    say(`imported ${ref}`);
    imported.push(name);
  }
  return imported;
}

function nodeStatus() {
  const node = getJson(['get', 'node', nodeName]);
  const ready = node?.status?.conditions?.find((c) => c.type === 'Ready');
  return { node, ready: ready?.status === 'True', reason: ready ? `${ready.reason}: ${ready.message}` : 'not registered' };
}

async function waitForNodeReady() {
  let podCidr;
  await waitFor(
    'kubelet',
    async () => {
      const s = nodeStatus();
      podCidr = s.node?.spec?.podCIDR;
      if (!s.ready || !podCidr) throw new Error(s.ready ? 'no podCIDR yet' : s.reason);
      return true;
    },
    180_000,
  ).catch((err) => {
    throw new ClusterError(`${err.message}\ncontainerd log tail:\n${logTail('containerd', 10)}`);
  });
  // The CNI config was written for the first node's CIDR; the controller manager allocates it.
  if (podCidr !== net.nodePodCidr) {
    throw new ClusterError(`node ${nodeName} got podCIDR ${podCidr}, but the CNI config uses ${net.nodePodCidr}: run \`npm run cluster:down\` and try again`);
  }
}

// ---------- cert-manager ----------

async function loadHarness() {
  const { tsImport } = await import('tsx/esm/api');
  const load = (p) => tsImport(path.join(repoRoot, p), import.meta.url);
  return { ...(await load('test/harness/cert-manager.ts')) };
}

async function certManager() {
  const cm = await loadHarness();
  const crds = await cm.certManagerCrdDocs();
  kubectl(['apply', '--server-side', '--force-conflicts', '--field-manager=cluster-up', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: crds }) });
  kubectl(['wait', '--for=condition=Established', '--timeout=60s', ...crds.map((c) => `crd/${c.metadata.name}`)]);
  kubectl(['create', 'namespace', cm.TEST_CA_SECRET.namespace], { allowFail: true });
  ensureDaemon('cert-manager', componentArgs()['cert-manager']);
  const o = cm.testCaObjects(cm.TEST_CA_SECRET.namespace);
  kubectl(['apply', '--server-side', '--force-conflicts', '--field-manager=cluster-up', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [o.selfSigned, o.caCertificate, o.caIssuer] }) });
  await waitFor('cert-manager', async () => {
    const issuer = getJson(['get', 'clusterissuer', cm.TEST_CA_ISSUER]);
    return issuer?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
  });
}

/** metrics-server (the HPA's resource metrics) and its APIService, which must turn Available. */
async function metricsServer(argv) {
  ensureDaemon('metrics-server', argv);
  const objects = metricsApiObjects(fs.readFileSync(path.join(paths.pki, 'ca.crt'), 'utf8'));
  kubectl(['apply', '--server-side', '--force-conflicts', '--field-manager=cluster-up', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }) });
  await waitFor('metrics-server', async () => {
    const api = getJson(['get', 'apiservice', 'v1beta1.metrics.k8s.io']);
    return api?.status?.conditions?.some((c) => c.type === 'Available' && c.status === 'True') ?? false;
  });
}

// ---------- main ----------

async function main() {
  preflight();
  // --no-build: use what is built (e.g. while an image build of its own runs elsewhere).
  if (!process.argv.includes('--no-build')) await phase('build', () => buildAll());
  recordMachineState();
  await phase('pki', () => ensurePki());
  const snapshotter = chooseSnapshotter();
  writeConfigs(snapshotter);
  await phase('network', () => setUpNetwork());
  const args = componentArgs();
  /** Images containerd got anew in this run (importImages). */
  let reimported = [];

  await phase('etcd', async () => {
    ensureDaemon('etcd', args.etcd);
    await waitFor('etcd', async () => {
      const r = await fetch(`http://127.0.0.1:${ports.etcdClient}/health`);
      return (await r.text()).includes('"health":"true"');
    });
  });
  await phase('kube-apiserver', async () => {
    ensureDaemon('kube-apiserver', args['kube-apiserver']);
    await waitFor('kube-apiserver', async () => (await httpsGet(`https://${net.nodeIp}:${ports.apiServer}/readyz`)).status === 200);
  });
  await phase('controller-manager+scheduler', async () => {
    ensureDaemon('kube-controller-manager', args['kube-controller-manager']);
    ensureDaemon('kube-scheduler', args['kube-scheduler']);
    await Promise.all([
      waitFor('kube-controller-manager', async () => (await httpsGet(`https://127.0.0.1:${ports.controllerManager}/healthz`, { auth: false })).status === 200),
      waitFor('kube-scheduler', async () => (await httpsGet(`https://127.0.0.1:${ports.scheduler}/healthz`, { auth: false })).status === 200),
    ]);
  });
  await phase('containerd', async () => {
    // The runc shim is found on PATH.
    ensureDaemon('containerd', args.containerd, { ...process.env, PATH: `${binDir}:${process.env.PATH}` });
    await waitFor('containerd', async () => fs.existsSync(paths.containerdSocket) && ctr(['version'], { allowFail: true }).status === 0);
    reimported = importImages(snapshotter);
  });
  await phase('kubelet', async () => {
    ensureDaemon('kubelet', args.kubelet, { ...process.env, PATH: `${binDir}:${process.env.PATH}` });
    await waitForNodeReady();
  });
  await phase('kube-proxy', async () => {
    ensureDaemon('kube-proxy', args['kube-proxy']);
    await waitFor('kube-proxy', async () => (await fetch(`http://127.0.0.1:${ports.kubeProxyHealthz}/healthz`)).status === 200);
  });
  await phase('addons (CoreDNS, storage, cert-manager, metrics-server)', async () => {
    kubectl(['apply', '-f', path.join(repoRoot, 'scripts', 'cluster', 'manifests')]);
    ensureDaemon('local-path-provisioner', args['local-path-provisioner']);
    await certManager();
    await metricsServer(args['metrics-server']);
  });
  await phase('operator', async () => {
    const existed = kubectl(['-n', 'smtp-relay-system', 'get', 'deployment/smtp-relay-operator', '-o', 'name'], { allowFail: true }).status === 0;
    kubectl(['apply', '--server-side', '--force-conflicts', '--field-manager=cluster-up', '-k', path.join(repoRoot, 'deploy', 'overlays', 'local-node')]);
    // Same tag (:dev), new content: running operator pods keep the old image until replaced.
    // (Relay pods already running keep theirs until they roll; new relays get the new one.)
    if (existed && reimported.includes('operator')) {
      kubectl(['-n', 'smtp-relay-system', 'rollout', 'restart', 'deployment/smtp-relay-operator']);
      say('operator image rebuilt: restarted the operator pods');
    }
    const r = kubectl(['-n', 'smtp-relay-system', 'rollout', 'status', 'deployment/smtp-relay-operator', '--timeout=180s'], { allowFail: true });
    if (r.status !== 0) {
      const pods = kubectl(['-n', 'smtp-relay-system', 'get', 'pods', '-o', 'wide'], { allowFail: true }).stdout;
      throw new ClusterError(`the operator did not become Ready: ${r.stderr.trim()}\n${pods}`);
    }
    const dns = kubectl(['-n', 'kube-system', 'rollout', 'status', 'deployment/coredns', '--timeout=120s'], { allowFail: true });
    if (dns.status !== 0) throw new ClusterError(`CoreDNS did not become Ready: ${dns.stderr.trim()}`);
  });

  say(`ready in ${secs(Date.now() - started)} (${Object.entries(timings).map(([k, v]) => `${k} ${secs(v)}`).join(', ')})`);
  process.stdout.write(`KUBECONFIG=${paths.adminKubeconfig}\nNODE_IP=${net.nodeIp}\n`);
}

main().catch((err) => {
  const known = err instanceof ClusterError;
  process.stderr.write(`cluster:up: FAILED: ${known ? err.message : err.stack}\n`);
  if (fs.existsSync(paths.logs)) process.stderr.write(`cluster:up: logs are in ${paths.logs}; \`npm run cluster:down\` removes everything.\n`);
  process.exit(1);
});
