// Section footprint: what one relay pod costs, for its default resource requests and limits
// (src/controller/builders/deployment.ts DEFAULT_RESOURCES).
//  - RSS of the relay process idle (no session), then holding N idle AUTHENTICATED sessions
//    (EHLO, STARTTLS, EHLO, AUTH PLAIN, then nothing) for N = 100 and 500: the slope between
//    them is the memory one idle authenticated session costs.
//  - Peak RSS (VmHWM) under C = 500 concurrent submitting clients.
//  - Messages per CPU-second (msgs/s per core) at C = 10, our relay against Postfix in the same
//    run, sides alternating (bench/lib/relay-compare.ts, the relay section's machinery).
// Run: npm run build && node --import tsx bench/relay-footprint.ts [--quick|--full] [--runs=N]
import fs from 'node:fs';
import os from 'node:os';
import { benchArgs, emit, log, sleep, type Row } from './lib/result.js';
import { peakRssMiB, rssMiB } from './lib/proc.js';
import { measureSide, submitBase, type SideResult } from './lib/relay-compare.js';
import { openAuthenticated, runLoad, type AuthenticatedSession } from './lib/smtp-client.js';
import { createPki, startOurRelay, startSink, type Pki, type Relay, type Sink } from './lib/smtp-fixtures.js';
import { median, pairedRatio, percentile, round } from './lib/stats.js';

const args = benchArgs();
const seconds = Number(process.env.BENCH_RELAY_SECONDS ?? (args.quick ? 8 : 30));
const runs = args.runs ?? (args.quick ? 1 : 3);
const BYTES = 10 * 1024;
const SESSIONS = [100, 500] as const;
const PEAK_C = 500;
const CPU_C = 10;
/** The relay's own default (UpstreamPool): the operator does not set poolSize. */
const DEFAULT_POOL = 10;
// maxConnections is checked per listener (smtp-listener.ts: more than maxConnections sessions
// get 421), so 500 admits exactly the 500 sessions measured. The idle sessions must outlive the
// measurement: socketTimeoutMs far beyond it (the operator renders 5 min).
const LIMITS = { maxConnections: 500, socketTimeoutMs: 10 * 60_000 };

/** Median of a few RSS samples once the process settled (GC, lazily freed buffers). */
async function settledRss(pid: number): Promise<number> {
  await sleep(3000);
  const samples: number[] = [];
  for (let i = 0; i < 5; i++) {
    samples.push(rssMiB(pid));
    await sleep(200);
  }
  return median(samples);
}

/** Opens `n` authenticated sessions, `parallel` at a time; counts those that closed since. */
async function openSessions(pki: Pki, relay: Relay, n: number, into: AuthenticatedSession[], closed: { count: number }): Promise<void> {
  const base = submitBase(pki, relay.submissionPort);
  let left = n;
  const parallel = 20;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (left > 0) {
        left--;
        const s = await openAuthenticated(base);
        s.secure.once('close', () => closed.count++);
        into.push(s);
      }
    }),
  );
}

interface IdleRun {
  idle: number;
  at: Record<number, number>;
  closed: number;
}

async function idleSessionsRun(pki: Pki, sink: Sink): Promise<IdleRun> {
  const relay = await startOurRelay(pki, sink.port, DEFAULT_POOL, 'footprint-relay', { limits: LIMITS });
  const sessions: AuthenticatedSession[] = [];
  const closed = { count: 0 };
  try {
    const idle = await settledRss(relay.pid);
    const at: Record<number, number> = {};
    for (const n of SESSIONS) {
      await openSessions(pki, relay, n - sessions.length, sessions, closed);
      at[n] = await settledRss(relay.pid);
      log(`footprint: ${n} idle authenticated sessions: RSS ${at[n]!.toFixed(1)} MiB (idle ${idle.toFixed(1)} MiB), ${closed.count} closed`);
    }
    return { idle, at, closed: closed.count };
  } finally {
    for (const s of sessions) s.destroy();
    await relay.stop();
  }
}

async function peakRun(pki: Pki, sink: Sink): Promise<{ peak: number; idle: number; ok: number; failed: number; p99: number; errors: string[] }> {
  const relay = await startOurRelay(pki, sink.port, DEFAULT_POOL, 'peak-relay', { limits: LIMITS });
  try {
    const idle = await settledRss(relay.pid);
    const load = await runLoad(submitBase(pki, relay.submissionPort), { connections: PEAK_C, seconds, bytes: BYTES, resume: false });
    const peak = peakRssMiB(relay.pid);
    log(`footprint: C=${PEAK_C} for ${seconds} s: peak RSS ${peak.toFixed(1)} MiB, ${load.ok} ok, ${load.failed} failed`);
    return { peak, idle, ok: load.ok, failed: load.failed, p99: load.latenciesMs.length > 0 ? percentile(load.latenciesMs, 99) : NaN, errors: load.errors };
  } finally {
    await relay.stop();
  }
}

const pki = createPki();
const sink = await startSink(pki);
const rows: Row[] = [];
const loadBefore = os.loadavg().map((l) => l.toFixed(2)).join(' ');
try {
  const idleRuns: IdleRun[] = [];
  for (let r = 0; r < runs; r++) idleRuns.push(await idleSessionsRun(pki, sink));
  const [lo, hi] = SESSIONS;
  const idle = median(idleRuns.map((x) => x.idle));
  const rssLo = median(idleRuns.map((x) => x.at[lo]!));
  const rssHi = median(idleRuns.map((x) => x.at[hi]!));
  const slopeKiB = median(idleRuns.map((x) => ((x.at[hi]! - x.at[lo]!) / (hi - lo)) * 1024));
  rows.push({ metric: 'relay RSS, idle (no session)', value: round(idle), unit: 'MiB' });
  rows.push({ metric: `relay RSS, ${lo} idle authenticated sessions`, value: round(rssLo), unit: 'MiB' });
  rows.push({ metric: `relay RSS, ${hi} idle authenticated sessions`, value: round(rssHi), unit: 'MiB', note: `${idleRuns.reduce((a, x) => a + x.closed, 0)} sessions closed early over all runs` });
  rows.push({ metric: `RSS per idle authenticated session (slope ${lo} → ${hi})`, value: round(slopeKiB), unit: 'KiB', note: `first ${lo}: ${round(((rssLo - idle) / lo) * 1024)} KiB each (includes the first TLS/AUTH allocations)` });

  const peaks = [];
  for (let r = 0; r < runs; r++) peaks.push(await peakRun(pki, sink));
  const peak = median(peaks.map((p) => p.peak));
  rows.push({
    metric: `relay peak RSS (VmHWM), C=${PEAK_C} submitting clients, ${seconds} s`,
    value: round(peak),
    unit: 'MiB',
    note: `idle before ${round(median(peaks.map((p) => p.idle)))} MiB; ${peaks.reduce((a, p) => a + p.ok, 0)} messages, ${peaks.reduce((a, p) => a + p.failed, 0)} failed${peaks[0]!.errors[0] ? ` (e.g. ${peaks[0]!.errors[0]})` : ''}, p99 ${round(median(peaks.map((p) => p.p99)))} ms; poolSize ${DEFAULT_POOL}`,
  });

  const env = { pki, sink, seconds, bytes: BYTES };
  const ours: SideResult[] = [];
  const theirs: SideResult[] = [];
  for (let r = 0; r < runs; r++) {
    const order = r % 2 === 0 ? (['ours', 'postfix'] as const) : (['postfix', 'ours'] as const);
    for (const side of order) (side === 'ours' ? ours : theirs).push(await measureSide(env, side, CPU_C, false));
  }
  const perCpuSecond = (s: SideResult) => 1000 / s.cpuPer1000;
  const oursRate = median(ours.map(perCpuSecond));
  const theirsRate = median(theirs.map(perCpuSecond));
  rows.push({ metric: `C=${CPU_C}: ours msgs per CPU-second (msgs/s per core)`, value: round(oursRate), note: `${round(median(ours.map((x) => x.e2eRate)))} msgs/s end to end, ${ours.reduce((a, x) => a + x.load.failed, 0)} failed` });
  rows.push({ metric: `C=${CPU_C}: Postfix msgs per CPU-second (msgs/s per core)`, value: round(theirsRate), note: `${round(median(theirs.map((x) => x.e2eRate)))} msgs/s end to end, ${theirs.reduce((a, x) => a + x.load.failed, 0)} failed` });
  rows.push({ metric: `C=${CPU_C}: ours / Postfix, msgs per CPU-second`, value: round(pairedRatio(ours.map(perCpuSecond), theirs.map(perCpuSecond))) });
} finally {
  sink.stop();
  fs.rmSync(pki.root, { recursive: true, force: true });
}
emit({
  section: 'footprint',
  title: 'Relay footprint: memory per session, peak at C=500, messages per CPU-second',
  rows,
  notes: [
    `Our relay: dist/cli.js relay, one process, relay.json as the relay section's (bench/lib/smtp-fixtures.ts) with upstream poolSize ${DEFAULT_POOL} (the relay's default, which the operator keeps), limits.maxConnections ${LIMITS.maxConnections} (per listener; the operator renders 200) and socketTimeoutMs ${LIMITS.socketTimeoutMs / 60_000} min so idle sessions stay up.`,
    `RSS: VmRSS from /proc, median of 5 samples 3 s after the last session opened; ${runs} run(s), a fresh relay each, median. Idle sessions: EHLO, STARTTLS, EHLO, AUTH PLAIN (235), then nothing; opened 20 at a time from the bench process.`,
    `Peak: VmHWM of a fresh relay after ${seconds} s of C=${PEAK_C} clients, each submitting 10 KiB messages one connection per message (the relay section's client); DATA slots are the default (2 × poolSize), so most clients wait for a slot.`,
    `msgs per CPU-second = accepted messages / (utime+stime of the side's processes); Postfix: master, its daemons and reaped daemons. Client and sink CPU not counted on either side. ${seconds} s per measurement, sides alternating.`,
    `Load average before ${loadBefore}, after ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} (loaded, shared 2-core machine: throughput only as a ratio against Postfix in the same run; memory figures are unaffected).`,
  ],
});
process.exit(0);
