#!/usr/bin/env node
// `npm run cluster:down`: removes everything `npm run cluster:up` made and puts the
// machine back as .cache/cluster/before.json recorded it: processes (components, runc
// shims, pod processes), pod containers, mounts and network namespaces under
// .cache/cluster, the kubelet's cgroups, the bridge and veths, nftables/iptables rules,
// sysctls, hard-coded host dirs it created, and .cache/cluster itself. Idempotent.
// Ends with checks that nothing is left; exits 1 (naming it) if something is.
import fs from 'node:fs';
import path from 'node:path';
import { pidsWithArg, runningPid, stopDaemon } from './daemons.mjs';
import {
  ClusterError,
  clusterLinks,
  kubeCgroupsLeft,
  mounts,
  removeCreatedHostPaths,
  removeKubeCgroups,
  removeNftChanges,
  restoreSysctls,
  run,
  tearDownNetwork,
  unmountUnder,
} from './host.mjs';
import { binDir, components, net, paths, stateDir } from './layout.mjs';

const say = (line) => process.stderr.write(`cluster:down: ${line}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function readBefore() {
  try {
    return JSON.parse(fs.readFileSync(paths.before, 'utf8'));
  } catch {
    return undefined;
  }
}

/** Pod containers: through containerd while it runs, then runc directly for anything left. Returns their ids. */
function removeContainers() {
  const ids = [];
  if (runningPid('containerd') !== undefined) {
    const ctr = (args) => run(path.join(binDir, 'ctr'), [`--address=${paths.containerdSocket}`, '--namespace=k8s.io', ...args], { allowFail: true });
    const tasks = ctr(['tasks', 'ls', '-q']).stdout.split('\n').filter(Boolean);
    for (const id of tasks) ctr(['tasks', 'kill', '--signal=SIGKILL', '--all', id]);
    for (const id of tasks) ctr(['tasks', 'delete', '--force', id]);
    ids.push(...ctr(['containers', 'ls', '-q']).stdout.split('\n').filter(Boolean));
    for (const id of ids) ctr(['containers', 'delete', id]);
    if (tasks.length > 0) say(`killed ${tasks.length} pod container(s)`);
  }
  if (!fs.existsSync(paths.runcRoot)) return;
  for (const ns of fs.readdirSync(paths.runcRoot)) {
    const root = path.join(paths.runcRoot, ns);
    const ids = run('runc', [`--root=${root}`, 'list', '-q'], { allowFail: true }).stdout.split('\n').filter(Boolean);
    for (const id of ids) {
      run('runc', [`--root=${root}`, 'kill', '--all', id, 'KILL'], { allowFail: true });
      run('runc', [`--root=${root}`, 'delete', '--force', id], { allowFail: true });
    }
  }
  return ids;
}

/**
 * libcni caches each attachment's result in the hard-coded /var/lib/cni/results
 * (<network>-<sandbox id>-<ifname>); pods killed without a CNI DEL leave theirs.
 */
function removeCniResults(ids) {
  const dir = '/var/lib/cni/results';
  if (!fs.existsSync(dir)) return;
  const files = fs.readdirSync(dir);
  // Our network's name is ours alone: its sandboxes are ours even when containerd no longer lists them.
  const ours = new Set([...ids, ...files.filter((f) => f.startsWith('sro-pods-')).map((f) => f.split('-')[2])]);
  for (const file of files) {
    const id = file.match(/-([0-9a-f]{64})-[^-]+$/)?.[1];
    if (id && ours.has(id)) fs.rmSync(path.join(dir, file), { force: true });
  }
}

/** Every process still in the kubelet's cgroups (pod processes whose shim is gone): SIGKILL. */
function killPodProcesses() {
  const pids = new Set();
  const walk = (dir) => {
    if (!fs.existsSync(dir)) return;
    try {
      for (const p of fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) pids.add(Number(p));
    } catch {
      // not a cgroup dir
    }
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) walk(path.join(dir, e.name));
  };
  for (const m of mounts().filter((x) => x.fstype === 'cgroup' || x.fstype === 'cgroup2')) walk(path.join(m.mountPoint, 'kubepods'));
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  return pids.size;
}

/** What is left of the cluster on this machine; empty when down is complete. */
function leftovers(before) {
  const left = [];
  const procs = pidsWithArg(stateDir);
  if (procs.length > 0) left.push(`processes using ${stateDir}: ${procs.join(', ')}`);
  const ms = mounts().filter((m) => m.mountPoint.startsWith(stateDir));
  if (ms.length > 0) left.push(`mounts: ${ms.map((m) => m.mountPoint).join(', ')}`);
  const links = clusterLinks();
  if (links.length > 0) left.push(`links: ${links.join(', ')}`);
  const tables = JSON.parse(run('nft', ['-j', 'list', 'tables']).stdout).nftables.filter((e) => e.table).map((e) => `${e.table.family} ${e.table.name}`);
  const newTables = tables.filter((t) => !(before?.nftTables ?? []).includes(t));
  if (newTables.length > 0) left.push(`nft tables: ${newTables.join(', ')}`);
  const ruleset = run('nft', ['list', 'ruleset']).stdout;
  if (/KUBE-|CNI-|sro_cluster|kube-proxy/.test(ruleset)) left.push('nft/iptables rules mentioning KUBE-/CNI-/sro_cluster/kube-proxy');
  const cgroups = kubeCgroupsLeft();
  if (cgroups.length > 0) left.push(`cgroups: ${cgroups.join(', ')}`);
  for (const [name, value] of Object.entries(before?.sysctls ?? {})) {
    const now = fs.readFileSync(path.join('/proc/sys', name), 'utf8').trim();
    if (now !== value) left.push(`sysctl ${name}=${now} (was ${value})`);
  }
  for (const [p, existed] of Object.entries(before?.hostPaths ?? {})) if (!existed && fs.existsSync(p)) left.push(`host path ${p}`);
  if (fs.existsSync(stateDir)) left.push(`${stateDir} still exists`);
  const cniResults = fs.existsSync('/var/lib/cni/results') ? fs.readdirSync('/var/lib/cni/results').filter((f) => f.startsWith('sro-pods-')) : [];
  if (cniResults.length > 0) left.push(`CNI results in /var/lib/cni/results: ${cniResults.join(', ')}`);
  return left;
}

async function main() {
  if (process.getuid?.() !== 0) throw new ClusterError('cluster:down must run as root (as cluster:up did).');
  const before = readBefore();
  if (!fs.existsSync(stateDir)) say('no .cache/cluster: checking that nothing is left anyway');

  // Workload side first, while containerd still answers.
  for (const name of ['metrics-server', 'local-path-provisioner', 'cert-manager', 'kube-proxy', 'kubelet']) if (await stopDaemon(name)) say(`stopped ${name}`);
  const containerIds = removeContainers();
  if (await stopDaemon('containerd')) say('stopped containerd');
  // runc shims outlive containerd; each names our socket on its command line.
  for (const pid of pidsWithArg(paths.containerdSocket)) process.kill(pid, 'SIGKILL');
  const killed = killPodProcesses();
  if (killed > 0) say(`killed ${killed} leftover pod process(es)`);
  for (const name of [...components].reverse()) if (await stopDaemon(name)) say(`stopped ${name}`);
  await sleep(200);

  const unmounted = unmountUnder(stateDir);
  if (unmounted.length > 0) say(`unmounted ${unmounted.length} mount(s) (pod volumes, network namespaces, container rootfs)`);
  const stuck = mounts().filter((m) => m.mountPoint.startsWith(stateDir));
  // Never delete through a mount: stop here, keeping the state (and before.json) for a rerun.
  if (stuck.length > 0) throw new ClusterError(`could not unmount: ${stuck.map((m) => m.mountPoint).join(', ')}; run cluster:down again`);
  tearDownNetwork(before);
  removeNftChanges(before);
  const cg = removeKubeCgroups();
  if (cg.length > 0) say(`removed ${cg.length} cgroup(s)`);
  restoreSysctls(before);
  removeCniResults(containerIds);
  removeCreatedHostPaths(before);
  // The shims' sockets live in containerd's hard-coded /run/containerd/s.
  fs.rmSync(stateDir, { recursive: true, force: true });

  const left = leftovers(before);
  if (left.length > 0) throw new ClusterError(`not everything is gone:\n  - ${left.join('\n  - ')}`);
  say(`done: no process, mount, netns, link (${net.bridge}), nft rule, cgroup or state dir left; sysctls restored`);
}

main().catch((err) => {
  process.stderr.write(`cluster:down: FAILED: ${err instanceof ClusterError ? err.message : err.stack}\n`);
  process.exit(1);
});
