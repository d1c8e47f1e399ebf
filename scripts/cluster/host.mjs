// The host side of the test cluster: preflight checks, the node bridge, sysctls and
// nftables rules, and removing all of it again. Every change is recorded in
// .cache/cluster/before.json first so that cluster:down puts the machine back as it was.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { cniBinDir, hardcodedHostPaths, net, paths, runcBinary, stateDir, touchedSysctls } from './layout.mjs';

export class ClusterError extends Error {}

/** Runs a command; throws ClusterError with its stderr unless allowFail. */
export function run(command, args, { allowFail = false, input } = {}) {
  const r = spawnSync(command, args, { encoding: 'utf8', input, maxBuffer: 64 << 20 });
  if (r.error) {
    if (allowFail) return { status: -1, stdout: '', stderr: r.error.message };
    throw new ClusterError(`${command} could not run: ${r.error.message}`);
  }
  if (r.status !== 0 && !allowFail) throw new ClusterError(`${command} ${args.join(' ')} failed (exit ${r.status}): ${r.stderr.trim() || r.stdout.trim()}`);
  return r;
}

const has = (command) => spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;

/** Everything the node needs from this machine; names what is missing and how to get it. */
export function preflight() {
  if (process.getuid?.() !== 0) throw new ClusterError('cluster:up/down must run as root (it creates a bridge, nftables rules, mounts and cgroups). Run it with sudo.');
  const problems = [];
  for (const [tool, pkg] of [['runc', 'runc'], ['nft', 'nftables'], ['ip', 'iproute2'], ['iptables', 'iptables'], ['openssl', 'openssl'], ['kubectl', 'kubectl']]) {
    if (!has(tool)) problems.push(`the \`${tool}\` command is missing (Debian package ${pkg})`);
  }
  if (!fs.existsSync(runcBinary)) problems.push(`${runcBinary} is missing (Debian package runc)`);
  for (const plugin of ['bridge', 'host-local', 'loopback', 'portmap']) {
    if (!fs.existsSync(path.join(cniBinDir, plugin))) problems.push(`CNI plugin ${cniBinDir}/${plugin} is missing (Debian package containernetworking-plugins)`);
  }
  if (!fs.existsSync('/proc/sys/net/bridge/bridge-nf-call-iptables')) {
    problems.push('kernel feature missing: br_netfilter (/proc/sys/net/bridge/ does not exist; needs CONFIG_BRIDGE_NETFILTER or `modprobe br_netfilter`)');
  }
  if (!fs.existsSync('/proc/sys/net/netfilter/nf_conntrack_max')) problems.push('kernel feature missing: nf_conntrack (CONFIG_NF_CONNTRACK)');
  if (has('nft') && run('nft', ['list', 'tables'], { allowFail: true }).status !== 0) problems.push('nftables does not work here (`nft list tables` failed): kernel needs CONFIG_NF_TABLES');
  const controllers = cgroupControllers();
  for (const c of ['cpu', 'cpuacct', 'cpuset', 'memory', 'pids']) {
    if (!controllers.has(c)) problems.push(`kernel feature missing: the ${c} cgroup controller is not mounted (the kubelet needs cpu, cpuacct, cpuset, memory, pids)`);
  }
  if (problems.length > 0) throw new ClusterError(`this machine cannot run the test cluster:\n  - ${problems.join('\n  - ')}`);
}

/** Controllers of the mounted cgroup v1 hierarchies (this kernel's cgroup2 has none of its own). */
function cgroupControllers() {
  const found = new Set();
  for (const m of mounts()) {
    if (m.fstype === 'cgroup') for (const opt of m.superOptions.split(',')) found.add(opt);
    if (m.fstype === 'cgroup2') {
      try {
        for (const c of fs.readFileSync(path.join(m.mountPoint, 'cgroup.controllers'), 'utf8').trim().split(/\s+/)) if (c) found.add(c);
      } catch {
        // no controllers file: nothing to add
      }
    }
  }
  if (found.has('cpu')) found.add('cpuacct'); // cgroup v2's cpu includes accounting
  return found;
}

/** Parsed /proc/self/mountinfo: mount point, fs type and super options. */
export function mounts() {
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .trim()
    .split('\n')
    .map((line) => {
      const [left, right] = line.split(' - ');
      const fields = left.split(' ');
      const [fstype, , superOptions = ''] = right.split(' ');
      // Octal escapes (\040 = space) in mount points.
      const mountPoint = fields[4].replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));
      return { mountPoint, fstype, superOptions };
    });
}

/** CAP_SYS_RESOURCE (bit 24) in our effective set: needed to lower any oom_score_adj. */
export function canLowerOomScore() {
  const eff = fs.readFileSync('/proc/self/status', 'utf8').match(/^CapEff:\s*([0-9a-f]+)/m)?.[1];
  return eff !== undefined && (BigInt(`0x${eff}`) & (1n << 24n)) !== 0n;
}

export function overlayfsAvailable() {
  return fs.readFileSync('/proc/filesystems', 'utf8').split('\n').some((l) => l.trim().endsWith('overlay'));
}

// ---------- the record of what the machine looked like ----------

const sysctlPath = (name) => path.join('/proc/sys', name);

function readSysctl(name) {
  try {
    return fs.readFileSync(sysctlPath(name), 'utf8').trim();
  } catch {
    return undefined;
  }
}

function nftTables() {
  const out = run('nft', ['-j', 'list', 'tables']).stdout;
  return JSON.parse(out).nftables.filter((e) => e.table).map((e) => `${e.table.family} ${e.table.name}`);
}

/** Records sysctls, host paths and nft tables, once: a second cluster:up keeps the first record. */
export function recordMachineState() {
  if (fs.existsSync(paths.before)) return JSON.parse(fs.readFileSync(paths.before, 'utf8'));
  const before = {
    sysctls: Object.fromEntries(touchedSysctls.map((n) => [n, readSysctl(n)]).filter(([, v]) => v !== undefined)),
    hostPaths: Object.fromEntries(hardcodedHostPaths.map((p) => [p, fs.existsSync(p)])),
    nftTables: nftTables(),
  };
  fs.mkdirSync(stateDir, { recursive: true });
  fs.writeFileSync(paths.before, JSON.stringify(before, null, 2));
  return before;
}

export function writeSysctl(name, value) {
  fs.writeFileSync(sysctlPath(name), `${value}\n`);
}

// ---------- network ----------

const linkExists = (name) => run('ip', ['link', 'show', 'dev', name], { allowFail: true }).status === 0;

/**
 * The node bridge with NODE_IP (the pods' gateway, so the CNI bridge plugin finds it as it
 * would make it), a route that keeps Service addresses on the bridge (never out of eth0),
 * forwarding on, and an nftables table that drops every forwarded packet not from and to the
 * bridge: pods reach each other, Services and the node, and nothing beyond.
 */
export function setUpNetwork() {
  if (!linkExists(net.bridge)) run('ip', ['link', 'add', net.bridge, 'type', 'bridge']);
  run('ip', ['addr', 'replace', `${net.nodeIp}/${net.nodePodCidr.split('/')[1]}`, 'dev', net.bridge]);
  run('ip', ['link', 'set', net.bridge, 'up']);
  run('ip', ['route', 'replace', net.serviceCidr, 'dev', net.bridge, 'src', net.nodeIp]);
  run('nft', ['-f', '-'], { input: nftRuleset() });
  writeSysctl('net/bridge/bridge-nf-call-iptables', 1);
  writeSysctl('net/bridge/bridge-nf-call-ip6tables', 1);
  writeSysctl('net/ipv4/ip_forward', 1);
}

/** Our table, replaced as a whole (idempotent): `add` then `delete` then the definition. */
export function nftRuleset() {
  const t = `inet ${net.nftTable}`;
  return [
    `add table ${t}`,
    `delete table ${t}`,
    `table ${t} {`,
    '  chain forward {',
    // Before kube-proxy's and any other filter chain; a drop here is final.
    '    type filter hook forward priority -200; policy accept;',
    `    iifname != "${net.bridge}" drop`,
    `    oifname != "${net.bridge}" drop`,
    '  }',
    '}',
    '',
  ].join('\n');
}

/** Names of interfaces: the bridge and every veth attached to it. */
export function clusterLinks() {
  const links = JSON.parse(run('ip', ['-j', 'link', 'show']).stdout);
  return links.filter((l) => l.ifname === net.bridge || l.master === net.bridge).map((l) => l.ifname);
}

export function tearDownNetwork(before) {
  for (const link of clusterLinks().filter((l) => l !== net.bridge)) run('ip', ['link', 'del', link], { allowFail: true });
  if (linkExists(net.bridge)) run('ip', ['link', 'del', net.bridge]);
  removeNftChanges(before);
}

const KUBE_CHAIN = /^(KUBE-|CNI-)/;
const BASE_CHAINS = new Set(['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING']);

/**
 * Removes our table, kube-proxy's tables, and what the kubelet, kube-proxy and CNI portmap
 * added through iptables-nft: KUBE- and CNI- chains, rules jumping to them, and tables that did
 * not exist before and now hold nothing else.
 */
export function removeNftChanges(before) {
  const beforeTables = new Set(before?.nftTables ?? []);
  for (const table of [`inet ${net.nftTable}`, 'ip kube-proxy', 'ip6 kube-proxy']) {
    if (!beforeTables.has(table)) run('nft', ['delete', 'table', ...table.split(' ')], { allowFail: true });
  }
  for (const table of nftTables()) {
    const [family, name] = table.split(' ');
    const items = JSON.parse(run('nft', ['-j', 'list', 'table', family, name]).stdout).nftables;
    const chains = items.filter((i) => i.chain).map((i) => i.chain);
    const rules = items.filter((i) => i.rule).map((i) => i.rule);
    const ours = chains.filter((c) => KUBE_CHAIN.test(c.name));
    for (const rule of rules) {
      if (KUBE_CHAIN.test(rule.chain)) continue;
      const target = JSON.stringify(rule.expr).match(/"(?:jump|goto)":\{"target":"([^"]+)"/);
      if (target && KUBE_CHAIN.test(target[1])) run('nft', ['delete', 'rule', family, name, rule.chain, 'handle', String(rule.handle)], { allowFail: true });
    }
    for (const c of ours) run('nft', ['flush', 'chain', family, name, c.name], { allowFail: true });
    for (const c of ours) run('nft', ['delete', 'chain', family, name, c.name], { allowFail: true });
    // A table that did not exist before and holds only (now empty) base chains: iptables-nft made it for us.
    const others = chains.filter((c) => !KUBE_CHAIN.test(c.name));
    const othersEmpty = others.every((c) => BASE_CHAINS.has(c.name) && !rules.some((r) => r.chain === c.name && !JSON.stringify(r.expr).match(/"(?:jump|goto)":\{"target":"(KUBE-|CNI-)/)));
    if (!beforeTables.has(table) && othersEmpty) run('nft', ['delete', 'table', family, name], { allowFail: true });
  }
}

// ---------- mounts, cgroups, host paths ----------

/** Unmounts everything under dir, deepest first (lazily if busy). Returns what it unmounted. */
export function unmountUnder(dir) {
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  const targets = mounts()
    .map((m) => m.mountPoint)
    .filter((p) => p === dir || p.startsWith(prefix))
    .sort((a, b) => b.length - a.length);
  for (const target of targets) {
    if (run('umount', [target], { allowFail: true }).status !== 0) run('umount', ['-l', target], { allowFail: true });
  }
  return targets;
}

/** Removes the kubelet's cgroups (kubepods and below) in every mounted hierarchy, leaves first. */
export function removeKubeCgroups() {
  const removed = [];
  const rmTree = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) rmTree(path.join(dir, e.name));
    try {
      fs.rmdirSync(dir);
      removed.push(dir);
    } catch {
      // still has a process: reported by the caller's checks
    }
  };
  for (const m of mounts().filter((x) => x.fstype === 'cgroup' || x.fstype === 'cgroup2')) {
    const dir = path.join(m.mountPoint, 'kubepods');
    if (fs.existsSync(dir)) rmTree(dir);
  }
  return removed;
}

/** Leftover kubepods cgroups (what removeKubeCgroups could not remove). */
export function kubeCgroupsLeft() {
  return mounts()
    .filter((x) => x.fstype === 'cgroup' || x.fstype === 'cgroup2')
    .map((m) => path.join(m.mountPoint, 'kubepods'))
    .filter((d) => fs.existsSync(d));
}

export function restoreSysctls(before) {
  for (const [name, value] of Object.entries(before?.sysctls ?? {})) {
    try {
      if (readSysctl(name) !== value) writeSysctl(name, value);
    } catch (err) {
      process.stderr.write(`cluster:down: could not restore ${name}=${value}: ${err.message}\n`);
    }
  }
}

/** Removes hard-coded host paths (e.g. /var/log/containers) that did not exist before cluster:up. */
export function removeCreatedHostPaths(before) {
  for (const [p, existed] of Object.entries(before?.hostPaths ?? {})) {
    if (!existed && fs.existsSync(p)) {
      unmountUnder(p);
      fs.rmSync(p, { recursive: true, force: true });
    }
  }
}
