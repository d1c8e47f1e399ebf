// Section probe: what the TLS prober (src/probe) costs. Fast probe and deep scan of one
// endpoint (ms, TLS handshakes), and the time to probe 1,000 endpoints: 5 relay processes
// with 2 listeners each (STARTTLS 587-style and implicit 465-style) = 10 listeners, each
// probed 100 times, at concurrency 4 and 16 (--probe-concurrency), with and without TLS session
// resumption, with the prober's CPU per probe (the bench process's user+system time).
//
// Run: npm run build && node --import tsx bench/probe-cost.ts [--quick|--full]
import fs from 'node:fs';
import { deepScan, probeEndpoint, TlsSessionCache, type ProbeOptions } from '../src/probe/index.js';
import { benchArgs, emit, log, type Row } from './lib/result.js';
import { createPki, RELAY_HOST, startOurRelay, startSink, type Relay } from './lib/smtp-fixtures.js';
import { createPool } from './lib/kube-bench.js';
import { median, percentile, round } from './lib/stats.js';

const args = benchArgs();
const RELAYS = 5;
const PROBES_EACH = 100;
const fastSamples = args.quick ? 20 : 100;
const deepSamples = args.quick ? 3 : 10;

const pki = createPki();
const sink = await startSink(pki);
const relays: Relay[] = [];
const rows: Row[] = [];
try {
  for (let i = 0; i < RELAYS; i++) relays.push(await startOurRelay(pki, sink.port, 1, `probe-relay-${i}`));
  const endpoints: ProbeOptions[] = relays.flatMap((r) => [
    { host: '127.0.0.1', port: r.submissionPort, mode: 'starttls' as const, servername: RELAY_HOST, caPem: [pki.ca.caCert], expectedFingerprint: pki.relayLeaf.fingerprint },
    { host: '127.0.0.1', port: r.submissionsPort, mode: 'implicit' as const, servername: RELAY_HOST, caPem: [pki.ca.caCert], expectedFingerprint: pki.relayLeaf.fingerprint },
  ]);
  // Warm up both code paths.
  await probeEndpoint(endpoints[0]!);
  await probeEndpoint(endpoints[1]!);

  for (const ep of endpoints.slice(0, 2)) {
    const ms: number[] = [];
    const handshakes: number[] = [];
    const verdicts = new Map<string, number>();
    for (let i = 0; i < fastSamples; i++) {
      const t = performance.now();
      const r = await probeEndpoint(ep);
      ms.push(performance.now() - t);
      handshakes.push(r.handshakes);
      verdicts.set(r.verdict, (verdicts.get(r.verdict) ?? 0) + 1);
    }
    rows.push({ metric: `fast probe, ${ep.mode} (median of ${fastSamples})`, value: round(median(ms)), unit: 'ms', note: `p99 ${round(percentile(ms, 99))} ms, ${median(handshakes)} handshake(s); verdicts ${[...verdicts].map(([k, v]) => `${k} ${v}`).join(', ')}` });
  }
  for (const ep of endpoints.slice(0, 2)) {
    const ms: number[] = [];
    const handshakes: number[] = [];
    for (let i = 0; i < deepSamples; i++) {
      const t = performance.now();
      const r = await deepScan(ep);
      ms.push(performance.now() - t);
      handshakes.push(r.handshakes);
    }
    rows.push({ metric: `deep scan, ${ep.mode} (median of ${deepSamples})`, value: round(median(ms)), unit: 'ms', note: `${median(handshakes)} handshakes` });
  }
  // As the operator runs them: TLS session resumption with a full handshake every 10 minutes
  // (--probe-full-handshake-every, default), and without it (0s).
  for (const [concurrency, resume] of [[4, false], [16, false], [4, true], [16, true]] as const) {
    const pool = createPool(concurrency);
    const sessions = resume ? new TlsSessionCache() : undefined;
    const how = `concurrency ${concurrency}, ${resume ? 'sessions resumed' : 'no resumption'}`;
    const verdicts = new Map<string, number>();
    let handshakes = 0;
    let resumed = 0;
    const cpu0 = process.cpuUsage();
    const t = performance.now();
    await Promise.all(
      Array.from({ length: endpoints.length * PROBES_EACH }, (_, i) =>
        pool.run(async () => {
          const r = await probeEndpoint({ ...endpoints[i % endpoints.length]!, ...(sessions ? { sessions } : {}) });
          handshakes += r.handshakes;
          if (r.resumed) resumed++;
          verdicts.set(r.verdict, (verdicts.get(r.verdict) ?? 0) + 1);
        }),
      ),
    );
    const s = (performance.now() - t) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const n = endpoints.length * PROBES_EACH;
    // The prober's own CPU (this process: the operator's share); the relays run in their own processes.
    const cpuMsPerProbe = (cpu.user + cpu.system) / 1000 / n;
    log(`${n} probes, ${how}: ${s.toFixed(1)} s, ${cpuMsPerProbe.toFixed(2)} ms prober CPU per probe`);
    rows.push({ metric: `${n} fast probes, ${how}`, value: round(s), unit: 's', note: `${round(n / s)} probes/s, ${handshakes} handshakes (${resumed} resumed); verdicts ${[...verdicts].map(([k, v]) => `${k} ${v}`).join(', ')}` });
    rows.push({ metric: `prober CPU per fast probe, ${how}`, value: round(cpuMsPerProbe), unit: 'ms', note: `user+system of the prober's process over the ${n} probes; ${round(60_000 / cpuMsPerProbe)} probes/min per core at that cost` });
  }
} finally {
  for (const r of relays) await r.stop();
  sink.stop();
  fs.rmSync(pki.root, { recursive: true, force: true });
}
emit({
  section: 'probe',
  title: 'Probe cost',
  rows,
  notes: [
    `Endpoints: ${RELAYS} relay processes (dist/cli.js relay) × 2 listeners on 127.0.0.1; the prober runs in the bench process via src/probe (probeEndpoint, deepScan), trusting the test CA and pinning the leaf fingerprint.`,
    'The test leaf is valid for 2 days, so the expiry check answers "warning": the verdict counts show it.',
  ],
});
process.exit(0);
