// DEVELOPMENT-ONLY local runtime: plays kubelet + Service for the relay Deployments the
// operator manages, so `npm start`'s local mode and tests get real relay processes on a
// control plane that has no kube-controller-manager, scheduler or kubelet.
// NOT a Kubernetes runtime: no isolation, no resource limits, no security context;
// every relay runs as a plain local `node dist/cli.js relay` process on 127.0.0.1.
//
// For each Deployment labelled app.kubernetes.io/managed-by=smtp-relay-operator it
// - materialises the pod's ConfigMap/Secret volumes under workDir the way the kubelet's
//   atomic writer does (`..<timestamp>` dir, `..data` symlink, `key -> ..data/key`), and
//   swaps `..data` when a source object changes, so the relay's hot reload runs for real;
// - rewrites relay.json: mount paths -> those dirs, listener and metrics ports -> free
//   local ports, and starts one relay process per replica (restarted when it exits,
//   all replaced when the pod template changes: a rollout);
// - writes the Service annotation local.smtprelay.dev/endpoints (listener -> 127.0.0.1:port
//   of replica 0) with a merge patch under field manager `local-runtime`;
// - patches the Deployment status (replicas, ready/available/updated, observedGeneration,
//   Available/Progressing) from each process's /readyz, as the deployment controller would.
// Every replica gets its own ports, so replicas never clash; the annotation names the first
// ready replica (there is no kube-proxy to spread connections).
//
// StatefulSets (Durable relays) run the same way, plus what the StatefulSet controller and the
// kubelet would do for their volumeClaimTemplates: each "pod" <set>-<n> gets the directory of its
// claim <template>-<set>-<n> under workDir/<ns>/claims/, kept across restarts, rollouts,
// scale-downs and the set's deletion (as a Retain policy keeps a PersistentVolume), and a
// PersistentVolumeClaim object of that name is created in the API (never bound: no storage here).
// Every workload gets the annotation local.smtprelay.dev/pods ({pod: "127.0.0.1:<metrics port>"}),
// which the operator reads with --probe-local-endpoints in place of pod IPs (GET /queue, POST /drain).
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { getFreePort } from './controlplane.js';
import { kubeRequest, type KubeHttpTarget } from './kube-http.js';
import { ManagedProcess } from './process.js';
import { targetFromKubeconfig } from './service-account.js';

export const ENDPOINTS_ANNOTATION = 'local.smtprelay.dev/endpoints';
/** On each workload: pod name -> 127.0.0.1:<metrics port> (src/controller/queue/targets.ts reads it). */
export const PODS_ANNOTATION = 'local.smtprelay.dev/pods';
export const FIELD_MANAGER = 'local-runtime';
export const MANAGED_SELECTOR = 'app.kubernetes.io/managed-by=smtp-relay-operator';
const LOG_PREFIX = '[local-runtime DEV-ONLY]';
/** At most this many replicas run locally (a laptop does not need ten relays); the rest are reported unavailable. */
export const MAX_LOCAL_REPLICAS = 3;
const DEFAULT_CONFIG_PATH = '/etc/smtp-relay/config/relay.json';

export interface LocalRuntimeOptions {
  kubeconfig: string;
  /** Only Deployments in this namespace; default all namespaces. */
  namespace?: string;
  /** dist/cli.js */
  cliPath: string;
  /** The Node binary that runs the relays. */
  nodeBin: string;
  /** Volumes, rewritten configs and relay logs go here. */
  workDir: string;
  /** API poll interval. Default 1000 ms. */
  pollMs?: number;
  /** Where log lines go. Default stderr. Lines never contain Secret data. */
  log?: (line: string) => void;
}

export interface LocalRelay {
  namespace: string;
  name: string;
  kind: WorkloadKind;
  /** Pod name: <set>-<n> for a StatefulSet, <deployment>-local-<n> for a Deployment. */
  pod: string;
  replica: number;
  /** StatefulSet pods: the claim directories, by mount path. */
  claimDirs: Record<string, string>;
  /** listener name -> local port */
  ports: Record<string, number>;
  metricsPort: number;
  pid: number | undefined;
  ready: boolean;
}

export interface LocalRuntime {
  stop(): Promise<void>;
  relays(): LocalRelay[];
}

// ---------- minimal shapes of the objects read ----------

interface Meta {
  name: string;
  namespace?: string;
  uid?: string;
  generation?: number;
  resourceVersion?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  deletionTimestamp?: string;
}
interface KeyToPath {
  key: string;
  path: string;
  mode?: number;
}
interface Volume {
  name: string;
  configMap?: { name: string; items?: KeyToPath[]; defaultMode?: number; optional?: boolean };
  secret?: { secretName: string; items?: KeyToPath[]; defaultMode?: number; optional?: boolean };
  emptyDir?: object;
}
interface Container {
  name: string;
  args?: string[];
  volumeMounts?: { name: string; mountPath: string; subPath?: string }[];
}
interface DeploymentCondition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
  lastUpdateTime?: string;
}
interface DeploymentStatus {
  observedGeneration?: number;
  replicas?: number;
  readyReplicas?: number;
  availableReplicas?: number;
  updatedReplicas?: number;
  unavailableReplicas?: number;
  conditions?: DeploymentCondition[];
}
export type WorkloadKind = 'Deployment' | 'StatefulSet';
interface ClaimTemplate {
  metadata: { name: string; labels?: Record<string, string> };
  spec?: Record<string, unknown>;
}
export interface Deployment {
  /** Deployment (PassThrough) or StatefulSet (Durable); both run here. */
  kind?: WorkloadKind;
  metadata: Meta;
  spec: {
    replicas?: number;
    template: { metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> }; spec: { containers: Container[]; volumes?: Volume[] } };
    volumeClaimTemplates?: ClaimTemplate[];
  };
  status?: DeploymentStatus;
}
interface DataObject {
  metadata: Meta;
  data?: Record<string, string>;
  binaryData?: Record<string, string>;
}

// ---------- pure helpers ----------

/** Files a ConfigMap/Secret volume projects: relative path -> bytes + mode. Secret data is base64. */
export function projectVolume(
  obj: DataObject,
  source: { items?: KeyToPath[]; defaultMode?: number },
  isSecret: boolean,
): Map<string, { body: Buffer; mode: number }> {
  const all = new Map<string, Buffer>();
  for (const [k, v] of Object.entries(obj.data ?? {})) all.set(k, isSecret ? Buffer.from(v, 'base64') : Buffer.from(v, 'utf8'));
  for (const [k, v] of Object.entries(obj.binaryData ?? {})) all.set(k, Buffer.from(v, 'base64'));
  // Owner-readable whatever defaultMode says: the relay runs as this user, not as fsGroup 65532.
  const mode = ((source.defaultMode ?? 0o644) & 0o777) | 0o400;
  const out = new Map<string, { body: Buffer; mode: number }>();
  if (source.items && source.items.length > 0) {
    for (const item of source.items) {
      const body = all.get(item.key);
      if (!body) throw new Error(`key ${item.key} not found in ${isSecret ? 'Secret' : 'ConfigMap'} ${obj.metadata.name}`);
      out.set(item.path, { body, mode: ((item.mode ?? mode) & 0o777) | 0o400 });
    }
  } else {
    for (const [k, body] of all) out.set(k, { body, mode });
  }
  return out;
}

function hashFiles(files: Map<string, { body: Buffer; mode: number }>): string {
  const h = createHash('sha256');
  for (const name of [...files.keys()].sort()) {
    const f = files.get(name)!;
    h.update(`${name}\0${f.mode}\0${f.body.length}\0`).update(f.body);
  }
  return h.digest('hex');
}

/** `..2026_11_28_15_05_25.1234567890`, as the kubelet names its timestamped dirs. */
function timestampDirName(now = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0');
  const stamp = `${now.getUTCFullYear()}_${p(now.getUTCMonth() + 1)}_${p(now.getUTCDate())}_${p(now.getUTCHours())}_${p(now.getUTCMinutes())}_${p(now.getUTCSeconds())}`;
  return `..${stamp}.${randomBytes(5).readUInt32BE(0)}`;
}

/**
 * Kubernetes' AtomicWriter: new files in a fresh `..<timestamp>` dir, `..data_tmp` -> it,
 * rename over `..data` (the atomic switch), then `key -> ..data/key` links for new keys,
 * then remove the old timestamp dir and links of keys that are gone.
 */
export async function writeAtomic(dir: string, files: Map<string, { body: Buffer; mode: number }>): Promise<void> {
  await fsp.mkdir(dir, { recursive: true });
  const dataLink = path.join(dir, '..data');
  const oldTarget = await fsp.readlink(dataLink).catch(() => undefined);
  const tsName = timestampDirName();
  const tsDir = path.join(dir, tsName);
  await fsp.mkdir(tsDir, { mode: 0o755 });
  for (const [rel, f] of files) {
    const file = path.join(tsDir, rel);
    await fsp.mkdir(path.dirname(file), { recursive: true });
    await fsp.writeFile(file, f.body, { mode: f.mode });
    await fsp.chmod(file, f.mode);
  }
  const tmpLink = path.join(dir, '..data_tmp');
  await fsp.rm(tmpLink, { force: true });
  await fsp.symlink(tsName, tmpLink);
  await fsp.rename(tmpLink, dataLink);
  const topLevel = new Set([...files.keys()].map((rel) => rel.split('/')[0]!));
  for (const name of topLevel) {
    const link = path.join(dir, name);
    const existing = await fsp.readlink(link).catch(() => undefined);
    if (existing !== path.join('..data', name)) {
      await fsp.rm(link, { force: true, recursive: true });
      await fsp.symlink(path.join('..data', name), link);
    }
  }
  for (const entry of await fsp.readdir(dir)) {
    if (entry.startsWith('..')) continue;
    if (!topLevel.has(entry)) await fsp.rm(path.join(dir, entry), { force: true, recursive: true });
  }
  if (oldTarget && oldTarget !== tsName) await fsp.rm(path.join(dir, oldTarget), { recursive: true, force: true });
}

/** Maps a path under one of the pod's mount paths to the local dir (longest mount wins). */
export function mapMountPath(value: string, mounts: Map<string, string>): string {
  let best: string | undefined;
  for (const mountPath of mounts.keys()) {
    if ((value === mountPath || value.startsWith(`${mountPath}/`)) && (!best || mountPath.length > best.length)) best = mountPath;
  }
  return best ? mounts.get(best)! + value.slice(best.length) : value;
}

/** Every string in the config that names a mounted path, rewritten; other values untouched. */
export function rewritePaths(value: unknown, mounts: Map<string, string>): unknown {
  if (typeof value === 'string') return value.startsWith('/') ? mapMountPath(value, mounts) : value;
  if (Array.isArray(value)) return value.map((v) => rewritePaths(v, mounts));
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, rewritePaths(v, mounts)]));
  return value;
}

export interface LocalPorts {
  listeners: Record<string, number>;
  metrics: number;
}

/** relay.json for a local process: mounted paths -> local dirs, ports -> local ports. */
export function localRelayConfig(config: Record<string, unknown>, mounts: Map<string, string>, ports: LocalPorts): Record<string, unknown> {
  const out = rewritePaths(config, mounts) as Record<string, unknown>;
  const listeners = Array.isArray(out.listeners) ? (out.listeners as { name?: string; port?: number }[]) : [];
  out.listeners = listeners.map((l) => {
    const port = l.name ? ports.listeners[l.name] : undefined;
    if (port === undefined) throw new Error(`no local port allocated for listener ${String(l.name)}`);
    return { ...l, port };
  });
  out.metricsPort = ports.metrics;
  return out;
}

/** The container's args with the config path replaced and every mounted path mapped. */
export function localRelayArgs(args: string[] | undefined, mounts: Map<string, string>, localConfigPath: string): { args: string[]; configPath: string } {
  const out: string[] = [];
  let configPath = DEFAULT_CONFIG_PATH;
  const input = args && args.length > 0 ? args : ['relay'];
  let sawConfig = false;
  for (let i = 0; i < input.length; i++) {
    const arg = input[i]!;
    if (arg === '--config' && i + 1 < input.length) {
      configPath = input[++i]!;
      out.push('--config', localConfigPath);
      sawConfig = true;
    } else if (arg.startsWith('--config=')) {
      configPath = arg.slice('--config='.length);
      out.push(`--config=${localConfigPath}`);
      sawConfig = true;
    } else if (arg.includes('=') && arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      out.push(`${arg.slice(0, eq + 1)}${mapMountPath(arg.slice(eq + 1), mounts)}`);
    } else {
      out.push(arg.startsWith('/') ? mapMountPath(arg, mounts) : arg);
    }
  }
  if (!sawConfig) out.push('--config', localConfigPath);
  // Loopback only: this is a developer machine.
  out.push('--listen-host', '127.0.0.1', '--metrics-host', '127.0.0.1');
  return { args: out, configPath };
}

/** What the deployment controller would write, from the processes' readiness. */
export function deploymentStatus(
  d: Deployment,
  counts: { replicas: number; updated: number; ready: number },
  previous: DeploymentCondition[] | undefined,
  now: string,
): DeploymentStatus {
  const desired = d.spec.replicas ?? 1;
  // As Kubernetes: with maxUnavailable 0, available means every (locally runnable) replica is ready; 0 of 0 counts.
  const available = counts.ready >= Math.min(desired, MAX_LOCAL_REPLICAS);
  const cond = (type: string, status: string, reason: string, message: string): DeploymentCondition => {
    const prev = previous?.find((c) => c.type === type);
    const same = prev?.status === status;
    return { type, status, reason, message, lastUpdateTime: same && prev?.reason === reason ? (prev.lastUpdateTime ?? now) : now, lastTransitionTime: same ? (prev?.lastTransitionTime ?? now) : now };
  };
  const rolledOut = counts.updated === counts.replicas && counts.ready === counts.replicas;
  return {
    observedGeneration: d.metadata.generation,
    replicas: counts.replicas,
    updatedReplicas: counts.updated,
    readyReplicas: counts.ready,
    availableReplicas: counts.ready,
    unavailableReplicas: Math.max(0, desired - counts.ready),
    conditions: [
      available
        ? cond('Available', 'True', 'MinimumReplicasAvailable', 'Deployment has minimum availability (local runtime, development only).')
        : cond('Available', 'False', 'MinimumReplicasUnavailable', 'Deployment does not have minimum availability (local runtime, development only).'),
      rolledOut
        ? cond('Progressing', 'True', 'NewReplicaSetAvailable', `Replica set of ${d.metadata.name} has successfully progressed (local runtime).`)
        : cond('Progressing', 'True', 'ReplicaSetUpdated', `Replica set of ${d.metadata.name} is progressing (local runtime).`),
    ],
  };
}

function statusDiffers(current: DeploymentStatus | undefined, next: DeploymentStatus): boolean {
  const c = current ?? {};
  const numbers = ['observedGeneration', 'replicas', 'updatedReplicas', 'readyReplicas', 'availableReplicas', 'unavailableReplicas'] as const;
  if (numbers.some((k) => (c[k] ?? 0) !== (next[k] ?? 0))) return true;
  for (const n of next.conditions ?? []) {
    const o = c.conditions?.find((x) => x.type === n.type);
    if (!o || o.status !== n.status || o.reason !== n.reason) return true;
  }
  return false;
}

function templateHash(d: Deployment): string {
  return createHash('sha256').update(JSON.stringify(d.spec.template)).digest('hex').slice(0, 16);
}

// ---------- I/O helpers ----------

function readyz(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/readyz', timeout: 1000, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

async function getJson<T>(target: KubeHttpTarget, p: string): Promise<T | undefined> {
  const res = await kubeRequest(target, 'GET', p);
  if (res.status === 404) return undefined;
  if (res.status !== 200) throw new Error(`GET ${p} answered ${res.status}: ${res.text.slice(0, 200)}`);
  return JSON.parse(res.text) as T;
}

async function mergePatch(target: KubeHttpTarget, p: string, body: unknown): Promise<void> {
  const res = await kubeRequest(target, 'PATCH', `${p}?fieldManager=${FIELD_MANAGER}`, body, 'application/merge-patch+json');
  if (res.status === 404) return; // gone meanwhile: the next poll notices
  if (res.status !== 200) throw new Error(`PATCH ${p} answered ${res.status}: ${res.text.slice(0, 200)}`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---------- one local "pod" (a relay process) ----------

class Replica {
  proc: ManagedProcess | undefined;
  ready = false;
  /** StatefulSet: mount path -> claim directory. */
  claimMounts = new Map<string, string>();
  restarts = 0;
  private startedAt = 0;
  private restartAt = 0;

  constructor(
    readonly index: number,
    public ports: LocalPorts,
    readonly dir: string,
    public generation: string,
  ) {}

  get running(): boolean {
    return this.proc !== undefined && !this.proc.hasExited;
  }
  /** CrashLoopBackOff, shortened: 1 s, 2 s, 4 s ... 10 s; reset after 30 s of uptime. */
  dueForRestart(now: number): boolean {
    return !this.running && now >= this.restartAt;
  }
  started(now: number): void {
    this.startedAt = now;
  }
  exited(now: number): void {
    if (now - this.startedAt > 30_000) this.restarts = 0;
    this.restartAt = now + Math.min(10_000, 1000 * 2 ** this.restarts);
    this.restarts++;
  }
}

// ---------- one Deployment ----------

class DeploymentRunner {
  private replicas: Replica[] = [];
  private claimsCreated = new Set<string>();
  private volumeHashes = new Map<string, string>();
  private currentTemplate = '';
  private waitingFor = '';
  private lastConditions: DeploymentCondition[] | undefined;
  private annotated = '';
  private serviceName: string | undefined;

  constructor(
    readonly namespace: string,
    readonly name: string,
    private readonly rt: RuntimeContext,
    readonly kind: WorkloadKind = 'Deployment',
    readonly uid?: string,
  ) {}

  private get dir(): string {
    // A StatefulSet and a Deployment of one relay share its name (during a mode switch both run).
    return path.join(this.rt.workDir, this.namespace, this.kind === 'StatefulSet' ? `${this.name}.sts` : this.name);
  }

  private podName(index: number): string {
    return this.kind === 'StatefulSet' ? `${this.name}-${index}` : `${this.name}-local-${index}`;
  }

  /** A claim's directory: per namespace, outside the workload's dir, so it outlives the pod and the set. */
  private claimDir(template: string, index: number): string {
    return path.join(this.rt.workDir, this.namespace, 'claims', `${template}-${this.name}-${index}`);
  }

  private claimMounts(d: Deployment, container: Container, index: number): Map<string, string> {
    const out = new Map<string, string>();
    const templates = new Set((d.spec.volumeClaimTemplates ?? []).map((t) => t.metadata.name));
    for (const m of container.volumeMounts ?? []) if (templates.has(m.name)) out.set(m.mountPath, this.claimDir(m.name, index));
    return out;
  }

  relays(): LocalRelay[] {
    return this.replicas.map((r) => ({
      namespace: this.namespace,
      name: this.name,
      kind: this.kind,
      pod: this.podName(r.index),
      claimDirs: Object.fromEntries(r.claimMounts),
      replica: r.index,
      ports: { ...r.ports.listeners },
      metricsPort: r.ports.metrics,
      pid: r.running ? r.proc?.pid : undefined,
      ready: r.ready,
    }));
  }

  /** One level-based pass: volumes, processes, readiness, Service annotation, status. */
  async sync(d: Deployment): Promise<void> {
    const tmpl = d.spec.template.spec;
    const container = tmpl.containers[0];
    if (!container) return;
    const mounts = new Map<string, string>();
    const volumes = new Map((tmpl.volumes ?? []).map((v) => [v.name, v]));
    const claimTemplates = new Set((d.spec.volumeClaimTemplates ?? []).map((t) => t.metadata.name));
    for (const m of container.volumeMounts ?? []) {
      if (volumes.get(m.name)?.emptyDir || claimTemplates.has(m.name)) continue; // per replica, below
      mounts.set(m.mountPath, path.join(this.dir, 'volumes', m.name));
    }
    const volumesOk = await this.syncVolumes(container, volumes);

    const hash = templateHash(d);
    if (hash !== this.currentTemplate && volumesOk) {
      if (this.currentTemplate) this.rt.log(`${this.namespace}/${this.name}: pod template changed: rolling out (restarting ${this.replicas.length} relay process(es))`);
      await Promise.all(this.replicas.map((r) => this.stopReplica(r)));
      this.currentTemplate = hash;
    }
    const desired = Math.max(0, Math.min(d.spec.replicas ?? 1, MAX_LOCAL_REPLICAS));
    if ((d.spec.replicas ?? 1) > MAX_LOCAL_REPLICAS && this.replicas.length < desired) {
      this.rt.log(`${this.namespace}/${this.name}: ${d.spec.replicas} replicas asked, running ${MAX_LOCAL_REPLICAS} locally`);
    }
    while (this.replicas.length > desired) await this.stopReplica(this.replicas.pop()!);
    if (volumesOk) {
      for (let i = 0; i < desired; i++) {
        let r = this.replicas[i];
        if (!r) {
          r = new Replica(i, { listeners: {}, metrics: 0 }, path.join(this.dir, `replica-${i}`), hash);
          this.replicas.push(r);
        }
        if (r.dueForRestart(Date.now())) {
          await this.ensureClaims(d, i);
          await this.startReplica(r, d, container, volumes, mounts, hash);
        }
      }
    }
    await Promise.all(this.replicas.map(async (r) => (r.ready = r.running && r.ports.metrics > 0 && (await readyz(r.ports.metrics)))));
    await this.annotateService(d);
    await this.annotatePods(d);
    await this.patchStatus(d);
  }

  /** What the StatefulSet controller does before a pod starts: a PersistentVolumeClaim per template (kept after). */
  private async ensureClaims(d: Deployment, index: number): Promise<void> {
    for (const t of d.spec.volumeClaimTemplates ?? []) {
      const name = `${t.metadata.name}-${this.name}-${index}`;
      if (this.claimsCreated.has(name)) continue;
      const body = { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name, namespace: this.namespace, labels: t.metadata.labels ?? {} }, spec: t.spec ?? {} };
      const res = await kubeRequest(this.rt.target, 'POST', `/api/v1/namespaces/${this.namespace}/persistentvolumeclaims?fieldManager=${FIELD_MANAGER}`, body);
      if (res.status !== 201 && res.status !== 409) throw new Error(`creating PersistentVolumeClaim ${name} answered ${res.status}: ${res.text.slice(0, 200)}`);
      this.claimsCreated.add(name);
      if (res.status === 201) this.rt.log(`${this.namespace}/${this.name}: created PersistentVolumeClaim ${name} (directory ${this.claimDir(t.metadata.name, index)})`);
    }
  }

  /** local.smtprelay.dev/pods on the workload: each running pod's metrics address (compared with the live object, not a memory). */
  private async annotatePods(d: Deployment): Promise<void> {
    const running = this.replicas.filter((r) => r.running && r.ports.metrics > 0);
    const value = JSON.stringify(Object.fromEntries(running.map((r) => [this.podName(r.index), `127.0.0.1:${r.ports.metrics}`])));
    if (value === d.metadata.annotations?.[PODS_ANNOTATION]) return;
    await mergePatch(this.rt.target, `${this.apiPath()}`, { metadata: { annotations: { [PODS_ANNOTATION]: value } } });
  }

  private apiPath(): string {
    return `/apis/apps/v1/namespaces/${this.namespace}/${this.kind === 'StatefulSet' ? 'statefulsets' : 'deployments'}/${this.name}`;
  }

  private async syncVolumes(container: Container, volumes: Map<string, Volume>): Promise<boolean> {
    const missing: string[] = [];
    for (const m of container.volumeMounts ?? []) {
      const v = volumes.get(m.name);
      if (!v || v.emptyDir) continue;
      const src = v.secret ? { kind: 'secrets', name: v.secret.secretName, spec: v.secret } : v.configMap ? { kind: 'configmaps', name: v.configMap.name, spec: v.configMap } : undefined;
      if (!src) {
        this.rt.logOnce(`${this.namespace}/${this.name}: volume ${m.name} has a type the local runtime does not support; skipped`);
        continue;
      }
      const obj = await getJson<DataObject>(this.rt.target, `/api/v1/namespaces/${this.namespace}/${src.kind}/${src.name}`);
      if (!obj) {
        if (!src.spec.optional) missing.push(`${src.kind === 'secrets' ? 'Secret' : 'ConfigMap'} ${src.name}`);
        else if (!this.volumeHashes.has(m.name)) {
          // As the kubelet does: an optional volume whose source is missing is an empty directory, filled once the source appears.
          await writeAtomic(path.join(this.dir, 'volumes', m.name), new Map());
          this.volumeHashes.set(m.name, hashFiles(new Map()));
        }
        continue;
      }
      let files;
      try {
        files = projectVolume(obj, src.spec, src.kind === 'secrets');
      } catch (err) {
        missing.push((err as Error).message);
        continue;
      }
      const hash = hashFiles(files);
      if (this.volumeHashes.get(m.name) === hash) continue;
      const first = !this.volumeHashes.has(m.name);
      await writeAtomic(path.join(this.dir, 'volumes', m.name), files);
      this.volumeHashes.set(m.name, hash);
      // Never content; for Secrets not even key names (a users Secret's keys are user names).
      const what = src.kind === 'secrets' ? `Secret ${src.name} (${files.size} key${files.size === 1 ? '' : 's'})` : `ConfigMap ${src.name} (keys: ${[...files.keys()].join(', ')})`;
      this.rt.log(`${this.namespace}/${this.name}: ${first ? 'mounted' : 'updated (atomic ..data swap)'} volume ${m.name} from ${what}`);
    }
    const waiting = missing.join('; ');
    if (waiting && waiting !== this.waitingFor) this.rt.log(`${this.namespace}/${this.name}: waiting for ${waiting} before starting relay processes`);
    this.waitingFor = waiting;
    return missing.length === 0;
  }

  private async startReplica(r: Replica, d: Deployment, container: Container, volumes: Map<string, Volume>, sharedMounts: Map<string, string>, hash: string): Promise<void> {
    const mounts = new Map(sharedMounts);
    r.claimMounts = this.claimMounts(d, container, r.index);
    for (const [mountPath, dir] of r.claimMounts) {
      await fsp.mkdir(dir, { recursive: true });
      mounts.set(mountPath, dir);
    }
    for (const m of container.volumeMounts ?? []) {
      if (!volumes.get(m.name)?.emptyDir) continue;
      const dir = path.join(r.dir, 'empty', m.name);
      await fsp.mkdir(dir, { recursive: true });
      mounts.set(m.mountPath, dir);
    }
    const localConfig = path.join(r.dir, 'relay.json');
    const { args, configPath } = localRelayArgs(container.args, mounts, localConfig);
    let config: Record<string, unknown>;
    try {
      config = JSON.parse(await fsp.readFile(mapMountPath(configPath, mounts), 'utf8')) as Record<string, unknown>;
    } catch (err) {
      this.rt.logOnce(`${this.namespace}/${this.name}: cannot read the relay config ${configPath}: ${(err as Error).message}`);
      return;
    }
    // Stable ports across restarts and rollouts (the printed swaks line stays valid);
    // a listener seen for the first time gets a fresh free port.
    for (const l of Array.isArray(config.listeners) ? (config.listeners as { name?: string }[]) : []) {
      if (l.name && r.ports.listeners[l.name] === undefined) r.ports.listeners[l.name] = await getFreePort();
    }
    if (!r.ports.metrics) r.ports.metrics = await getFreePort();
    await fsp.mkdir(r.dir, { recursive: true });
    await fsp.writeFile(localConfig, `${JSON.stringify(localRelayConfig(config, mounts, r.ports), null, 2)}\n`);
    const logPath = path.join(r.dir, 'relay.log');
    r.generation = hash;
    r.proc = ManagedProcess.start({ name: `relay ${this.namespace}/${this.podName(r.index)}`, command: this.rt.nodeBin, args: [this.rt.cliPath, ...args], logPath });
    r.started(Date.now());
    const proc = r.proc;
    this.rt.log(
      `${this.namespace}/${this.name}: started relay replica ${r.index} (generation ${d.metadata.generation ?? '?'}), pid ${proc.pid}, ` +
        `ports ${Object.entries(r.ports.listeners).map(([n, p]) => `${n}=${p}`).join(' ')} metrics=${r.ports.metrics}, log ${logPath}`,
    );
    void proc.waitForExit().then(async (code) => {
      if (r.proc !== proc || this.rt.stopping) return;
      r.exited(Date.now()); // backoff starts now: the next start is at least 1 s away
      r.ready = false;
      const tail = proc.logTail(5);
      if (/EADDRINUSE/.test(tail)) r.ports = { listeners: {}, metrics: 0 }; // someone took a port: pick new ones
      // A terminal Ctrl-C reaches the relays (same process group) a moment before the
      // runtime's own stop(): give that a chance so a shutdown is not reported as a crash.
      await sleep(300);
      if (this.rt.stopping) return;
      this.rt.log(`${this.namespace}/${this.name}: relay replica ${r.index} exited (code ${code}); restarting with backoff. Last log lines:\n${tail}`);
    });
  }

  private async stopReplica(r: Replica): Promise<void> {
    const proc = r.proc;
    r.proc = undefined;
    r.ready = false;
    if (proc && !proc.hasExited) {
      await proc.stop(5000);
      this.rt.log(`${this.namespace}/${this.name}: stopped relay replica ${r.index} (pid ${proc.pid})`);
    }
  }

  private async findService(d: Deployment): Promise<string | undefined> {
    if (this.serviceName) return this.serviceName;
    const byName = await getJson<{ spec?: { selector?: Record<string, string> } }>(this.rt.target, `/api/v1/namespaces/${this.namespace}/services/${this.name}`);
    if (byName) return (this.serviceName = this.name);
    const labels = d.spec.template.metadata?.labels ?? {};
    const list = await getJson<{ items: { metadata: Meta; spec?: { selector?: Record<string, string> } }[] }>(this.rt.target, `/api/v1/namespaces/${this.namespace}/services`);
    const match = list?.items.find((s) => {
      const sel = Object.entries(s.spec?.selector ?? {});
      return sel.length > 0 && sel.every(([k, v]) => labels[k] === v);
    });
    return (this.serviceName = match?.metadata.name);
  }

  private async annotateService(d: Deployment): Promise<void> {
    // The first ready replica (a draining one is not ready: it turns new clients away); else replica 0 while none is.
    const first = this.replicas.find((r) => r.ready) ?? (this.rt.otherReady(this) ? undefined : this.replicas[0]);
    if (!first?.running || Object.keys(first.ports.listeners).length === 0) return;
    const value = JSON.stringify(Object.fromEntries(Object.entries(first.ports.listeners).map(([n, p]) => [n, `127.0.0.1:${p}`])));
    const svc = await this.findService(d);
    if (!svc) return; // the operator has not created it yet
    const current = await getJson<{ metadata: Meta }>(this.rt.target, `/api/v1/namespaces/${this.namespace}/services/${svc}`);
    if (!current) {
      this.serviceName = undefined;
      return;
    }
    if (current.metadata.annotations?.[ENDPOINTS_ANNOTATION] === value) return;
    await mergePatch(this.rt.target, `/api/v1/namespaces/${this.namespace}/services/${svc}`, { metadata: { annotations: { [ENDPOINTS_ANNOTATION]: value } } });
    if (this.annotated !== value) this.rt.log(`${this.namespace}/${this.name}: annotated Service ${svc} ${ENDPOINTS_ANNOTATION}=${value}`);
    this.annotated = value;
  }

  private async patchStatus(d: Deployment): Promise<void> {
    const running = this.replicas.filter((r) => r.running);
    const counts = {
      replicas: running.length,
      updated: running.filter((r) => r.generation === this.currentTemplate).length,
      ready: this.replicas.filter((r) => r.ready).length,
    };
    const next = deploymentStatus(d, counts, d.status?.conditions ?? this.lastConditions, new Date().toISOString());
    if (!statusDiffers(d.status, next)) return;
    if (this.kind === 'StatefulSet') {
      // StatefulSetStatus has no unavailableReplicas; currentReplicas is its "updated" twin.
      const { unavailableReplicas: _unused, ...rest } = next;
      await mergePatch(this.rt.target, `${this.apiPath()}/status`, { status: { ...rest, currentReplicas: next.updatedReplicas } });
    } else {
      await mergePatch(this.rt.target, `${this.apiPath()}/status`, { status: next });
    }
    this.lastConditions = next.conditions;
  }

  /** The Deployment is gone: stop its processes, drop the annotation if the Service is still there. Claim directories stay. */
  async remove(): Promise<void> {
    await Promise.all(this.replicas.map((r) => this.stopReplica(r)));
    this.replicas = [];
    const svc = this.serviceName ? await getJson<{ metadata: Meta }>(this.rt.target, `/api/v1/namespaces/${this.namespace}/services/${this.serviceName}`).catch(() => undefined) : undefined;
    // Only our own value: during a mode switch the other workload may have written its own since.
    if (this.serviceName && this.annotated && svc?.metadata.annotations?.[ENDPOINTS_ANNOTATION] === this.annotated) {
      await mergePatch(this.rt.target, `/api/v1/namespaces/${this.namespace}/services/${this.serviceName}`, { metadata: { annotations: { [ENDPOINTS_ANNOTATION]: null } } }).catch(() => undefined);
    }
    await fsp.rm(this.dir, { recursive: true, force: true }).catch(() => undefined);
  }

  async stop(): Promise<void> {
    await Promise.all(this.replicas.map((r) => this.stopReplica(r)));
  }

  hasReady(): boolean {
    return this.replicas.some((r) => r.ready);
  }
}

interface RuntimeContext {
  target: KubeHttpTarget;
  workDir: string;
  cliPath: string;
  nodeBin: string;
  stopping: boolean;
  log(line: string): void;
  /** Logs a line only if it differs from the last one logged through logOnce. */
  logOnce(line: string): void;
  /** Whether the relay's other workload (mode switch: Deployment and StatefulSet both run) has a ready replica. */
  otherReady(runner: DeploymentRunner): boolean;
}

// ---------- the runtime ----------

export async function startLocalRuntime(opts: LocalRuntimeOptions): Promise<LocalRuntime> {
  if (!fs.existsSync(opts.cliPath)) throw new Error(`${opts.cliPath} does not exist: build first (npm run build)`);
  const target = await targetFromKubeconfig(opts.kubeconfig);
  await fsp.mkdir(opts.workDir, { recursive: true });
  const write = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const seen = new Set<string>();
  const ctx: RuntimeContext = {
    target,
    workDir: opts.workDir,
    cliPath: opts.cliPath,
    nodeBin: opts.nodeBin,
    stopping: false,
    log: (line) => write(`${LOG_PREFIX} ${line}`),
    logOnce: (line) => {
      if (seen.has(line)) return;
      seen.add(line);
      write(`${LOG_PREFIX} ${line}`);
    },
    otherReady: (runner) => {
      const other = runners.get(`${runner.kind === 'StatefulSet' ? 'Deployment' : 'StatefulSet'}/${runner.namespace}/${runner.name}`);
      return other?.hasReady() ?? false;
    },
  };
  const runners = new Map<string, DeploymentRunner>();
  const listPath = (plural: string) => `/apis/apps/v1/${opts.namespace ? `namespaces/${opts.namespace}/` : ''}${plural}?labelSelector=${encodeURIComponent(MANAGED_SELECTOR)}`;
  let lastError = '';

  const tick = async () => {
    const items: (Deployment & { kind: WorkloadKind })[] = [];
    for (const kind of ['Deployment', 'StatefulSet'] as const) {
      const list = await getJson<{ items: Deployment[] }>(target, listPath(kind === 'Deployment' ? 'deployments' : 'statefulsets'));
      for (const d of list?.items ?? []) items.push({ ...d, kind });
    }
    const live = new Set<string>();
    for (const d of items) {
      if (d.metadata.deletionTimestamp) continue;
      const key = `${d.kind}/${d.metadata.namespace}/${d.metadata.name}`;
      live.add(key);
      let runner = runners.get(key);
      if (runner && runner.uid !== d.metadata.uid) {
        // Deleted and created again between two polls: its pods went with the old object (as the garbage collector would do).
        ctx.log(`${key}: replaced by a new object; stopping the old one's relay processes`);
        runners.delete(key);
        await runner.remove();
        runner = undefined;
      }
      if (!runner) {
        runner = new DeploymentRunner(d.metadata.namespace!, d.metadata.name, ctx, d.kind, d.metadata.uid);
        runners.set(key, runner);
        ctx.log(`${key}: relay ${d.kind} found; running it as local processes`);
      }
      if (ctx.stopping) return;
      try {
        await runner.sync(d);
      } catch (err) {
        ctx.logOnce(`${key}: ${(err as Error).message}`);
      }
    }
    for (const [key, runner] of runners) {
      if (live.has(key) || ctx.stopping) continue;
      runners.delete(key);
      ctx.log(`${key}: deleted; stopping its relay processes`);
      await runner.remove();
    }
  };

  ctx.log(`started (development only: relays run as local processes on 127.0.0.1, ${opts.namespace ? `namespace ${opts.namespace}` : 'all namespaces'}, work dir ${opts.workDir})`);
  const loop = (async () => {
    while (!ctx.stopping) {
      try {
        await tick();
        lastError = '';
      } catch (err) {
        const msg = (err as Error).message;
        if (msg !== lastError) ctx.log(`cannot reach the API server: ${msg} (retrying)`);
        lastError = msg;
      }
      await sleep(opts.pollMs ?? 1000);
    }
  })();

  return {
    relays: () => [...runners.values()].flatMap((r) => r.relays()),
    async stop() {
      if (ctx.stopping) return;
      ctx.stopping = true;
      await loop;
      await Promise.all([...runners.values()].map((r) => r.stop()));
      runners.clear();
      ctx.log('stopped');
    },
  };
}
