// Kubernetes pieces shared by the operator benches: a private control plane with the
// operator's RBAC, namespaces with their Secrets, the Ready watcher, and a fake that
// writes Deployment status (this control plane has no kubelet and no Deployment
// controller, so nothing else ever marks a Deployment available).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import bcrypt from 'bcryptjs';
import { parseAllDocuments } from 'yaml';
import type { KubeConfig } from '../../src/kube/kube-config.js';
import type { SmtpRelay } from '../../src/api/types.js';
import { loadKubeConfig } from '../../src/kube/client.js';
import { applyObject, createObject } from '../../src/kube/apply.js';
import { kubeRequest } from '../../src/kube/http.js';
import { createInformer, objectKey, type KubeInformer } from '../../src/kube/informer.js';
import type { KubeObject } from '../../src/kube/types.js';
import { getFreePort, startControlPlane, repoRoot, type ControlPlane } from '../../test/harness/controlplane.js';
import { serviceAccountKubeconfig } from '../../test/harness/service-account.js';
import { cliPath, nodeBin } from '../../test/helpers/cli.js';
import { log } from './result.js';

export const OPERATOR_NAMESPACE = 'smtp-relay-system';
export const OPERATOR_SA = 'smtp-relay-operator';
export const OPERATOR_USER = `system:serviceaccount:${OPERATOR_NAMESPACE}:${OPERATOR_SA}`;
export const TLS_SECRET = 'relay-tls';
export const USERS_SECRET = 'smtp-users';

export interface BenchCluster {
  cp: ControlPlane;
  admin: KubeConfig;
  operatorKubeconfig: string;
  stop(): Promise<void>;
}

/** A private control plane (audit log on) with the operator's ClusterRole from deploy/base/rbac.yaml bound to its own ServiceAccount. */
export async function startBenchCluster(opts: { apiServerProfiling?: boolean } = {}): Promise<BenchCluster> {
  const cp = await startControlPlane({ certManager: false, audit: true, apiServerExtraArgs: opts.apiServerProfiling ? ['--profiling=true'] : [] });
  const admin = loadKubeConfig({ kubeconfig: cp.kubeconfigPath });
  await createNamespace(admin, OPERATOR_NAMESPACE);
  const docs = parseAllDocuments(fs.readFileSync(path.join(repoRoot, 'deploy', 'base', 'rbac.yaml'), 'utf8'))
    .map((d) => d.toJS() as KubeObject | null)
    .filter((d): d is KubeObject => d !== null);
  for (const doc of docs) await applyObject(admin, doc, { fieldManager: 'bench', force: true });
  const operatorKubeconfig = await serviceAccountKubeconfig(cp, OPERATOR_NAMESPACE, OPERATOR_SA, { expirationSeconds: 7200 });
  live.add(cp);
  return {
    cp,
    admin,
    operatorKubeconfig,
    stop: async () => {
      live.delete(cp);
      await cp.stop();
    },
  };
}

// Interrupted (Ctrl-C, timeout): stop the control planes so their temp dirs go too.
const live = new Set<ControlPlane>();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void Promise.allSettled([...live].map((cp) => cp.stop())).then(() => process.exit(130));
  });
}

export async function createNamespace(kc: KubeConfig, name: string): Promise<void> {
  await applyObject(kc, { apiVersion: 'v1', kind: 'Namespace', metadata: { name } }, { fieldManager: 'bench', force: true });
}

/** One self-signed P-256 certificate made with openssl, reused as every namespace's TLS Secret. */
export function makeTlsPair(): { crt: string; key: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-tls-'));
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '90', '-subj', '/CN=relay.bench.test', '-addext', 'subjectAltName=DNS:relay.bench.test', '-keyout', path.join(dir, 'tls.key'), '-out', path.join(dir, 'tls.crt')], { stdio: 'ignore' });
    return { crt: fs.readFileSync(path.join(dir, 'tls.crt'), 'utf8'), key: fs.readFileSync(path.join(dir, 'tls.key'), 'utf8') };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const b64 = (s: string) => Buffer.from(s).toString('base64');
const USERS_HASH = bcrypt.hashSync('bench password', 4);

/** A namespace with the TLS Secret (bring-your-own mode) and the SMTP users Secret every bench relay references. */
export async function prepareNamespace(kc: KubeConfig, ns: string, tls: { crt: string; key: string }): Promise<void> {
  await createNamespace(kc, ns);
  await applyObject(kc, { apiVersion: 'v1', kind: 'Secret', metadata: { name: TLS_SECRET, namespace: ns }, type: 'kubernetes.io/tls', data: { 'tls.crt': b64(tls.crt), 'tls.key': b64(tls.key) } }, { fieldManager: 'bench', force: true });
  await applyObject(kc, { apiVersion: 'v1', kind: 'Secret', metadata: { name: USERS_SECRET, namespace: ns }, data: { app: b64(USERS_HASH) } }, { fieldManager: 'bench', force: true });
}

export function relayObject(ns: string, name: string): SmtpRelay {
  return {
    apiVersion: 'smtprelay.dev/v1alpha1',
    kind: 'SmtpRelay',
    metadata: { name, namespace: ns },
    // PassThrough: the fake Deployment status stands in for the Deployment controller (Durable, the API default, is a StatefulSet).
    spec: { hostname: `${name}.bench.test`, tls: { secretName: TLS_SECRET }, auth: { secretRef: { name: USERS_SECRET } }, upstream: { host: 'upstream.bench.test' }, queue: { mode: 'PassThrough' } },
  } as SmtpRelay;
}

export async function createRelay(kc: KubeConfig, ns: string, name: string): Promise<SmtpRelay> {
  return (await createObject(kc, relayObject(ns, name) as unknown as KubeObject, { fieldManager: 'bench' })) as unknown as SmtpRelay;
}

/** Runs jobs with at most `limit` in flight. */
export function createPool(limit: number): { run<T>(job: () => Promise<T>): Promise<T>; idle(): Promise<void> } {
  let active = 0;
  const waiting: (() => void)[] = [];
  const idleWaiters: (() => void)[] = [];
  const next = () => {
    if (active < limit && waiting.length > 0) {
      active++;
      waiting.shift()!();
    } else if (active === 0 && waiting.length === 0) {
      for (const w of idleWaiters.splice(0)) w();
    }
  };
  return {
    run<T>(job: () => Promise<T>): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        waiting.push(() => {
          job().then(resolve, reject).finally(() => {
            active--;
            next();
          });
        });
        next();
      });
    },
    idle: () => new Promise<void>((r) => {
      idleWaiters.push(r);
      next();
    }),
  };
}

function isReady(obj: KubeObject): boolean {
  const status = obj.status as { observedGeneration?: number; conditions?: { type: string; status: string }[] } | undefined;
  return status?.observedGeneration === obj.metadata.generation && status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;
}

/** Watches SmtpRelays and records when each one first reports Ready for its current generation. */
export async function startReadyWatcher(kc: KubeConfig): Promise<{ readyAt: Map<string, number>; waitFor(keys: string[], timeoutMs: number): Promise<void>; stop(): void }> {
  const readyAt = new Map<string, number>();
  const informer = createInformer<KubeObject>(kc, { apiVersion: 'smtprelay.dev/v1alpha1', kind: 'SmtpRelay', plural: 'smtprelays' });
  const waiters = new Set<() => void>();
  const seen = (obj: KubeObject) => {
    const key = objectKey(obj);
    if (!readyAt.has(key) && isReady(obj)) {
      readyAt.set(key, performance.now());
      for (const w of waiters) w();
    }
  };
  informer.on('add', seen);
  informer.on('update', seen);
  await informer.start();
  await informer.waitForSync(30_000);
  return {
    readyAt,
    waitFor(keys, timeoutMs) {
      return new Promise<void>((resolve, reject) => {
        const check = () => {
          if (keys.every((k) => readyAt.has(k))) {
            waiters.delete(check);
            clearTimeout(timer);
            resolve();
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          const missing = keys.filter((k) => !readyAt.has(k));
          reject(new Error(`${missing.length} of ${keys.length} relays not Ready after ${timeoutMs} ms (e.g. ${missing.slice(0, 3).join(', ')})`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    stop: () => informer.stop(),
  };
}

/**
 * Fake Deployment status (stands in for the kubelet + Deployment controller, which this
 * control plane does not run): as soon as a Deployment of ours appears (or
 * its generation changes), write the status the Deployment controller would write once
 * all replicas of the current template are available. onAvailable fires when the watch
 * shows a Deployment available (the baseline uses it, as the operator uses its watch).
 */
export async function startFakeDeploymentStatus(kc: KubeConfig, onAvailable?: (d: KubeObject) => void): Promise<{ patched(): number; stop(): void }> {
  const informer: KubeInformer<KubeObject> = createInformer<KubeObject>(kc, { apiVersion: 'apps/v1', kind: 'Deployment', plural: 'deployments', labelSelector: 'app.kubernetes.io/managed-by=smtp-relay-operator' });
  const pool = createPool(8);
  const inFlight = new Set<string>();
  let patched = 0;
  const handle = (d: KubeObject) => {
    const replicas = (d.spec as { replicas?: number }).replicas ?? 1;
    const s = (d.status ?? {}) as { observedGeneration?: number; availableReplicas?: number; updatedReplicas?: number };
    if (s.observedGeneration === d.metadata.generation && (s.availableReplicas ?? 0) >= replicas && (s.updatedReplicas ?? 0) >= replicas) {
      onAvailable?.(d);
      return;
    }
    const key = `${objectKey(d)}@${d.metadata.generation}`;
    if (inFlight.has(key)) return;
    inFlight.add(key);
    void pool
      .run(() =>
        kubeRequest(kc, {
          method: 'PATCH',
          path: `/apis/apps/v1/namespaces/${d.metadata.namespace}/deployments/${d.metadata.name}/status`,
          contentType: 'application/merge-patch+json',
          body: { status: { observedGeneration: d.metadata.generation, replicas, updatedReplicas: replicas, readyReplicas: replicas, availableReplicas: replicas } },
        }),
      )
      .then(() => patched++, (err: unknown) => log(`fake Deployment status: ${String(err)}`))
      .finally(() => inFlight.delete(key));
  };
  informer.on('add', handle);
  informer.on('update', handle);
  await informer.start();
  await informer.waitForSync(30_000);
  return { patched: () => patched, stop: () => informer.stop() };
}

export interface OperatorProcess {
  child: ChildProcess;
  pid: number;
  /** Port of its /metrics (prom-client's default process and heap metrics included). */
  metricsPort: number;
  /** Writes a V8 heap snapshot (SIGUSR2, --heapsnapshot-signal) into dir and resolves with its path once written. */
  heapSnapshot(dir: string): Promise<string>;
  stop(): Promise<void>;
}

/** `node dist/cli.js operator` as its ServiceAccount, all namespaces, no leader election, no TLS probing; resolves when its workers run. */
export async function startOperatorProcess(kubeconfig: string, extraNodeArgs: string[] = (process.env.BENCH_OPERATOR_NODE_ARGS ?? '').split(' ').filter(Boolean)): Promise<OperatorProcess> {
  const metricsPort = await getFreePort();
  // The heap snapshot lands in the process's cwd: a dir of its own, so the bench can find it.
  const snapshotCwd = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-operator-heap-'));
  const args = [...extraNodeArgs, '--heapsnapshot-signal=SIGUSR2', cliPath, 'operator', '--kubeconfig', kubeconfig, '--leader-elect=false', '--tls-probe=off', '--mail-auth-check=off', `--metrics-port=${metricsPort}`, '--health-port=0', '--bind-address=127.0.0.1'];
  const child = spawn(nodeBin, args, { cwd: snapshotCwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LOG_LEVEL: process.env.BENCH_OPERATOR_LOG_LEVEL ?? 'info' } });
  let tail = '';
  let started = false;
  const logFile = process.env.BENCH_OPERATOR_LOG ? fs.openSync(process.env.BENCH_OPERATOR_LOG, 'a') : undefined;
  const onData = (d: Buffer) => {
    if (logFile !== undefined) fs.writeSync(logFile, d);
    if (started) return; // drain without keeping the logs
    tail = (tail + d.toString()).slice(-20_000);
    if (tail.includes('"starting workers"')) started = true;
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const until = Date.now() + 60_000;
  while (!started) {
    if (child.exitCode !== null || Date.now() > until) {
      child.kill('SIGKILL');
      throw new Error(`operator did not start:\n${tail.slice(-3000)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    child,
    pid: child.pid!,
    metricsPort,
    async heapSnapshot(dir: string) {
      const before = new Set(fs.readdirSync(snapshotCwd));
      child.kill('SIGUSR2');
      // V8 writes the file synchronously on the main thread: done once /metrics answers again after the file appeared.
      const until = Date.now() + 300_000;
      for (;;) {
        if (Date.now() > until) throw new Error('heap snapshot not written within 300 s');
        await new Promise((r) => setTimeout(r, 500));
        const file = fs.readdirSync(snapshotCwd).find((f) => f.endsWith('.heapsnapshot') && !before.has(f));
        if (!file) continue;
        const answered = await fetch(`http://127.0.0.1:${metricsPort}/metrics`, { signal: AbortSignal.timeout(60_000) }).then((r) => r.ok, () => false);
        if (!answered) continue;
        const target = path.join(dir, file);
        fs.renameSync(path.join(snapshotCwd, file), target);
        return target;
      }
    },
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(t);
      }
      fs.rmSync(snapshotCwd, { recursive: true, force: true });
    },
  };
}

export interface AuditEvent {
  stage: string;
  verb: string;
  user: { username: string };
  userAgent?: string;
  objectRef?: { resource?: string; subresource?: string; namespace?: string; name?: string };
  requestURI: string;
  stageTimestamp: string;
  responseStatus?: { code?: number };
}

/** Completed requests of one user from the audit log, optionally only those that completed within [fromMs, toMs]. */
export function auditEvents(auditLogPath: string, username: string, fromMs = 0, toMs = Infinity): AuditEvent[] {
  // kube-apiserver rotates its audit log at 100 MB (--audit-log-maxsize) into audit-<time>.log: read those too.
  const dir = path.dirname(auditLogPath);
  const base = path.basename(auditLogPath, '.log');
  const rotated = fs.readdirSync(dir).filter((f) => f.startsWith(`${base}-`) && f.endsWith('.log')).sort();
  const out: AuditEvent[] = [];
  for (const file of [...rotated.map((f) => path.join(dir, f)), auditLogPath]) collectAuditEvents(file, username, fromMs, toMs, out);
  return out;
}

function collectAuditEvents(file: string, username: string, fromMs: number, toMs: number, out: AuditEvent[]): void {
  // Line by line from the bytes: at 10,000 relays the log outgrows V8's largest string.
  const buf = fs.readFileSync(file);
  const needle = Buffer.from(username);
  for (let start = 0, end = 0; start < buf.length; start = end + 1) {
    end = buf.indexOf(10, start);
    if (end === -1) end = buf.length;
    const at = buf.indexOf(needle, start);
    if (at === -1) break;
    if (at > end) {
      end = buf.lastIndexOf(10, at); // skip to the line that holds the next match
      continue;
    }
    const line = buf.toString('utf8', start, end);
    let e: AuditEvent;
    try {
      e = JSON.parse(line) as AuditEvent;
    } catch {
      continue;
    }
    if (e.user?.username !== username || e.stage !== 'ResponseComplete') continue;
    const t = Date.parse(e.stageTimestamp);
    if (t >= fromMs && t <= toMs) out.push(e);
  }
}

export const WRITE_VERBS = new Set(['create', 'update', 'patch', 'delete', 'deletecollection']);
