// Section relay: the same client load through (a) our relay (dist/cli.js relay) and
// (b) a private Postfix 3.7 configured equivalently, both relaying to the same TLS sink
// (a separate process). Each message is one client connection: STARTTLS, AUTH PLAIN,
// MAIL, RCPT, DATA (10 KiB), QUIT. C connections run concurrently.
// Reports end-to-end msgs/s (until the sink has every accepted message), p50/p99 client
// latency (connect to the 250 after DATA), CPU seconds per 1,000 messages, TLS session
// resumption on/off, and the full-handshake ceiling of this CPU (openssl s_time).
//
// Section queue: the same against our relay in durable mode (issue 12: 250 only after fsync),
// which is the like-for-like comparison since Postfix also queues; plus the fsync cost from the
// relay's own histogram, acceptance with the upstream hung, and the catch-up afterwards.
//
// Run: npm run build && node --import tsx bench/relay-vs-postfix.ts [--quick|--full] [--runs=N] [--only=relay,queue]
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { benchArgs, check, emit, log, sleep, type Row } from './lib/result.js';
import { measureSide, submitBase, waitStable, type Side, type SideResult } from './lib/relay-compare.js';
import { runLoad, type LoadResult } from './lib/smtp-client.js';
import { createPki, startOurRelay, startSink, type Pki, type Relay, type Sink } from './lib/smtp-fixtures.js';
import { median, pairedRatio, percentile, round } from './lib/stats.js';

const run = promisify(execFile);
const args = benchArgs();
const seconds = Number(process.env.BENCH_RELAY_SECONDS ?? (args.quick ? 8 : 30));
const runs = args.runs ?? (args.quick ? 1 : 3);
const CONNECTIONS = (process.env.BENCH_RELAY_C ?? '1,10,50').split(',').map(Number);
const BYTES = 10 * 1024;

const measure = (kind: Side, pki: Pki, sink: Sink, c: number, resume: boolean, onRelay?: (r: Relay) => Promise<void>): Promise<SideResult> =>
  measureSide({ pki, sink, seconds, bytes: BYTES }, kind, c, resume, onRelay);

function queueDir(): string {
  return fs.mkdtempSync(path.join(pki.root, 'queue-'));
}

/** Full TLS handshakes per second with openssl s_time (sequential, new session each time). */
async function sTime(port: number, ca: string, secs: number): Promise<number> {
  const { stdout } = await run('openssl', ['s_time', '-connect', `127.0.0.1:${port}`, '-new', '-time', String(secs), '-CAfile', ca], { timeout: (secs + 20) * 1000 });
  const m = /(\d+) connections in ([\d.]+) real seconds/.exec(stdout);
  if (!m) throw new Error(`unexpected s_time output: ${stdout.slice(-300)}`);
  return Number(m[1]) / Number(m[2]);
}

async function handshakeCeiling(pki: Pki, relayImplicitPort: number): Promise<{ opensslServer: number; relay: number }> {
  const dir = path.join(pki.root, 'stime');
  fs.mkdirSync(dir, { recursive: true });
  for (const [f, body] of Object.entries({ 'cert.pem': pki.relayLeaf.cert, 'key.pem': pki.relayLeaf.key, 'ca.pem': pki.ca.caCert })) fs.writeFileSync(path.join(dir, f), body);
  const net = await import('node:net');
  const port = await new Promise<number>((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as import('node:net').AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
  const server = spawn('openssl', ['s_server', '-accept', String(port), '-cert', path.join(dir, 'cert.pem'), '-key', path.join(dir, 'key.pem'), '-quiet', '-naccept', '1000000'], { stdio: 'ignore' });
  try {
    await sleep(500);
    const secs = args.quick ? 4 : 10;
    const opensslServer = await sTime(port, path.join(dir, 'ca.pem'), secs);
    const relay = await sTime(relayImplicitPort, path.join(dir, 'ca.pem'), secs);
    return { opensslServer, relay };
  } finally {
    server.kill('SIGTERM');
  }
}

const pki = createPki();
const sink = await startSink(pki);
const rows: Row[] = [];
const notes: string[] = [
  `Client: bench/lib/smtp-client.ts in the bench process; one connection per message (EHLO, STARTTLS, EHLO, AUTH PLAIN, MAIL, RCPT, DATA ${BYTES / 1024} KiB, QUIT), no pipelining, ${seconds} s per measurement after a 1 s warm-up, ${runs} run(s), sides alternating.`,
  'Upstream: bench/lib/sink-main.ts (smtp-server, STARTTLS + AUTH, discards) in its own process, the same for both. Our relay: upstream pool size = C. Postfix 3.7.11 (Debian): private instance, smtpd with smtpd_tls_security_level=encrypt + Cyrus SASL (sasldb), relayhost = the sink with smtp_tls_security_level=encrypt + SASL, smtp_tls_connection_reuse=yes, destination concurrency = C, no chroot.',
  'End to end = accepted messages / time until the sink has them all. Latency is what the client sees: Postfix answers 250 once the message is in its queue, our relay once the upstream accepted it.',
  'CPU: utime+stime from /proc of the relay process; for Postfix the master, its live daemons and its reaped daemons (cutime+cstime).',
];
const queueNotes = [
  'Our relay in durable mode (relay.json `queue`, Postfix retry defaults): 250 once the message file is fsynced, renamed and its directory fsynced; delivery workers then hand it to the same sink. Postfix: as in the relay section (its 250 also follows its own queue file fsync).',
  'Upstream hung: the sink process is stopped with SIGSTOP (connections open, no greeting), so only acceptance is measured; catch-up: SIGCONT, then the time until the sink holds every accepted message.',
  'fsync figures are the relay\'s own smtp_relay_queue_fsync_duration_seconds histogram means over the C=10 run (file = message file, dir = the directory fsync shared by concurrent commits).',
];
const sections = args.only.length > 0 ? args.only : ['relay', 'queue'];
const queueRows: Row[] = [];
try {
  if (sections.includes('queue')) await queueSection();
  if (sections.includes('relay')) await relaySection();
} finally {
  sink.stop();
  fs.rmSync(pki.root, { recursive: true, force: true });
}
if (sections.includes('relay')) emit({ section: 'relay', title: 'Relay throughput against Postfix', rows, notes });
if (sections.includes('queue')) emit({ section: 'queue', title: 'Durable queue against Postfix (both queue before 250)', rows: queueRows, notes: queueNotes });
process.exit(0);

async function relaySection(): Promise<void> {
  for (const c of CONNECTIONS) {
    const ours: SideResult[] = [];
    const theirs: SideResult[] = [];
    for (let r = 0; r < runs; r++) {
      const order: ('ours' | 'postfix')[] = r % 2 === 0 ? ['ours', 'postfix'] : ['postfix', 'ours'];
      for (const side of order) (side === 'ours' ? ours : theirs).push(await measure(side, pki, sink, c, false));
    }
    const ratio = pairedRatio(ours.map((x) => x.e2eRate), theirs.map((x) => x.e2eRate));
    const lat = (s: SideResult[], p: number) => round(median(s.map((x) => percentile(x.load.latenciesMs, p))));
    const failed = (s: SideResult[]) => s.reduce((a, x) => a + x.load.failed, 0);
    rows.push({ metric: `C=${c}: ours msgs/s end to end`, value: round(median(ours.map((x) => x.e2eRate))), note: `p50 ${lat(ours, 50)} ms, p99 ${lat(ours, 99)} ms, CPU ${round(median(ours.map((x) => x.cpuPer1000)))} s/1000 msgs, failed ${failed(ours)}` });
    rows.push({ metric: `C=${c}: Postfix msgs/s end to end`, value: round(median(theirs.map((x) => x.e2eRate))), note: `p50 ${lat(theirs, 50)} ms, p99 ${lat(theirs, 99)} ms, CPU ${round(median(theirs.map((x) => x.cpuPer1000)))} s/1000 msgs, failed ${failed(theirs)}` });
    rows.push({ metric: `C=${c}: ours / Postfix`, value: round(ratio), target: '≥ 1.0', ok: check(ratio, '>=', 1.0) });
  }
  // Resumption on vs off, C=10, both sides.
  const c = 10;
  for (const side of ['ours', 'postfix'] as const) {
    const on = await measure(side, pki, sink, c, true);
    const off = await measure(side, pki, sink, c, false);
    rows.push({ metric: `C=${c}: ${side === 'ours' ? 'ours' : 'Postfix'} msgs/s, TLS resumption on / off`, value: `${round(on.e2eRate)} / ${round(off.e2eRate)}`, note: `${on.load.resumed} of ${on.load.ok} sessions resumed; CPU ${round(on.cpuPer1000)} / ${round(off.cpuPer1000)} s per 1000 msgs` });
  }
  const relay = await startOurRelay(pki, sink.port, 4, 'stime-relay');
  try {
    const ceiling = await handshakeCeiling(pki, relay.submissionsPort);
    rows.push({ metric: 'full TLS handshakes/s, openssl s_time → openssl s_server (ECDSA P-256, sequential)', value: round(ceiling.opensslServer) });
    rows.push({ metric: 'full TLS handshakes/s, openssl s_time → our relay implicit-TLS listener', value: round(ceiling.relay), note: `${round((ceiling.relay / ceiling.opensslServer) * 100)} % of the openssl server` });
  } finally {
    await relay.stop();
  }
}

/** Mean of a Prometheus histogram (sum / count) from the relay's /metrics, by label filter. */
async function histogramMean(metricsPort: number, name: string, label: string): Promise<{ mean: number; count: number }> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const pick = (suffix: string) => Number(new RegExp(`^${name}_${suffix}\\{[^}]*${label}[^}]*\\} ([0-9.e+-]+)$`, 'm').exec(text)?.[1] ?? NaN);
  const sum = pick('sum');
  const count = pick('count');
  return { mean: sum / count, count };
}


async function queueSection(): Promise<void> {
  for (const c of CONNECTIONS) {
    const ours: SideResult[] = [];
    const theirs: SideResult[] = [];
    for (let r = 0; r < runs; r++) {
      const order: Side[] = r % 2 === 0 ? ['durable', 'postfix'] : ['postfix', 'durable'];
      for (const side of order) {
        const onRelay = c === 10 && r === 0 ? async (relay: Relay) => {
          const file = await histogramMean(relay.metricsPort, 'smtp_relay_queue_fsync_duration_seconds', 'what="file"');
          const dir = await histogramMean(relay.metricsPort, 'smtp_relay_queue_fsync_duration_seconds', 'what="dir"');
          queueRows.push({ metric: 'fsync per message file (mean, C=10)', value: round(file.mean * 1000), unit: 'ms', note: `${file.count} fsyncs` });
          queueRows.push({ metric: 'fsync of the queue directory (mean, C=10)', value: round(dir.mean * 1000), unit: 'ms', note: `${dir.count} fsyncs for ${file.count} messages (shared by concurrent commits)` });
        } : undefined;
        (side === 'durable' ? ours : theirs).push(await measure(side, pki, sink, c, false, onRelay));
      }
    }
    const ratio = pairedRatio(ours.map((x) => x.e2eRate), theirs.map((x) => x.e2eRate));
    const p99 = (s: SideResult[]) => round(median(s.map((x) => percentile(x.load.latenciesMs, 99))));
    const p50 = (s: SideResult[]) => round(median(s.map((x) => percentile(x.load.latenciesMs, 50))));
    queueRows.push({ metric: `C=${c}: durable msgs/s end to end`, value: round(median(ours.map((x) => x.e2eRate))), note: `p50 ${p50(ours)} ms, p99 ${p99(ours)} ms acceptance` });
    queueRows.push({ metric: `C=${c}: Postfix msgs/s end to end`, value: round(median(theirs.map((x) => x.e2eRate))), note: `p50 ${p50(theirs)} ms, p99 ${p99(theirs)} ms acceptance` });
    queueRows.push({ metric: `C=${c}: durable / Postfix`, value: round(ratio), target: '≥ 1.0', ok: check(ratio, '>=', 1.0) });
    queueRows.push({ metric: `C=${c}: p99 acceptance, durable vs Postfix`, value: `${p99(ours)} / ${p99(theirs)} ms`, target: 'lower', ok: p99(ours) < p99(theirs) });
  }
  await outageAndCatchUp(10);
}

/** Acceptance while the upstream hangs, then how fast the queue drains once it answers again. */
async function outageAndCatchUp(c: number): Promise<void> {
  const relay = await startOurRelay(pki, sink.port, c, 'outage-relay', { queueDir: queueDir() });
  const base = submitBase(pki, relay.submissionPort);
  try {
    const before = await waitStable(sink);
    process.kill(sink.pid, 'SIGSTOP');
    let load: LoadResult;
    try {
      load = await runLoad(base, { connections: c, seconds, bytes: BYTES, resume: false });
    } finally {
      process.kill(sink.pid, 'SIGCONT');
    }
    const t0 = performance.now();
    const until = t0 + 300_000;
    let delivered = 0;
    while (delivered < load.ok && performance.now() < until) {
      await sleep(50);
      delivered = (await sink.count()) - before;
    }
    const catchUpS = (performance.now() - t0) / 1000;
    queueRows.push({ metric: `C=${c}: acceptance with the upstream hung`, value: round(load.ok / seconds), unit: 'msgs/s', note: `${load.ok} accepted, ${load.failed} failed, p99 ${round(percentile(load.latenciesMs, 99))} ms` });
    queueRows.push({ metric: `catch-up after the upstream answers again`, value: round(delivered / catchUpS), unit: 'msgs/s', note: `${delivered} of ${load.ok} delivered in ${round(catchUpS)} s (includes the relay noticing: its retry timer is reset by the first attempt that gets through)` });
  } finally {
    await relay.stop();
  }
}
