// Section probe: what the TLS prober (src/probe) costs. Fast probe and deep scan of one
// endpoint (ms, TLS handshakes), and the time to probe 1,000 endpoints: 5 relay processes
// with 2 listeners each (STARTTLS 587-style and implicit 465-style) = 10 listeners, each
// probed 100 times, at concurrency 4 (the operator's --concurrency default; the prober has
// no concurrency setting of its own yet) and 16.
//
// Run: npm run build && node --import tsx bench/probe-cost.ts [--quick|--full]
import fs from 'node:fs';
import { deepScan, probeEndpoint, type ProbeOptions } from '../src/probe/index.js';
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
  for (const concurrency of [4, 16]) {
    const pool = createPool(concurrency);
    const verdicts = new Map<string, number>();
    let handshakes = 0;
    const t = performance.now();
    await Promise.all(
      Array.from({ length: endpoints.length * PROBES_EACH }, (_, i) =>
        pool.run(async () => {
          const r = await probeEndpoint(endpoints[i % endpoints.length]!);
          handshakes += r.handshakes;
          verdicts.set(r.verdict, (verdicts.get(r.verdict) ?? 0) + 1);
        }),
      ),
    );
    const s = (performance.now() - t) / 1000;
    log(`1000 probes at concurrency ${concurrency}: ${s.toFixed(1)} s`);
    rows.push({ metric: `${endpoints.length * PROBES_EACH} fast probes, concurrency ${concurrency}`, value: round(s), unit: 's', note: `${round((endpoints.length * PROBES_EACH) / s)} probes/s, ${handshakes} handshakes; verdicts ${[...verdicts].map(([k, v]) => `${k} ${v}`).join(', ')}` });
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
