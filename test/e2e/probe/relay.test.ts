// Our own relay, run as a real process from dist/cli.js, probed like any other
// server: both listeners must pass the fast probe and the deep scan.
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

function opts(listener: 'submission' | 'submissions'): ProbeOptions {
  return {
    host: '127.0.0.1',
    port: relay.ports[listener],
    mode: listener === 'submission' ? 'starttls' : 'implicit',
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
  test('a rotated certificate the relay has not picked up yet is reported as stale', async () => {
    const probe = await probeEndpoint({ ...opts('submission'), expectedFingerprint: 'ab'.repeat(32) });
    expect(probe.checks.filter((c) => c.result !== 'pass').map((c) => c.reason)).toEqual(['stale-certificate-served']);
  });
});
