// Our own relay, run as a real process from dist/cli.js, probed like any other
// server: both listeners must pass the fast probe and the deep scan, and no listener
// may relay for an outside sender without AUTH (the probe's open-relay check), while
// nothing the probe does ever reaches the upstream as a message.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { deepScan } from '../../../src/probe/deep-scan.js';
import { probeEndpoint } from '../../../src/probe/fast-probe.js';
import type { CheckResult, ProbeOptions } from '../../../src/probe/types.js';
import { fingerprintOf } from '../../helpers/smtp/certs.js';
import { createRelayFixture, RELAY_HOST, startRelayProcess, type RelayFixture, type RelayProcess } from '../../helpers/smtp/relay-fixture.js';

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

function opts(listener: 'submission' | 'submissions' | 'relay', proc: RelayProcess = relay): ProbeOptions {
  return {
    host: '127.0.0.1',
    port: proc.ports[listener],
    mode: listener === 'submissions' ? 'implicit' : 'starttls',
    unauthenticatedListener: listener === 'relay',
    servername: RELAY_HOST,
    caPem: [fx.ca.caCert],
    expectedFingerprint: fingerprintOf(fx.leaf.cert),
    timeoutMs: 5000,
    // The relay fixture's certificates live two days; warn only inside the last hour.
    expiryWarningMs: 60 * 60 * 1000,
  };
}

const blamed = (checks: CheckResult[]) => checks.filter((c) => c.result !== 'pass').map((c) => `${c.result}:${c.reason}: ${c.message}`);

describe('probing our relay', () => {
  test.each(['submission', 'submissions'] as const)('%s passes the fast probe', async (listener) => {
    const probe = await probeEndpoint(opts(listener));
    expect(blamed(probe.checks)).toEqual([]);
    expect(probe.tls).toMatchObject({ protocol: 'TLSv1.3', group: 'X25519MLKEM768', pq: true, chainVerified: true, hostnameVerified: true });
  });
  test.each(['submission', 'submissions'] as const)('%s passes the deep scan', async (listener) => {
    const deep = await deepScan(opts(listener));
    expect(blamed(deep.checks)).toEqual([]);
  });
  test.each([
    ['submission', /MAIL FROM:<probe@open-relay-check\.invalid> without AUTH refused \(530 /],
    ['submissions', /MAIL FROM:<probe@open-relay-check\.invalid> without AUTH refused \(530 /],
    // The relay listener allows 127.0.0.0/8 here, so the sender check runs: an outside sender is refused.
    ['relay', /MAIL FROM:<probe@open-relay-check\.invalid> without AUTH refused \(5\d\d /],
  ] as const)('%s is no open relay, and the probe sends the upstream nothing', async (listener, said) => {
    const probe = await probeEndpoint(opts(listener));
    expect(blamed(probe.checks)).toEqual([]);
    expect(probe.checks.find((c) => c.check === 'open-relay')).toMatchObject({ result: 'pass', message: expect.stringMatching(said) });
    expect(fx.upstream.dataStarted).toBe(0);
    expect(fx.upstream.messages).toEqual([]);
  });
  test('a relay listener that does not allow the prober: refused at the greeting, reported, sender check not exercised', async () => {
    const closed = await createRelayFixture((c) => {
      c.listeners.find((l) => l.name === 'relay')!.allowedNetworks = ['10.0.0.0/8'];
    });
    const proc = await startRelayProcess(closed);
    try {
      const probe = await probeEndpoint({ ...opts('relay', proc), caPem: [closed.ca.caCert], expectedFingerprint: fingerprintOf(closed.leaf.cert) });
      expect(blamed(probe.checks)).toEqual(['warn:client-refused: banner: the server refused this client at the greeting (554 5.7.1 Relay access denied for this client address)']);
      expect(probe.checks.find((c) => c.check === 'open-relay')).toMatchObject({ result: 'pass', message: expect.stringContaining('not exercised') });
      expect(closed.upstream.dataStarted).toBe(0);
    } finally {
      proc.child.kill('SIGTERM');
      await proc.exited;
      await closed.cleanup();
    }
  });
  test('a rotated certificate the relay has not picked up yet is reported as stale', async () => {
    const probe = await probeEndpoint({ ...opts('submission'), expectedFingerprint: 'ab'.repeat(32) });
    expect(probe.checks.filter((c) => c.result !== 'pass').map((c) => c.reason)).toEqual(['stale-certificate-served']);
  });
});
