// TLS session resumption in the fast probe, against a real relay process: repeated probes
// resume (less CPU), a resumed probe says so and repeats the verdicts of the last full
// handshake, and a rotated certificate is still seen:
//  - with a new certificate in the Secret (a new expected fingerprint): at the next probe;
//  - behind an unchanged Secret (the relay serves another certificate than expected): within
//    fullHandshakeEveryMs. Our relay refuses old sessions after a reload (new ticket keys), so
//    the next probe is full anyway; a server that keeps its ticket keys over a certificate
//    change (Postfix, HAProxy, nginx with configured keys; here the probe corpus server) resumes
//    the old sessions, and the change is seen at the first full handshake, within the period.
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { probeEndpoint, TlsSessionCache, type ProbeOptions, type ProbeResult } from '../../../src/probe/index.js';
import { createTestPki, TEST_HOST } from '../../helpers/broken-smtp/certs.js';
import { startBrokenSmtp } from '../../helpers/broken-smtp/server.js';
import type { Leaf } from '../../helpers/smtp/certs.js';
import { createRelayFixture, RELAY_HOST, startRelayProcess, type RelayFixture, type RelayProcess } from '../../helpers/smtp/relay-fixture.js';

jest.setTimeout(60_000);

const FULL_EVERY_MS = 1500;

let fx: RelayFixture;
let relay: RelayProcess;

beforeAll(async () => {
  fx = await createRelayFixture();
  relay = await startRelayProcess(fx);
});

afterAll(async () => {
  relay?.child.kill('SIGTERM');
  await relay?.exited;
  await fx?.cleanup();
});

const endpoint = (mode: 'starttls' | 'implicit', expectedFingerprint: string, sessions?: TlsSessionCache): ProbeOptions => ({
  host: '127.0.0.1',
  port: mode === 'starttls' ? relay.ports.submission : relay.ports.submissions,
  mode,
  servername: RELAY_HOST,
  caPem: [fx.ca.caCert],
  expectedFingerprint,
  // The test CA's certificates live two days: warn only inside the last hour.
  expiryWarningMs: 3_600_000,
  timeoutMs: 5000,
  ...(sessions ? { sessions } : {}),
});
const failures = (r: ProbeResult) => r.checks.filter((c) => c.result === 'fail').map((c) => c.reason);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until a full probe (no session) sees the relay serve `leaf`. */
async function untilServed(leaf: Leaf): Promise<void> {
  const end = Date.now() + 15_000;
  for (;;) {
    const r = await probeEndpoint(endpoint('implicit', leaf.fingerprint));
    if (r.tls?.chain[0]?.fingerprint === leaf.fingerprint) return;
    if (Date.now() > end) throw new Error(`the relay did not reload ${leaf.fingerprint}`);
    await sleep(100);
  }
}

describe.each(['starttls', 'implicit'] as const)('%s', (mode) => {
  test('the second probe resumes the session and repeats the full handshake\'s verdicts, saying so', async () => {
    const sessions = new TlsSessionCache({ fullHandshakeEveryMs: 60_000 });
    const first = await probeEndpoint(endpoint(mode, fx.leaf.fingerprint, sessions));
    expect(first.verdict).toBe('healthy');
    expect(first.resumed).toBeUndefined();
    const second = await probeEndpoint(endpoint(mode, fx.leaf.fingerprint, sessions));
    expect(second).toMatchObject({ verdict: 'healthy', resumed: true });
    // Verified by the first probe's handshake.
    expect(Date.parse(second.certificateVerifiedAt!)).toBeGreaterThanOrEqual(Date.parse(first.startedAt));
    expect(Date.parse(second.certificateVerifiedAt!)).toBeLessThanOrEqual(Date.parse(second.startedAt));
    // Negotiated facts are this handshake's; the certificate facts are the full handshake's.
    expect(second.tls).toMatchObject({ protocol: 'TLSv1.3', group: first.tls!.group, chain: first.tls!.chain, chainVerified: true, hostnameVerified: true });
    expect(second.checks.map((c) => [c.check, c.result])).toEqual(first.checks.map((c) => [c.check, c.result]));
  });
});

describe('rotation with resumption on', () => {
  test('a new certificate in the Secret: the next probe is a full handshake and sees the stale one; the reload heals at the next probe', async () => {
    const sessions = new TlsSessionCache({ fullHandshakeEveryMs: 60_000 });
    const current = await untilServedLeaf();
    expect((await probeEndpoint(endpoint('starttls', current.fingerprint, sessions))).verdict).toBe('healthy');
    expect((await probeEndpoint(endpoint('starttls', current.fingerprint, sessions))).resumed).toBe(true);
    // The Secret now holds `next`; the relay still serves `current`.
    const next = fx.ca.issue('relay', [RELAY_HOST, 'localhost', '127.0.0.1']);
    const stale = await probeEndpoint(endpoint('starttls', next.fingerprint, sessions));
    expect(stale.resumed).toBeUndefined();
    expect(failures(stale)).toEqual(['stale-certificate-served']);
    // A failing certificate is never taken from a session: every probe checks it in full until it is fixed.
    expect((await probeEndpoint(endpoint('starttls', next.fingerprint, sessions))).resumed).toBeUndefined();
    fx.rotate(next);
    servedLeaf = next;
    await untilServed(next);
    const healed = await probeEndpoint(endpoint('starttls', next.fingerprint, sessions));
    expect(healed).toMatchObject({ verdict: 'healthy' });
    expect(healed.resumed).toBeUndefined();
  });

  test(`an unchanged Secret and another served certificate: seen within fullHandshakeEveryMs (${FULL_EVERY_MS} ms), while resumed probes say when they were verified`, async () => {
    const sessions = new TlsSessionCache({ fullHandshakeEveryMs: FULL_EVERY_MS });
    const expected = await untilServedLeaf();
    expect((await probeEndpoint(endpoint('implicit', expected.fingerprint, sessions))).verdict).toBe('healthy');
    // The relay's files change behind the operator's back; the Secret (expected fingerprint) does not.
    const rotatedAt = Date.now();
    const other = fx.ca.issue('relay', [RELAY_HOST, 'localhost', '127.0.0.1']);
    fx.rotate(other);
    servedLeaf = other;
    await untilServed(other);
    const served = Date.now();
    let resumedAfter = 0;
    let detected: ProbeResult | undefined;
    while (!detected && Date.now() - served < FULL_EVERY_MS + 5000) {
      const r = await probeEndpoint(endpoint('implicit', expected.fingerprint, sessions));
      if (failures(r).includes('stale-certificate-served')) detected = r;
      else {
        // A probe that did not see it repeated a full handshake from before the rotation, and says so.
        expect(r.resumed).toBe(true);
        expect(Date.parse(r.certificateVerifiedAt!)).toBeLessThan(rotatedAt);
        resumedAfter++;
      }
      await sleep(100);
    }
    expect(detected).toBeDefined();
    expect(detected!.resumed).toBeUndefined();
    expect(detected!.tls!.chain[0]!.fingerprint).toBe(other.fingerprint);
    // Within the full-handshake period of the last full handshake (before the rotation), plus one probe's slack.
    expect(Date.parse(detected!.startedAt) - rotatedAt).toBeLessThan(FULL_EVERY_MS + 1000);
    process.stdout.write(`FIGURE session-resumption: rotation behind an unchanged Secret seen ${Date.parse(detected!.startedAt) - rotatedAt} ms after it (full handshake every ${FULL_EVERY_MS} ms; ${resumedAfter} resumed probe(s) after the relay reloaded)\n`);
  });
});

let servedLeaf: Leaf | undefined;
/** The leaf the relay serves now (the fixture's first, until a test rotates it). */
async function untilServedLeaf(): Promise<Leaf> {
  const leaf = servedLeaf ?? fx.leaf;
  await untilServed(leaf);
  return leaf;
}

describe('a server that keeps its session ticket keys over a certificate change', () => {
  test(`resumed probes repeat the old verdicts, saying when they were made; the change is seen within fullHandshakeEveryMs (${FULL_EVERY_MS} ms)`, async () => {
    const pki = createTestPki();
    const server = await startBrokenSmtp({ mode: 'implicit', key: pki.good.key, cert: pki.chain(pki.good) });
    try {
      const sessions = new TlsSessionCache({ fullHandshakeEveryMs: FULL_EVERY_MS });
      const expected = new X509Certificate(pki.good.cert).fingerprint256.replace(/:/g, '').toLowerCase();
      const opts: ProbeOptions = { host: '127.0.0.1', port: server.port, mode: 'implicit', servername: TEST_HOST, caPem: [fs.readFileSync(pki.caFile, 'utf8')], expectedFingerprint: expected, timeoutMs: 5000, sessions };
      const full = await probeEndpoint(opts);
      expect(full.verdict).toBe('healthy');
      expect(full.resumed).toBeUndefined();
      // The server now serves `rotated` (same name, same CA); the expected certificate is unchanged.
      server.setCertificate(pki.rotated.key, pki.chain(pki.rotated));
      const changedAt = Date.now();
      let resumed = 0;
      let detected: ProbeResult | undefined;
      while (!detected && Date.now() - changedAt < FULL_EVERY_MS + 5000) {
        const r = await probeEndpoint(opts);
        if (failures(r).includes('stale-certificate-served')) detected = r;
        else {
          expect(r).toMatchObject({ verdict: 'healthy', resumed: true });
          expect(Date.parse(r.certificateVerifiedAt!)).toBeLessThan(changedAt);
          resumed++;
        }
        await sleep(100);
      }
      // The old session did resume after the change (so this test exercises the hidden window)...
      expect(resumed).toBeGreaterThan(0);
      // ...and the first full handshake, due one period after the last, saw the change.
      expect(detected).toBeDefined();
      expect(detected!.resumed).toBeUndefined();
      expect(Date.parse(detected!.startedAt) - Date.parse(full.startedAt)).toBeLessThan(FULL_EVERY_MS + 1000);
      process.stdout.write(`FIGURE session-resumption: ticket keys kept over the change: ${resumed} resumed probe(s), change seen ${Date.parse(detected!.startedAt) - changedAt} ms after it (full handshake every ${FULL_EVERY_MS} ms)\n`);
    } finally {
      await server.close();
      pki.cleanup();
    }
  });
});
