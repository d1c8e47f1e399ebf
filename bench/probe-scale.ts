// Section probe-scale: the operator's TLS-health scheduler (src/controller/tls-health) over N relays
// × 2 listeners = 2N distinct endpoints, at the default 1-minute interval, as the operator runs it:
// observe() on every "reconcile", the reconcile asked back after nextProbeInMs (its requeueAfter)
// and when a probe finished (onProbed), the real prober with TLS session resumption and deep scans.
//
// The endpoints: K relay processes (dist/cli.js relay) with a STARTTLS and an implicit-TLS listener
// each, bound to 0.0.0.0 (for the whole loopback /8; AUTH-only listeners, for the bench's minutes); relay i is probed at 127.1.(i>>8).(i&255), so each of the 2N
// endpoints is distinct (its own TLS session, its own socket tuple) though K processes answer.
// The relays run on the same cores as the prober: the figures that belong to the operator are the
// bench process's CPU (scheduler + prober + this driver) and what the relays saw is reported apart.
//
// Two phases:
//  - start: every relay is new to the scheduler (an operator that just started): its first cycle
//    is urgent and carries a deep scan; time until every relay has results.
//  - steady: STEADY_MS after that: probes per minute, the time between two probes of the same
//    endpoint, the prober's CPU, how many relays showed ProbeDelayed (sampled every 5 s);
//  - restart: a new scheduler (a restarted operator, a new leader) given each relay's endpoints as
//    its status.endpoints (TlsHealthInput.previous), for RESTART_MS: relays without results, deep
//    scans, ProbeDelayed, probes per minute.
//
// Run: npm run build && node --import tsx bench/probe-scale.ts [--quick|--full]
// Knobs: BENCH_PROBE_RELAYS (default 10,000 full, 1,000 quick), BENCH_PROBE_CONCURRENCY (32),
// BENCH_PROBE_STEADY_MS (300,000 full, 90,000 quick), BENCH_PROBE_RESTART_MS (120,000 full, 60,000
// quick), BENCH_PROBE_PROCS (4). Run with node --expose-gc for the live heap figure.
import fs from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { SmtpRelay } from '../src/api/types.js';
import { createLogger } from '../src/common/logger.js';
import { TlsHealthScheduler, type TlsHealthInput, type TlsHealthView } from '../src/controller/tls-health/index.js';
import { deepScan, probeEndpoint, type ProbeOptions } from '../src/probe/index.js';
import { rssMiB } from './lib/proc.js';
import { benchArgs, emit, log, sleep, type Row } from './lib/result.js';
import { createPki, RELAY_HOST, startOurRelay, startSink, type Relay } from './lib/smtp-fixtures.js';
import { percentile, round } from './lib/stats.js';

const args = benchArgs();
const N = Number(process.env.BENCH_PROBE_RELAYS ?? (args.quick ? 1_000 : 10_000));
const CONCURRENCY = Number(process.env.BENCH_PROBE_CONCURRENCY ?? 32);
const STEADY_MS = Number(process.env.BENCH_PROBE_STEADY_MS ?? (args.quick ? 90_000 : 300_000));
const RESTART_MS = Number(process.env.BENCH_PROBE_RESTART_MS ?? (args.quick ? 60_000 : 120_000));
const PROCS = Number(process.env.BENCH_PROBE_PROCS ?? 4);
const INTERVAL = '60s';
const INTERVAL_MS = 60_000;
if (!(N >= 1 && N <= 65_536)) throw new Error(`BENCH_PROBE_RELAYS must be 1-65536, got ${N}`);

/** The largest value; Math.max(...values) overflows the stack past ~100,000 arguments. */
const maxOf = (values: Iterable<number>) => {
  let max = -Infinity;
  for (const v of values) if (v > max) max = v;
  return max;
};

/** Relay i's address: distinct per relay, all on the loopback /8. */
const hostOf = (i: number) => `127.1.${i >> 8}.${i & 255}`;

/** What the prober did, counted around the real probe functions. */
const counts = { fast: 0, fastHandshakes: 0, resumed: 0, deep: 0, deepHandshakes: 0, verdicts: new Map<string, number>() };
/** Start of the newest fast probe of each endpoint (ms since epoch). */
const lastStart = new Map<string, number>();
/** Time between two fast probes of the same endpoint (s), collected while `gaps.on`. */
const gaps = { on: false, values: [] as number[] };
const snapshot = () => ({ fast: counts.fast, fastHandshakes: counts.fastHandshakes, resumed: counts.resumed, deep: counts.deep, deepHandshakes: counts.deepHandshakes });

async function countedProbe(opts: ProbeOptions) {
  const endpoint = `${opts.host}:${opts.port}`;
  const now = Date.now();
  const before = lastStart.get(endpoint);
  if (gaps.on && before !== undefined) gaps.values.push((now - before) / 1000);
  lastStart.set(endpoint, now);
  const r = await probeEndpoint(opts);
  counts.fast++;
  counts.fastHandshakes += r.handshakes;
  if (r.resumed) counts.resumed++;
  counts.verdicts.set(r.verdict, (counts.verdicts.get(r.verdict) ?? 0) + 1);
  return r;
}

async function countedDeepScan(opts: ProbeOptions) {
  const r = await deepScan(opts);
  counts.deep++;
  counts.deepHandshakes += r.handshakes;
  return r;
}

const pki = createPki();
const sink = await startSink(pki);
const relays: Relay[] = [];
const rows: Row[] = [];
const notes: string[] = [];
const timers = new Map<string, NodeJS.Timeout>();
let scheduler: TlsHealthScheduler | undefined;
const newScheduler = (onProbed: (key: string) => void) =>
  new TlsHealthScheduler({ concurrency: CONCURRENCY, onProbed, logger: createLogger('bench', 'error'), probe: countedProbe, deepScan: countedDeepScan });
/** Live heap after a full GC (MiB), when node runs with --expose-gc. */
const liveHeapMiB = () => {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) return undefined;
  gc();
  return process.memoryUsage().heapUsed / 1048576;
};
try {
  for (let p = 0; p < PROCS; p++) relays.push(await startOurRelay(pki, sink.port, 1, `probe-scale-${p}`, { listenHost: '0.0.0.0' }));
  const inputs = new Map<string, TlsHealthInput>();
  for (let i = 0; i < N; i++) {
    const r = relays[i % PROCS]!;
    const relay = { apiVersion: 'smtp.relay.dev/v1alpha1', kind: 'SmtpRelay', metadata: { namespace: `ns-${Math.floor(i / 50)}`, name: `relay-${i}`, generation: 1 }, spec: { healthCheck: { interval: INTERVAL } } } as unknown as SmtpRelay;
    inputs.set(`${relay.metadata.namespace}/${relay.metadata.name}`, {
      relay,
      targets: [
        { name: 'submission', host: hostOf(i), port: r.submissionPort, servicePort: 587, mode: 'starttls' },
        { name: 'submissions', host: hostOf(i), port: r.submissionsPort, servicePort: 465, mode: 'implicit' },
      ],
      servername: RELAY_HOST,
      expectedFingerprint: pki.relayLeaf.fingerprint,
      caPem: pki.ca.caCert,
      settledRollout: '1',
      canProbe: true,
    });
  }

  // The reconcile, reduced to what the scheduler sees: observe(), then ask back after nextProbeInMs.
  const views = new Map<string, TlsHealthView>();
  const previous = new Map<string, TlsHealthInput['previous']>();
  let reconciles = 0;
  const reconcile = (key: string) => {
    reconciles++;
    const view = scheduler!.observe({ ...inputs.get(key)!, ...(previous.has(key) ? { previous: previous.get(key) } : {}) });
    views.set(key, view);
    clearTimeout(timers.get(key));
    // As the reconciler's nextRun: requeueAfter is at least 1 s.
    if (view.nextProbeInMs !== undefined) timers.set(key, setTimeout(() => reconcile(key), Math.max(1000, view.nextProbeInMs)));
  };
  const onProbed = (key: string) => setImmediate(() => reconcile(key));
  scheduler = newScheduler(onProbed);
  const relayCpu = () => relays.reduce((s, r) => s + r.cpu(), 0);
  const withResults = () => [...views.values()].filter((v) => v.endpoints?.length === 2).length;

  // Phase 1: an operator that just started (or a bulk creation): every relay's first cycle at once.
  log(`${N} relays × 2 endpoints on ${PROCS} relay processes, --probe-concurrency ${CONCURRENCY}, interval ${INTERVAL}`);
  const heap0 = liveHeapMiB();
  const cpu0 = process.cpuUsage();
  const relayCpu0 = relayCpu();
  const t0 = Date.now();
  for (const key of inputs.keys()) reconcile(key);
  let firstAllAt = 0;
  let firstHalfAt = 0;
  for (let tick = 1; ; tick++) {
    await sleep(1000);
    const done = withResults();
    if (!firstHalfAt && done >= N / 2) firstHalfAt = Date.now();
    if (done === N) break;
    if (tick % 30 === 0) log(`start: ${done}/${N} relays with results, ${counts.fast} fast probes, ${counts.deep} deep scans, heap used ${Math.round(process.memoryUsage().heapUsed / 1048576)} MiB`);
  }
  firstAllAt = Date.now();
  const startS = (firstAllAt - t0) / 1000;
  const startReconciles = reconciles;
  const startCpu = process.cpuUsage(cpu0);
  const start = snapshot();
  const heap1 = liveHeapMiB();
  log(`start: all ${N} relays have results after ${startS.toFixed(1)} s (${start.fast} fast probes, ${start.deep} deep scans)`);
  rows.push({ metric: `start: every relay's first results (fast probe + deep scan of ${2 * N} endpoints)`, value: round(startS), unit: 's', note: `half of them after ${round((firstHalfAt - t0) / 1000)} s; ${start.fast} fast probes, ${start.deep} deep scans (${start.deepHandshakes} handshakes); ${startReconciles} reconciles (observe calls)` });
  if (heap0 !== undefined && heap1 !== undefined) {
    rows.push({ metric: 'live heap held by the scheduler per relay (2 endpoints: results, deep scans, TLS sessions)', value: round(((heap1 - heap0) * 1024) / N), unit: 'KiB', note: `live heap ${round(heap0)} MiB before the relays, ${round(heap1)} MiB once all have results (full GC)` });
  }
  rows.push({ metric: 'start: the prober\'s CPU (this process)', value: round((startCpu.user + startCpu.system) / 1e6), unit: 's', note: `${round((startCpu.user + startCpu.system) / 1e6 / startS, 2)} cores; the relays used ${round(relayCpu() - relayCpu0)} s (${round((relayCpu() - relayCpu0) / startS, 2)} cores)` });

  // Phase 2: the steady state.
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const s0 = snapshot();
  gaps.on = true;
  const reconciles1 = reconciles;
  const cpu1 = process.cpuUsage();
  const relayCpu1 = relayCpu();
  const t1 = Date.now();
  const delayedSamples: number[] = [];
  const ages: number[] = [];
  while (Date.now() - t1 < STEADY_MS) {
    await sleep(5000);
    const now = Date.now();
    delayedSamples.push([...views.values()].filter((v) => v.probeDelayedSince !== undefined).length);
    for (const t of lastStart.values()) ages.push((now - t) / 1000);
    log(`steady ${Math.round((now - t1) / 1000)} s: ${counts.fast - s0.fast} fast probes, ${delayedSamples.at(-1)} relays ProbeDelayed, oldest result ${round(maxOf([...lastStart.values()].map((t) => (now - t) / 1000)))} s`);
  }
  loop.disable();
  gaps.on = false;
  const steadyS = (Date.now() - t1) / 1000;
  const cpu = process.cpuUsage(cpu1);
  const cpuS = (cpu.user + cpu.system) / 1e6;
  const relayS = relayCpu() - relayCpu1;
  const fast = counts.fast - s0.fast;
  const perMin = (fast / steadyS) * 60;
  const resumed = counts.resumed - s0.resumed;
  const deep = counts.deep - s0.deep;
  const maxDelayed = maxOf(delayedSamples);
  rows.push({ metric: `steady: endpoint probes per minute (${2 * N} endpoints at a ${INTERVAL} interval)`, value: Math.round(perMin), unit: '/min', note: `2N = ${2 * N} on average; a window that is not a whole number of intervals after a burst counts one cycle more or less; `+ `${fast} fast probes in ${round(steadyS)} s, ${resumed} resumed, ${deep} deep scans` });
  rows.push({ metric: 'steady: time between two probes of the same endpoint, p50 / p99 / max', value: gaps.values.length === 0 ? 'none in the window' : `${round(percentile(gaps.values, 50))} / ${round(percentile(gaps.values, 99))} / ${round(maxOf(gaps.values))}`, unit: 's', target: '≤ 90 (interval + grace)', ok: gaps.values.length > 0 && maxOf(gaps.values) <= 90, note: `${gaps.values.length} pairs; the interval is ${INTERVAL} ±10 %` });
  rows.push({ metric: 'steady: the prober\'s CPU (this process: scheduler, prober, driver)', value: round(cpuS / steadyS, 3), unit: 'cores', note: `${round((cpuS * 1000) / Math.max(1, fast), 2)} ms per probe; the relays used ${round(relayS / steadyS, 2)} cores on the same machine` });
  rows.push({ metric: 'steady: reconciles (observe calls) per relay per minute', value: round(((reconciles - reconciles1) / N / steadyS) * 60), note: 'onProbed and the requeue after nextProbeInMs (at least 1 s, as the reconciler)' });
  rows.push({ metric: 'steady: relays showing ProbeDelayed (max of samples every 5 s)', value: maxDelayed, target: '0', ok: maxDelayed === 0, note: `samples ${delayedSamples.length}, last ${delayedSamples.at(-1)}` });
  rows.push({ metric: 'steady: age of an endpoint\'s newest probe, p50 / p99 / max', value: `${round(percentile(ages, 50))} / ${round(percentile(ages, 99))} / ${round(maxOf(ages))}`, unit: 's', note: `the interval is ${INTERVAL} ±10 %; ProbeDelayed after the interval + 30 s` });
  rows.push({ metric: 'steady: event-loop delay p99 / max', value: `${round(loop.percentile(99) / 1e6)} / ${round(loop.max / 1e6)}`, unit: 'ms', note: 'the reconciles share this loop in the operator' });
  const heap = liveHeapMiB();
  rows.push({ metric: 'the prober\'s process after the steady window: RSS / live heap', value: `${round(rssMiB(process.pid))} / ${heap === undefined ? 'not measured (no --expose-gc)' : round(heap)}`, unit: 'MiB', note: `${lastStart.size} endpoints' TLS sessions and ${N} relays' results held; verdicts ${[...counts.verdicts].map(([k, v]) => `${k} ${v}`).join(', ')}` });

  // Phase 3: a restarted operator (or a new leader): a new scheduler, each relay's status.endpoints as written.
  const old = scheduler;
  for (const [key, v] of views) if (v.endpoints) previous.set(key, v.endpoints);
  for (const t of timers.values()) clearTimeout(t);
  timers.clear();
  await old.stop();
  views.clear();
  const r0 = snapshot();
  const cpu2 = process.cpuUsage();
  const t2 = Date.now();
  scheduler = newScheduler(onProbed);
  for (const key of inputs.keys()) reconcile(key);
  const withoutResults = N - withResults();
  const restartDelayed: number[] = [];
  while (Date.now() - t2 < RESTART_MS) {
    await sleep(5000);
    restartDelayed.push([...views.values()].filter((v) => v.probeDelayedSince !== undefined).length);
    log(`restart ${Math.round((Date.now() - t2) / 1000)} s: ${counts.fast - r0.fast} fast probes, ${counts.deep - r0.deep} deep scans, ${restartDelayed.at(-1)} relays ProbeDelayed`);
  }
  const restartS = (Date.now() - t2) / 1000;
  const cpuR = process.cpuUsage(cpu2);
  const restartFast = counts.fast - r0.fast;
  rows.push({ metric: 'restart: relays without results when the new scheduler first saw them', value: withoutResults, target: '0', ok: withoutResults === 0, note: 'each was given its status.endpoints (previous), as the reconciler does' });
  rows.push({ metric: `restart: over ${round(restartS)} s, endpoint probes per minute / deep scans / max relays ProbeDelayed`, value: `${Math.round((restartFast / restartS) * 60)} / ${counts.deep - r0.deep} / ${maxOf(restartDelayed)}`, note: `the prober's CPU ${round((cpuR.user + cpuR.system) / 1e6 / restartS)} cores; the phase 1 start, for comparison, deep-scanned every endpoint` });
  notes.push(
    `${N} relays × 2 listeners, each relay at its own loopback address (127.1.x.y), answered by ${PROCS} relay processes (dist/cli.js relay) on the same cores; the operator's TlsHealthScheduler with --probe-concurrency ${CONCURRENCY}, the default full handshake every 10 minutes, the relay's test CA trusted and the leaf pinned.`,
    'The test leaf is valid for 2 days, so the expiry check answers "warning": the verdict counts show it.',
    `Steady window ${Math.round(STEADY_MS / 1000)} s, from the moment every relay had its first results; then a restart window of ${Math.round(RESTART_MS / 1000)} s.`,
  );
} finally {
  for (const t of timers.values()) clearTimeout(t);
  await scheduler?.stop();
  for (const r of relays) await r.stop();
  sink.stop();
  fs.rmSync(pki.root, { recursive: true, force: true });
}
emit({ section: 'probe-scale', title: `Probing at scale: ${N} relays, ${2 * N} endpoints, the operator's scheduler`, rows, notes });
process.exit(0);
