// What a bench side cost the private control plane: kube-apiserver's and etcd's CPU (from
// /proc), the watch events the API server sent and their bytes, and its requests by verb
// (from its /metrics). Optionally a Go CPU profile of the API server, summarised by
// `go tool pprof` into buckets (watch, writes, reads, GC, TLS/HTTP, etcd client, audit).
//
// Why: the operator is not CPU-bound in the reconcile bench (it uses 10-20 % of a core);
// the API server is. Time to all Ready follows the API server's work, so the gap between
// the operator and the baseline is explained by what each side makes the API server do.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { ControlPlane } from '../../test/harness/controlplane.js';
import { cpuSeconds } from './proc.js';

const run = promisify(execFile);

export interface ApiServerLoad {
  apiServerCpu: number;
  etcdCpu: number;
  watchEvents: number;
  watchBytes: number;
  watchEventsByResource: Record<string, number>;
  requestsByVerb: Record<string, number>;
}

/** `curl` with the admin client certificate: the API server's /metrics and /debug/pprof are not JSON. */
async function adminGet(cp: ControlPlane, urlPath: string, out?: string, timeoutMs = 120_000): Promise<string> {
  const args = ['-sS', '--fail', '--max-time', String(Math.ceil(timeoutMs / 1000)), '--cacert', cp.caCertPath, '--cert', cp.adminCertPath, '--key', cp.adminKeyPath];
  if (out) args.push('-o', out);
  const { stdout } = await run('curl', [...args, `${cp.server}${urlPath}`], { maxBuffer: 256 * 1024 * 1024 });
  return stdout;
}

/** Sums a Prometheus counter's samples, grouped by one label ('' groups all). */
export function sumByLabel(text: string, metric: string, label: string): Record<string, number> {
  const out: Record<string, number> = {};
  const line = new RegExp(`^${metric}(?:\\{([^}]*)\\})? ([0-9.e+-]+)$`, 'gm');
  for (const m of text.matchAll(line)) {
    const labels = m[1] ?? '';
    const key = label ? (new RegExp(`(?:^|,)${label}="([^"]*)"`).exec(labels)?.[1] ?? '') : '';
    out[key] = (out[key] ?? 0) + Number(m[2]);
  }
  return out;
}

const total = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);

export async function apiServerLoad(cp: ControlPlane): Promise<ApiServerLoad> {
  const text = await adminGet(cp, '/metrics');
  const apiPid = cp.apiServerPid();
  const etcdPid = cp.etcdPid();
  return {
    apiServerCpu: apiPid ? cpuSeconds(apiPid) : NaN,
    etcdCpu: etcdPid ? cpuSeconds(etcdPid) : NaN,
    watchEvents: total(sumByLabel(text, 'apiserver_watch_events_total', '')),
    watchBytes: total(sumByLabel(text, 'apiserver_watch_events_sizes_sum', '')),
    watchEventsByResource: sumByLabel(text, 'apiserver_watch_events_total', 'resource'),
    requestsByVerb: sumByLabel(text, 'apiserver_request_total', 'verb'),
  };
}

function diff(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const d = (b[k] ?? 0) - (a[k] ?? 0);
    if (d !== 0) out[k || '(none)'] = d;
  }
  return out;
}

/** What happened between two samples. */
export function loadDelta(before: ApiServerLoad, after: ApiServerLoad): ApiServerLoad {
  return {
    apiServerCpu: after.apiServerCpu - before.apiServerCpu,
    etcdCpu: after.etcdCpu - before.etcdCpu,
    watchEvents: after.watchEvents - before.watchEvents,
    watchBytes: after.watchBytes - before.watchBytes,
    watchEventsByResource: diff(before.watchEventsByResource, after.watchEventsByResource),
    requestsByVerb: diff(before.requestsByVerb, after.requestsByVerb),
  };
}

export function formatLoad(l: ApiServerLoad, n: number): string {
  const perRelay = (v: number) => (v / n).toFixed(1);
  return [
    `API server CPU ${l.apiServerCpu.toFixed(1)} s (${((l.apiServerCpu * 1000) / n).toFixed(1)} ms per relay)`,
    `etcd CPU ${l.etcdCpu.toFixed(1)} s`,
    `watch events sent ${l.watchEvents} (${perRelay(l.watchEvents)} per relay; ${(l.watchBytes / 1048576).toFixed(1)} MiB)`,
    `requests ${Object.entries(l.requestsByVerb).sort().map(([k, v]) => `${k} ${v}`).join(', ')}`,
  ].join('; ');
}

/**
 * Where a CPU profile's time went: the share of samples with a matching function on the stack
 * (buckets overlap: "of which" rows are parts of the row above them). Names from kube-apiserver
 * v1.37: a write's storage work runs in finishRequest's goroutine, not under the handler.
 */
export const PROFILE_BUCKETS: Record<string, string | { focus: string; ignore: string }> = {
  'writes (create, update, patch, apply: finishRequest)': 'finisher\\.finishRequest',
  '  of which SmtpRelay status (the CRD status subresource)': 'customresource\\.\\(\\*StatusREST\\)\\.Update',
  '  of which managed fields (structured-merge-diff)': 'structured-merge-diff',
  '  of which etcd client': 'go\\.etcd\\.io/etcd/client',
  'request handling before storage (authn, authz, flow control, decode)': { focus: 'DefaultBuildHandlerChain', ignore: 'finisher\\.finishRequest' },
  'watch: cache dispatch and sending events': 'cacher\\.\\(\\*Cacher\\)\\.(dispatchEvents|dispatchEvent|processEvent)|cacher\\.\\(\\*cacheWatcher\\)|handlers\\.serveWatch|\\(\\*WatchServer\\)',
  'audit log': 'k8s\\.io/apiserver/pkg/audit|plugin/pkg/audit',
  'TLS and HTTP/2': 'crypto/tls|golang\\.org/x/net/http2',
  'garbage collection (background)': 'runtime\\.gcBgMarkWorker',
};

export interface ProfileSummary {
  file: string;
  totalSeconds: number;
  buckets: Record<string, number>;
  top: string;
}

/** Parses "Showing nodes accounting for 1.20s, 30.00% of 4s total" (pprof -top's header). */
export function focusShare(topOutput: string): { seconds: number; total: number } {
  const m = /Showing nodes accounting for ([0-9.]+)(ms|s|min), [0-9.]+% of ([0-9.]+)(ms|s|min) total/.exec(topOutput);
  const toS = (v: string, u: string) => Number(v) * (u === 'ms' ? 0.001 : u === 'min' ? 60 : 1);
  return m ? { seconds: toS(m[1]!, m[2]!), total: toS(m[3]!, m[4]!) } : { seconds: 0, total: 0 };
}

const pprofTop = async (file: string, extra: string[]) => (await run('go', ['tool', 'pprof', '-top', ...extra, file], { maxBuffer: 64 * 1024 * 1024, cwd: os.tmpdir() })).stdout;

/** Buckets a profile (see PROFILE_BUCKETS) with the Go toolchain's pprof; undefined when `go` is not there. */
export async function summarizeProfile(file: string): Promise<ProfileSummary | undefined> {
  let top: string;
  try {
    top = await pprofTop(file, ['-cum', '-nodecount=30']);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const totalSeconds = focusShare(top).total;
  const buckets: Record<string, number> = {};
  for (const [bucket, b] of Object.entries(PROFILE_BUCKETS)) {
    const { focus, ignore } = typeof b === 'string' ? { focus: b, ignore: undefined } : b;
    // Every node kept, so "Showing nodes accounting for" is the focused total; pprof fails
    // when no sample matches the focus: that is 0.
    const out = await pprofTop(file, [`-focus=${focus}`, ...(ignore ? [`-ignore=${ignore}`] : []), '-nodefraction=0', '-nodecount=1000000']).catch(() => '');
    buckets[bucket] = focusShare(out).seconds;
  }
  fs.writeFileSync(file.replace(/\.pprof\.gz$/, '.top.txt'), top);
  return { file, totalSeconds, buckets, top };
}

/** A CPU profile of the API server for `seconds` (needs --profiling=true), saved in `dir` and summarised. */
export async function profileApiServer(cp: ControlPlane, seconds: number, dir: string, name: string): Promise<ProfileSummary | undefined> {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${name}.pprof.gz`);
  await adminGet(cp, `/debug/pprof/profile?seconds=${seconds}`, file, (seconds + 60) * 1000);
  return summarizeProfile(file);
}

/**
 * A CPU profile of the API server from now until `done` settles: consecutive slices (one
 * profile request is cut off by the API server's request timeout), merged by pprof.
 */
export async function profileApiServerUntil(cp: ControlPlane, done: Promise<unknown>, dir: string, name: string, sliceSeconds = 30): Promise<ProfileSummary | undefined> {
  fs.mkdirSync(dir, { recursive: true });
  let finished = false;
  void done.finally(() => (finished = true)).catch(() => undefined);
  const slices: string[] = [];
  while (!finished) {
    const slice = path.join(dir, `${name}.slice${slices.length}.pprof.gz`);
    await adminGet(cp, `/debug/pprof/profile?seconds=${sliceSeconds}`, slice, (sliceSeconds + 60) * 1000);
    slices.push(slice);
  }
  const file = path.join(dir, `${name}.pprof.gz`);
  try {
    await run('go', ['tool', 'pprof', '-proto', ...slices], { encoding: 'buffer', maxBuffer: 512 * 1024 * 1024, cwd: os.tmpdir() }).then(({ stdout }) => fs.writeFileSync(file, stdout));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  for (const slice of slices) fs.rmSync(slice);
  return summarizeProfile(file);
}

export function formatProfile(p: ProfileSummary): string {
  const pct = (s: number) => (p.totalSeconds > 0 ? `${((s / p.totalSeconds) * 100).toFixed(0)} %` : '?');
  return `${p.totalSeconds.toFixed(1)} s of CPU sampled: ${Object.entries(p.buckets).map(([k, v]) => `${k} ${v.toFixed(1)} s (${pct(v)})`).join('; ')}`;
}
