// Section rotation: while our relay (a real process) serves a steady load (C=4, one
// STARTTLS + AUTH session per message), rotate its mounted TLS Secret the way the kubelet
// does (new ..<timestamp> dir, atomic rename of ..data) 10 times. For each rotation: seconds
// from the swap until a fresh TLS connection sees the new certificate; and the number of
// failed client sessions over the whole rotation period.
//
// Run: npm run build && node --import tsx bench/rotation.ts [--quick|--full]
import fs from 'node:fs';
import tls from 'node:tls';
import { writeAtomicDir } from '../test/helpers/smtp/certs.js';
import { benchArgs, check, emit, log, sleep, type Row } from './lib/result.js';
import { runLoad } from './lib/smtp-client.js';
import { createPki, RELAY_HOST, startOurRelay, startSink, SUBMIT_PASS, SUBMIT_USER } from './lib/smtp-fixtures.js';
import { median, percentile, round } from './lib/stats.js';

const args = benchArgs();
const ROTATIONS = 10;
const LOAD_CONNECTIONS = 4;

/** The SHA-256 fingerprint (lower hex, no colons) a fresh implicit-TLS connection is served. */
function servedFingerprint(port: number, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, ca, servername: RELAY_HOST }, () => {
      const fp = s.getPeerCertificate().fingerprint256.replace(/:/g, '').toLowerCase();
      s.destroy();
      resolve(fp);
    });
    s.setTimeout(5000, () => s.destroy(new Error('timeout')));
    s.on('error', reject);
  });
}

const pki = createPki();
const sink = await startSink(pki);
const relay = await startOurRelay(pki, sink.port, LOAD_CONNECTIONS);
const rows: Row[] = [];
try {
  // Certificates first: openssl runs before the clock does.
  const leaves = Array.from({ length: ROTATIONS }, () => pki.ca.issue('relay', [RELAY_HOST, 'localhost', '127.0.0.1']));
  let stop = false;
  const load = runLoad(
    { host: '127.0.0.1', port: relay.submissionPort, mode: 'starttls', ca: pki.ca.caCert, servername: RELAY_HOST, user: SUBMIT_USER, pass: SUBMIT_PASS, from: 'app@example.com', to: 'rcpt@dest.example' },
    { connections: LOAD_CONNECTIONS, seconds: 3600, bytes: 10 * 1024, resume: false, stop: () => stop },
  );
  await sleep(1000);
  const delays: number[] = [];
  let probeFailures = 0;
  for (const leaf of leaves) {
    writeAtomicDir(relay.tlsDir, { 'tls.crt': leaf.cert, 'tls.key': leaf.key });
    const t0 = performance.now();
    for (;;) {
      try {
        if ((await servedFingerprint(relay.submissionsPort, pki.ca.caCert)) === leaf.fingerprint) break;
      } catch {
        probeFailures++;
      }
      if (performance.now() - t0 > 30_000) throw new Error('the new certificate was not served within 30 s');
      await sleep(10);
    }
    delays.push((performance.now() - t0) / 1000);
    log(`rotation ${delays.length}: new certificate served after ${delays.at(-1)!.toFixed(3)} s`);
    await sleep(args.quick ? 1000 : 3000);
  }
  stop = true;
  const result = await load;
  const failed = result.failed + probeFailures;
  const p50 = median(delays);
  const max = Math.max(...delays);
  rows.push({ metric: `rotation → new fingerprint served, median of ${ROTATIONS}`, value: round(p50), unit: 's' });
  rows.push({ metric: `rotation → new fingerprint served, worst of ${ROTATIONS}`, value: round(max), unit: 's', target: '≤ 2 s', ok: check(max, '<=', 2), note: `p90 ${round(percentile(delays, 90))} s` });
  rows.push({ metric: 'failed sessions during the rotations', value: failed, target: '0', ok: failed === 0, note: `${result.ok} messages accepted under load (C=${LOAD_CONNECTIONS}), ${result.failed} failed; ${probeFailures} failed fingerprint connections${result.errors.length ? `; e.g. ${result.errors[0]}` : ''}` });
} finally {
  await relay.stop();
  sink.stop();
  fs.rmSync(pki.root, { recursive: true, force: true });
}
emit({
  section: 'rotation',
  title: 'Certificate rotation under load',
  rows,
  notes: [
    'Our relay as a real process; its TLS dir is swapped like the kubelet does (writeAtomicDir: new ..<timestamp> dir, rename of ..data). New certificates are issued before the clock starts.',
    'The delay is measured with fresh implicit-TLS connections every 10 ms until the new leaf\'s SHA-256 is served; the load keeps running STARTTLS + AUTH sessions (10 KiB messages) meanwhile.',
  ],
});
process.exit(0);
