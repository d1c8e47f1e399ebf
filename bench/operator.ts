// Operator benches (sections reconcile, quiet, memory): N SmtpRelays in bring-your-own TLS
// Secret mode on a private control plane, TLS probing off.
//
// - reconcile: time from the first create until all N report Ready with observedGeneration
//   current, for (a) the operator process and (b) a baseline: a tight client that
//   server-side applies the same children (the operator's own pure builders) and the status
//   (the operator's own computeStatus) with the same concurrency. Each side gets a fresh
//   control plane; their order alternates run by run; the ratio is taken per run.
//   Plus p50/p99 apply->Ready of one relay at a time on the idle system.
//   Each side's cost to the API server and etcd (CPU, watch events, requests by verb), since
//   the API server, not the operator, is the busy process. BENCH_BASELINE_PLUS=1 adds (c): the
//   baseline plus the operator's first status and Ready Event, which isolates what the operator
//   costs beyond its writes. BENCH_APISERVER_PROFILE=SECONDS: a CPU profile of the API server
//   on each side, bucketed with go tool pprof (bench/lib/apiserver-load.ts).
// - quiet: after convergence, the operator's write and list requests over a window, from the
//   API server's audit log (the operator runs as its own ServiceAccount).
// - memory: operator VmRSS at N = 0 and after convergence at each N, the slope between the two
//   largest N, and the live heap from a V8 heap snapshot summed by constructor (BENCH_HEAP_SNAPSHOT=0: none).
//
// Run: npm run build && node --import tsx bench/operator.ts [--quick|--full] [--only=reconcile,quiet,memory] [--runs=N] [--sizes=100,1000,10000]
import type { KubeConfig } from '../src/kube/kube-config.js';
import type { SmtpRelay } from '../src/api/types.js';
import { applyObject, applyStatus } from '../src/kube/apply.js';
import { kubeRequest } from '../src/kube/http.js';
import type { KubeObject } from '../src/kube/types.js';
import { desiredChildren, FIELD_MANAGER } from '../src/controller/builders/index.js';
import { computeStatus } from '../src/controller/status.js';
import { observeDeployment } from '../src/controller/reconciler.js';
import { secretFacts } from '../src/controller/tls-secret.js';
import { DEFAULT_RELAY_IMAGE } from '../src/controller/flags.js';
import { createEventRecorder } from '../src/kube/events.js';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { formatHeapGroups, summarizeHeapSnapshot, type HeapSummary } from './lib/heap-snapshot.js';
import { cpuSeconds, rssMiB } from './lib/proc.js';
import { apiServerLoad, formatLoad, formatProfile, loadDelta, profileApiServer, profileApiServerUntil, type ApiServerLoad, type ProfileSummary } from './lib/apiserver-load.js';
import { benchArgs, check, emit, log, sleep, type Row } from './lib/result.js';
import { median, pairedRatio, percentile, round } from './lib/stats.js';
import {
  auditEvents,
  createPool,
  createRelay,
  makeTlsPair,
  OPERATOR_NAMESPACE,
  OPERATOR_USER,
  prepareNamespace,
  relayObject,
  startBenchCluster,
  type BenchCluster,
  startFakeDeploymentStatus,
  startOperatorProcess,
  startReadyWatcher,
  TLS_SECRET,
  USERS_SECRET,
  WRITE_VERBS,
} from './lib/kube-bench.js';

const args = benchArgs();
const want = (s: string) => args.only.length === 0 || args.only.includes(s);
const sizesArg = process.argv.find((a) => a.startsWith('--sizes='));
const sizes = sizesArg ? sizesArg.slice(8).split(',').map(Number) : args.quick ? [100] : [100, 1000, 10_000];
// The issue: a median of 3 up to 1,000; one run is enough at 10,000.
const runsFor = (n: number) => args.runs ?? (args.quick || n >= 10_000 ? 1 : 3);
const heapSnapshots = process.env.BENCH_HEAP_SNAPSHOT !== '0';
const nodeArgs = process.env.BENCH_OPERATOR_NODE_ARGS ?? '';
const latencySamples = Number(process.env.BENCH_LATENCY_SAMPLES ?? (args.quick ? 20 : 100));
const quietWindowMs = Number(process.env.BENCH_QUIET_MS ?? (args.quick ? 60_000 : 5 * 60_000));
const RELAYS_PER_NAMESPACE = 50;
const CONCURRENCY = 4; // the operator's --concurrency default; the baseline uses the same
const CREATE_CONCURRENCY = 8;
// What the operator uses (its --image default), so both sides write the same children.
const DEFAULT_IMAGE = DEFAULT_RELAY_IMAGE;
const tls = makeTlsPair();
// BENCH_APISERVER_PROFILE=SECONDS: a CPU profile of the API server over that many seconds,
// from 5 s after the first create, on each side (in BENCH_APISERVER_PROFILE_DIR);
// BENCH_APISERVER_PROFILE=all: over the whole convergence, in 30-s slices merged.
const profileWhole = process.env.BENCH_APISERVER_PROFILE === 'all';
const profileSeconds = profileWhole ? Infinity : Number(process.env.BENCH_APISERVER_PROFILE ?? 0);
// BENCH_BASELINE_PLUS=1: a third side, the baseline with the operator's two extra writes (baselineRun).
const withBaselinePlus = process.env.BENCH_BASELINE_PLUS === '1';
const profileDir = process.env.BENCH_APISERVER_PROFILE_DIR ?? fs.mkdtempSync(path.join(os.tmpdir(), 'bench-apiserver-profile-'));

type Side = 'operator' | 'baseline' | 'baseline+';
interface SideLoad {
  load: ApiServerLoad;
  profile?: ProfileSummary;
}
/** What each side made the control plane do while converging, per N and run. */
const loads = new Map<number, Record<Side, SideLoad[]>>();

/** Samples the control plane's load around `converge`, with an optional profile early in it. */
async function measureSide<T>(cluster: BenchCluster, n: number, run: number, side: Side, converge: () => Promise<T>): Promise<T> {
  const before = await apiServerLoad(cluster.cp);
  const name = `n${n}-run${run + 1}-${side}`;
  const converged = converge();
  const profile = (
    profileWhole
      ? profileApiServerUntil(cluster.cp, converged, profileDir, name)
      : profileSeconds > 0
        ? sleep(5000).then(() => profileApiServer(cluster.cp, profileSeconds, profileDir, name))
        : Promise.resolve(undefined)
  ).catch((err: unknown) => {
    log(`API server profile failed: ${String(err)}`);
    return undefined;
  });
  const result = await converged;
  const load = loadDelta(before, await apiServerLoad(cluster.cp));
  const p = await profile;
  log(`${side}: ${formatLoad(load, n)}`);
  if (p) log(`${side}: API server profile ${p.file}: ${formatProfile(p)}`);
  const perN = loads.get(n) ?? { operator: [], baseline: [], 'baseline+': [] };
  perN[side].push({ load, profile: p });
  loads.set(n, perN);
  return result;
}

function namespacesFor(n: number): string[] {
  return Array.from({ length: Math.max(1, Math.ceil(n / RELAYS_PER_NAMESPACE)) }, (_, i) => `bench-${i}`);
}

/** Creates n relays spread over the namespaces (CREATE_CONCURRENCY at a time); calls onCreated with each stored object. */
async function createRelays(kc: KubeConfig, n: number, onCreated?: (r: SmtpRelay) => void): Promise<string[]> {
  const nss = namespacesFor(n);
  const pool = createPool(CREATE_CONCURRENCY);
  const keys: string[] = [];
  await Promise.all(
    Array.from({ length: n }, (_, i) => {
      const ns = nss[Math.floor(i / RELAYS_PER_NAMESPACE)]!;
      const name = `relay-${i}`;
      keys.push(`${ns}/${name}`);
      return pool.run(async () => {
        const relay = await createRelay(kc, ns, name);
        onCreated?.(relay);
      });
    }),
  );
  return keys;
}

/** JSON bytes per relay of what the operator's informers cache (full objects), and how much of it is managedFields. */
async function cachedObjectBytes(kc: KubeConfig, n: number): Promise<{ total: number; managedFields: number; byResource: Record<string, number> }> {
  let total = 0;
  let managed = 0;
  const byResource: Record<string, number> = {};
  for (const path of ['/apis/smtprelay.dev/v1alpha1/smtprelays', '/apis/apps/v1/deployments', '/api/v1/configmaps', '/api/v1/services', '/apis/networking.k8s.io/v1/networkpolicies']) {
    const list = await kubeRequest<{ items: KubeObject[] }>(kc, { method: 'GET', path, query: path.includes('smtprelays') ? undefined : { labelSelector: 'app.kubernetes.io/managed-by=smtp-relay-operator' } });
    const resource = path.slice(path.lastIndexOf('/') + 1);
    for (const item of list.items) {
      const bytes = JSON.stringify(item).length;
      total += bytes;
      byResource[resource] = (byResource[resource] ?? 0) + bytes;
      managed += JSON.stringify(item.metadata.managedFields ?? []).length;
    }
  }
  for (const r of Object.keys(byResource)) byResource[r] = Math.round(byResource[r]! / n);
  return { total: Math.round(total / n), managedFields: Math.round(managed / n), byResource };
}

interface OperatorRun {
  seconds: number;
  /** The operator's user+system CPU from the first create until all Ready: unlike time, meaningful on a loaded machine. */
  cpu: number;
  rss0: number;
  rssN: number;
  objectBytes: Awaited<ReturnType<typeof cachedObjectBytes>>;
  writesPerRelay: number;
  writesByKind: Record<string, number>;
  quiet?: { windowS: number; writes: number; writesByResource: Record<string, number>; lists: number; watches: number; listsTotal: number; rssAfter: number };
  latencyMs?: number[];
  /** prom-client's nodejs_heap_size_used_bytes / nodejs_external_memory_bytes after convergence, MiB. */
  heapUsed: number;
  external: number;
  heap?: HeapSummary;
}

/** One gauge from the operator's /metrics, in MiB. */
async function metricMiB(port: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const m = new RegExp(`^${name} ([0-9.e+]+)$`, 'm').exec(text);
  return m ? Number(m[1]) / 1048576 : NaN;
}

async function operatorRun(n: number, runIndex: number, extra: { quiet: boolean; latency: boolean; heap: boolean }): Promise<OperatorRun> {
  const cluster = await startBenchCluster({ apiServerProfiling: profileSeconds > 0 });
  try {
    for (const ns of namespacesFor(n)) await prepareNamespace(cluster.admin, ns, tls);
    const kubelet = await startFakeDeploymentStatus(cluster.admin);
    const watcher = await startReadyWatcher(cluster.admin);
    const op = await startOperatorProcess(cluster.operatorKubeconfig);
    try {
      await sleep(3000);
      const rss0 = rssMiB(op.pid);
      const cpu0 = cpuSeconds(op.pid);
      const t0Wall = Date.now();
      const t0 = performance.now();
      const keys = await measureSide(cluster, n, runIndex, 'operator', async () => {
        const created = await createRelays(cluster.admin, n);
        log(`operator: created ${n} relays in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
        await watcher.waitFor(created, Math.max(120_000, n * 600));
        return created;
      });
      const seconds = (Math.max(...keys.map((k) => watcher.readyAt.get(k)!)) - t0) / 1000;
      const cpu = cpuSeconds(op.pid) - cpu0;
      log(`operator: ${n} relays Ready in ${seconds.toFixed(1)} s, operator CPU ${cpu.toFixed(1)} s (fake Deployment status patched ${kubelet.patched()})`);
      await sleep(5000);
      const rssN = rssMiB(op.pid);
      const heapUsed = await metricMiB(op.metricsPort, 'nodejs_heap_size_used_bytes');
      const external = await metricMiB(op.metricsPort, 'nodejs_external_memory_bytes');
      log(`operator RSS ${rssN.toFixed(1)} MiB, heap used ${heapUsed.toFixed(1)} MiB, external ${external.toFixed(1)} MiB`);
      // What the operator wrote while converging (the baseline writes 3 children + 1 status per relay).
      const convergeWrites = auditEvents(cluster.cp.auditLogPath!, OPERATOR_USER, t0Wall, Date.now()).filter((e) => WRITE_VERBS.has(e.verb));
      const byKind: Record<string, number> = {};
      for (const w of convergeWrites) {
        const k = `${w.objectRef?.resource ?? '?'}${w.objectRef?.subresource ? `/${w.objectRef.subresource}` : ''}`;
        byKind[k] = (byKind[k] ?? 0) + 1;
      }
      const objectBytes = await cachedObjectBytes(cluster.admin, n);
      log(`object JSON bytes per relay: ${JSON.stringify(objectBytes)}`);
      const run: OperatorRun = { seconds, cpu, rss0, rssN, objectBytes, writesPerRelay: convergeWrites.length / n, writesByKind: byKind, heapUsed, external };
      log(`operator writes while converging: ${convergeWrites.length} (${JSON.stringify(byKind)})`);
      if (extra.quiet) {
        const from = Date.now();
        log(`quiet window: ${quietWindowMs / 1000} s`);
        await sleep(quietWindowMs);
        const to = Date.now();
        await sleep(1500); // the audit log is written asynchronously
        const events = auditEvents(cluster.cp.auditLogPath!, OPERATOR_USER, from, to);
        const writes = events.filter((e) => WRITE_VERBS.has(e.verb));
        const writesByResource: Record<string, number> = {};
        for (const w of writes) {
          const r = `${w.verb} ${w.objectRef?.resource ?? '?'}${w.objectRef?.subresource ? `/${w.objectRef.subresource}` : ''}`;
          writesByResource[r] = (writesByResource[r] ?? 0) + 1;
        }
        const all = auditEvents(cluster.cp.auditLogPath!, OPERATOR_USER);
        run.quiet = {
          windowS: (to - from) / 1000,
          writes: writes.length,
          writesByResource,
          lists: events.filter((e) => e.verb === 'list').length,
          watches: events.filter((e) => e.verb === 'watch').length,
          listsTotal: all.filter((e) => e.verb === 'list').length,
          rssAfter: rssMiB(op.pid),
        };
        log(`quiet: ${JSON.stringify(run.quiet)}`);
      }
      if (extra.latency) {
        await prepareNamespace(cluster.admin, 'bench-latency', tls);
        const samples: number[] = [];
        for (let i = 0; i < latencySamples; i++) {
          const t = performance.now();
          const r = await createRelay(cluster.admin, 'bench-latency', `single-${i}`);
          const key = `bench-latency/${r.metadata.name}`;
          await watcher.waitFor([key], 60_000);
          samples.push(watcher.readyAt.get(key)! - t);
          await sleep(200); // idle between samples
        }
        run.latencyMs = samples;
        log(`latency: p50 ${median(samples).toFixed(0)} ms, p99 ${percentile(samples, 99).toFixed(0)} ms`);
      }
      if (extra.heap) {
        // Last: writing a snapshot grows the process, so every other figure is taken before it.
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-heap-'));
        try {
          const t = performance.now();
          const file = await op.heapSnapshot(dir);
          run.heap = summarizeHeapSnapshot(file);
          const mib = fs.statSync(file).size / 1048576;
          log(`heap snapshot (${mib.toFixed(0)} MiB file, ${((performance.now() - t) / 1000).toFixed(1)} s): ${run.heap ? `${(run.heap.totalBytes / 1048576).toFixed(1)} MiB live; ${formatHeapGroups(run.heap.groups, 15)}` : 'too large to parse'}`);
          if (process.env.BENCH_HEAP_KEEP) fs.copyFileSync(file, path.join(process.env.BENCH_HEAP_KEEP, `operator-n${n}.heapsnapshot`));
        } finally {
          fs.rmSync(dir, { recursive: true, force: true });
        }
      }
      return run;
    } finally {
      await op.stop();
      watcher.stop();
      kubelet.stop();
    }
  } finally {
    await cluster.stop();
  }
}

/**
 * The baseline: the same children and status, written by a tight client with the same concurrency.
 * `operatorWrites` (side "baseline+"): also the operator's two writes the baseline leaves out, the
 * first status (Ready=False, Reconciling=True, observedGeneration) right after the children and the
 * `Ready` Event after the last status, so the operator's remaining overhead (informers, queue,
 * watch traffic) shows on its own.
 */
async function baselineRun(n: number, run: number, operatorWrites = false): Promise<number> {
  const side: Side = operatorWrites ? 'baseline+' : 'baseline';
  const cluster = await startBenchCluster({ apiServerProfiling: profileSeconds > 0 });
  const kc = cluster.admin;
  try {
    const versions = new Map<string, Record<string, string>>();
    const facts = new Map<string, ReturnType<typeof secretFacts>>();
    for (const ns of namespacesFor(n)) {
      await prepareNamespace(kc, ns, tls);
      const read = async (name: string) => kubeRequest<{ metadata: { resourceVersion: string }; data?: Record<string, string> }>(kc, { method: 'GET', path: `/api/v1/namespaces/${ns}/secrets/${name}` });
      const [t, u] = await Promise.all([read(TLS_SECRET), read(USERS_SECRET)]);
      versions.set(ns, { [TLS_SECRET]: t.metadata.resourceVersion, [USERS_SECRET]: u.metadata.resourceVersion });
      facts.set(ns, secretFacts(t.metadata.resourceVersion, t.data));
    }
    const relays = new Map<string, SmtpRelay>();
    const workers = createPool(CONCURRENCY);
    const events = createEventRecorder({ kc, reportingInstance: 'bench-baseline', reportingController: 'smtprelay.dev/operator' });
    const writeRelayStatus = async (relay: SmtpRelay, d: KubeObject) => {
      // The queue observation the operator has for a pass-through relay whose pods it has not read (this control plane runs none).
      const queue = { durable: false, pods: [], stranded: [], desiredReplicas: relay.spec.replicas ?? 1 };
      const status = computeStatus(relay, { problems: [], deployment: observeDeployment(d), tlsSecret: facts.get(relay.metadata.namespace)!.tls, probe: { enabled: false }, queue }, new Date());
      await applyStatus(kc, { apiVersion: relay.apiVersion, kind: relay.kind, metadata: { name: relay.metadata.name, namespace: relay.metadata.namespace }, status }, { fieldManager: FIELD_MANAGER, force: true });
    };
    const statusWritten = new Set<string>();
    /** baseline+: each relay's children and first status, which its final status waits for (so it is never overwritten). */
    const firstStatus = new Map<string, Promise<void>>();
    const failures: unknown[] = [];
    const writeStatus = (d: KubeObject) => {
      const key = `${d.metadata.namespace}/${d.metadata.labels?.['app.kubernetes.io/instance']}`;
      const relay = relays.get(key);
      if (!relay || statusWritten.has(key)) return;
      statusWritten.add(key);
      // Never before the first status (it would overwrite this one); waited for outside the pool, which it would deadlock.
      void (firstStatus.get(key) ?? Promise.resolve())
        .then(() =>
          workers.run(async () => {
            await writeRelayStatus(relay, d);
            if (operatorWrites) await events.normal(relay as unknown as KubeObject, 'Ready', 'relay is Ready');
          }),
        )
        .catch((err: unknown) => failures.push(err));
    };
    const kubelet = await startFakeDeploymentStatus(kc, writeStatus);
    const watcher = await startReadyWatcher(kc);
    try {
      const t0 = performance.now();
      const keys = await measureSide(cluster, n, run, side, async () => {
        const created = await createRelays(kc, n, (relay) => {
          const key = `${relay.metadata.namespace}/${relay.metadata.name}`;
          relays.set(key, relay);
          const applied = workers
            .run(async () => {
              let deployment: KubeObject | undefined;
              for (const child of desiredChildren(relay, { defaultImage: DEFAULT_IMAGE, secretVersions: versions.get(relay.metadata.namespace)!, monitoringNamespace: 'monitoring', operatorNamespace: OPERATOR_NAMESPACE })) {
                const written = await applyObject(kc, child, { fieldManager: FIELD_MANAGER, force: true });
                if (written.kind === 'Deployment') deployment = written;
              }
              // The operator's first status: its Deployment is not available yet.
              if (operatorWrites && deployment) await writeRelayStatus(relay, deployment);
            })
            .catch((err: unknown) => {
              failures.push(err);
            });
          if (operatorWrites) firstStatus.set(key, applied);
        });
        await watcher.waitFor(created, Math.max(120_000, n * 600));
        return created;
      });
      if (failures.length > 0) throw new Error(`baseline had ${failures.length} failed writes, e.g. ${String(failures[0])}`);
      const seconds = (Math.max(...keys.map((k) => watcher.readyAt.get(k)!)) - t0) / 1000;
      log(`${side}: ${n} relays Ready in ${seconds.toFixed(1)} s; object JSON bytes per relay: ${JSON.stringify(await cachedObjectBytes(kc, n))}`);
      return seconds;
    } finally {
      watcher.stop();
      kubelet.stop();
    }
  } finally {
    await cluster.stop();
  }
}

const rows: Row[] = [];
const notes: string[] = [
  `Relays: bring-your-own TLS Secret (one openssl P-256 certificate per namespace), ${RELAYS_PER_NAMESPACE} relays per namespace, replicas 1, operator --tls-probe=off --leader-elect=false --concurrency=${CONCURRENCY}, running as ServiceAccount ${OPERATOR_USER} with deploy/base/rbac.yaml.`,
  'No kubelet or Deployment controller: a fake in the bench process writes each Deployment\'s status (available) as soon as its watch sees it; the baseline waits on the same watch.',
  ...(nodeArgs ? [`Operator node flags: ${nodeArgs}.`] : []),
  `Baseline: a client with the same concurrency (${CONCURRENCY}) that server-side applies the operator's own desiredChildren() and then, once the Deployment is available, the operator's own computeStatus() - no informers, no intermediate status, no events.`,
  'Each side runs on its own fresh control plane; sides alternate order per run; the ratio is the median of per-run ratios.',
];
const doReconcile = want('reconcile');
const doQuiet = want('quiet');
const doMemory = want('memory');
const memory: { n: number; rss: number }[] = [];
const objectBytesAt = new Map<number, { total: number; managedFields: number }>();
const baselineWritesPerRelay = desiredChildren(relayObject('ns', 'r'), { defaultImage: DEFAULT_IMAGE, secretVersions: {} }).length + 1;
const heapAt = new Map<number, { heapUsed: number; external: number; summary?: HeapSummary }>();
// The issue's targets by N (issue 16).
const ratioTarget = (n: number) => (n >= 10_000 ? 1.3 : 1.2);
const rssTarget = (n: number) => (n >= 10_000 ? 400 : n >= 1000 ? 150 : undefined);

for (const n of sizes) {
  if (!doReconcile && !doMemory && !doQuiet) continue;
  const runs = doReconcile ? runsFor(n) : 1;
  const op: number[] = [];
  const opCpu: number[] = [];
  const base: number[] = [];
  const basePlus: number[] = [];
  let quiet: OperatorRun['quiet'];
  let latency: number[] | undefined;
  let writes: { perRelay: number; byKind: Record<string, number> } | undefined;
  let objectBytes: OperatorRun['objectBytes'] | undefined;
  for (let run = 0; run < runs; run++) {
    const last = run === runs - 1;
    const extra = { quiet: doQuiet && last, latency: doReconcile && last, heap: doMemory && last && heapSnapshots };
    const doOp = async () => {
      log(`operator run ${run + 1}/${runs}, N=${n}`);
      const r = await operatorRun(n, run, extra);
      op.push(r.seconds);
      opCpu.push(r.cpu);
      memory.push({ n: 0, rss: r.rss0 }, { n, rss: r.rssN });
      if (last) heapAt.set(n, { heapUsed: r.heapUsed, external: r.external, summary: r.heap });
      quiet ??= r.quiet;
      objectBytes ??= r.objectBytes;
      writes ??= { perRelay: r.writesPerRelay, byKind: r.writesByKind };
      latency ??= r.latencyMs;
    };
    const doBase = async () => {
      log(`baseline run ${run + 1}/${runs}, N=${n}`);
      base.push(await baselineRun(n, run));
    };
    const doBasePlus = async () => {
      log(`baseline+ run ${run + 1}/${runs}, N=${n}`);
      basePlus.push(await baselineRun(n, run, true));
    };
    if (!doReconcile) await doOp();
    else {
      // Each side first in turn: a side that always ran first (or last) would meet a cooler (or warmer) machine.
      const order = withBaselinePlus ? [doOp, doBase, doBasePlus] : [doOp, doBase];
      for (let i = 0; i < order.length; i++) await order[(i + run) % order.length]!();
    }
  }
  if (doReconcile) {
    const ratio = pairedRatio(op, base);
    rows.push({ metric: `N=${n}: operator time to all Ready (median of ${runs})`, value: round(median(op)), unit: 's', note: `operator CPU ${round(median(opCpu))} s, ${round((median(opCpu) * 1000) / n)} ms per relay` });
    rows.push({ metric: `N=${n}: baseline time to all Ready (median of ${runs})`, value: round(median(base)), unit: 's' });
    rows.push({ metric: `N=${n}: operator / baseline`, value: round(ratio), target: `≤ ${ratioTarget(n)}`, ok: check(ratio, '<=', ratioTarget(n)), note: `runs: ${op.map((o, i) => `${o.toFixed(1)}/${base[i]!.toFixed(1)}`).join(', ')}` });
    if (basePlus.length === op.length) {
      rows.push({ metric: `N=${n}: baseline+ (the baseline plus the operator's first status and Ready Event) time to all Ready (median of ${runs})`, value: round(median(basePlus)), unit: 's' });
      rows.push({ metric: `N=${n}: operator / baseline+ (what the operator costs beyond its writes)`, value: round(pairedRatio(op, basePlus)), note: `runs: ${op.map((o, i) => `${o.toFixed(1)}/${basePlus[i]!.toFixed(1)}`).join(', ')}; baseline+ / baseline ${round(pairedRatio(basePlus, base))}` });
    }
  } else if (op.length > 0) {
    rows.push({ metric: `N=${n}: operator time to all Ready (median of ${op.length}; no baseline in this run)`, value: round(median(op)), unit: 's', note: `operator CPU ${round(median(opCpu))} s, ${round((median(opCpu) * 1000) / n)} ms per relay` });
  }
  if (objectBytes) objectBytesAt.set(n, objectBytes);
  const sideLoads = loads.get(n);
  if (sideLoads && sideLoads.operator.length > 0 && sideLoads.baseline.length > 0) {
    // What each side cost the API server and etcd: the explanation of the ratio (the operator itself is not CPU-bound).
    const med = (side: Side, f: (l: ApiServerLoad) => number) => median(sideLoads[side].map((s) => f(s.load)));
    const pair = (f: (l: ApiServerLoad) => number, unit: string, digits = 1) => {
      const o = med('operator', f);
      const b = med('baseline', f);
      const plus = sideLoads['baseline+'].length > 0 ? ` / baseline+ ${med('baseline+', f).toFixed(digits)}${unit}` : '';
      return { o, b, text: `operator ${o.toFixed(digits)}${unit} / baseline ${b.toFixed(digits)}${unit} = ${(o / b).toFixed(2)}${plus}` };
    };
    const api = pair((l) => l.apiServerCpu, ' s');
    rows.push({ metric: `N=${n}: kube-apiserver CPU while converging, operator / baseline (median of ${sideLoads.operator.length})`, value: round(api.o / api.b), note: `${api.text}; etcd ${pair((l) => l.etcdCpu, ' s').text}` });
    const events = pair((l) => l.watchEvents / n, '', 1);
    rows.push({ metric: `N=${n}: watch events the API server sent per relay`, value: round(events.o), note: `${events.text}; bytes ${pair((l) => l.watchBytes / 1048576, ' MiB').text}; operator by resource: ${Object.entries(sideLoads.operator.at(-1)!.load.watchEventsByResource).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ')}` });
    const verbs = (side: Side) => Object.entries(sideLoads[side].at(-1)?.load.requestsByVerb ?? {}).sort().map(([k, v]) => `${k} ${(v / n).toFixed(2)}`).join(', ');
    rows.push({ metric: `N=${n}: API requests per relay by verb (last run, all clients)`, value: round(Object.values(sideLoads.operator.at(-1)!.load.requestsByVerb).reduce((a, b) => a + b, 0) / n), note: `operator side: ${verbs('operator')}; baseline side: ${verbs('baseline')}${sideLoads['baseline+'].length > 0 ? `; baseline+ side: ${verbs('baseline+')}` : ''}` });
    for (const side of ['operator', 'baseline', 'baseline+'] as const) {
      const p = sideLoads[side].findLast((s) => s.profile)?.profile;
      if (p) rows.push({ metric: `N=${n}: kube-apiserver CPU profile, ${side} side (${profileWhole ? 'the whole convergence' : `${profileSeconds} s from 5 s after the first create`})`, value: round(p.totalSeconds), unit: 's', note: formatProfile(p) });
    }
  }
  if (writes && doReconcile) {
    rows.push({ metric: `N=${n}: operator write requests per relay while converging`, value: round(writes.perRelay), note: `baseline: ${baselineWritesPerRelay} (desiredChildren() + 1 status); ${Object.entries(writes.byKind).map(([k, v]) => `${k} ${v}`).join(', ')}` });
  }
  if (latency) {
    rows.push({ metric: `N=${n}: single relay apply→Ready p50 (${latency.length} samples, one at a time, ${n} relays present)`, value: round(median(latency)), unit: 'ms' });
    const p99 = percentile(latency, 99);
    rows.push({ metric: `N=${n}: single relay apply→Ready p99`, value: round(p99), unit: 'ms', target: '≤ 500 ms', ok: check(p99, '<=', 500) });
  }
  if (quiet && doQuiet) {
    // Relay status heartbeats (writes to smtprelays/status) are allowed: at most 1 per relay per 10 min.
    const heartbeats = Object.entries(quiet.writesByResource).filter(([k]) => k.endsWith('smtprelays/status')).reduce((a, [, v]) => a + v, 0);
    const allowed = Math.floor((n * quiet.windowS) / 600);
    rows.push({ metric: `N=${n}: quiet: operator writes in ${quiet.windowS.toFixed(0)} s after convergence`, value: quiet.writes, target: `0 (+ relay status heartbeats ≤ 1 per relay per 10 min: ≤ ${allowed} here)`, ok: quiet.writes - heartbeats === 0 && heartbeats <= allowed, note: `${heartbeats} of them relay status writes (${((heartbeats / n) * (600 / quiet.windowS)).toFixed(2)} per relay per 10 min)${quiet.writes > 0 ? `; ${Object.entries(quiet.writesByResource).map(([k, v]) => `${k}: ${v}`).join(', ')}` : ''}` });
    rows.push({ metric: `N=${n}: quiet: operator list calls in the window`, value: quiet.lists, target: '0', ok: quiet.lists === 0, note: `watch requests completed in the window: ${quiet.watches}; list calls over the operator's whole life: ${quiet.listsTotal}; RSS at the end of the window ${round(quiet.rssAfter)} MiB` });
  }
}

if (doMemory && memory.length > 0) {
  const at = new Map<number, number[]>();
  for (const m of memory) at.set(m.n, [...(at.get(m.n) ?? []), m.rss]);
  const rss0 = median(at.get(0)!);
  for (const [n, values] of [...at.entries()].sort((a, b) => a[0] - b[0])) {
    const v = median(values);
    const row: Row = { metric: `operator RSS at N=${n} (${n === 0 ? 'informers synced, no relays' : '5 s after convergence'})`, value: round(v), unit: 'MiB' };
    const target = rssTarget(n);
    if (target) Object.assign(row, { target: `≤ ${target} MiB`, ok: check(v, '<=', target) });
    const bytes = objectBytesAt.get(n);
    if (bytes) row.metric += `; objects of the relay in the API ${round(bytes.total / 1024)} KiB JSON per relay`;
    const heap = heapAt.get(n);
    const notes: string[] = [];
    if (n > 0) notes.push(`growth ${round(((v - rss0) * 1024) / n)} KiB per relay over N=0`);
    if (heap) notes.push(`heap used ${round(heap.heapUsed)} MiB, external ${round(heap.external)} MiB`);
    if (heap?.summary) notes.push(`live heap in a snapshot ${round(heap.summary.totalBytes / 1048576)} MiB: ${formatHeapGroups(heap.summary.groups)}`);
    if (notes.length > 0) row.note = notes.join('; ');
    rows.push(row);
  }
  // Cost per relay at scale: the slope between the two largest N (the issue: 1,000 and 10,000).
  const ns = [...at.keys()].filter((n) => n > 0).sort((a, b) => a - b);
  if (ns.length >= 2) {
    const [lo, hi] = [ns[ns.length - 2]!, ns[ns.length - 1]!];
    const slope = ((median(at.get(hi)!) - median(at.get(lo)!)) * 1024) / (hi - lo);
    const heapLo = heapAt.get(lo)?.summary;
    const heapHi = heapAt.get(hi)?.summary;
    const heapSlope = heapLo && heapHi ? `; live heap ${round((heapHi.totalBytes - heapLo.totalBytes) / 1024 / (hi - lo))} KiB per relay` : '';
    rows.push({ metric: `per-relay memory: RSS slope between N=${lo} and N=${hi}`, value: round(slope), unit: 'KiB', target: '≤ 25 KiB', ok: check(slope, '<=', 25), note: heapSlope ? heapSlope.slice(2) : undefined });
  }
}

emit({ section: 'operator', title: 'Operator: reconcile at scale, quiet, memory', rows, notes });
process.exit(0);
