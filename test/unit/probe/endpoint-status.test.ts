import { describe, expect, test } from '@jest/globals';
import { deepScanFromStatus, tlsHealthSummary, toEndpointStatus } from '../../../src/probe/endpoint-status.js';
import { PASSING, deepResult, probeResult } from './fixtures.js';

describe('mapping to EndpointStatus', () => {
  test('healthy probe with a deep scan', () => {
    const deep = deepResult([{ check: 'legacy-protocols', result: 'pass', message: 'refused' }]);
    const s = toEndpointStatus({ name: 'submission', probe: probeResult(PASSING), deep, secretFingerprint: 'ab'.repeat(32) });
    expect(s).toEqual({
      name: 'submission',
      port: 587,
      mode: 'starttls',
      healthy: true,
      tlsVersion: 'TLSv1.3',
      cipher: 'TLS_AES_256_GCM_SHA384',
      group: 'X25519MLKEM768',
      notAfter: '2027-01-30T00:00:00.000Z',
      fingerprint: 'ab'.repeat(32),
      matchesSecret: true,
      hostnameVerified: true,
      chainVerified: true,
      authBeforeTLS: false,
      legacyProtocolsRefused: true,
      latencyMilliseconds: 42,
      lastProbeTime: '2026-11-28T12:00:00.000Z',
      lastDeepScanTime: '2026-11-28T11:00:00.000Z',
    });
  });
  test('failures carry check, result, reason and message; a warning alone keeps the endpoint healthy', () => {
    const warn = toEndpointStatus({ name: 'submissions', probe: probeResult([...PASSING, { check: 'certificate-expiry', result: 'warn', reason: 'certificate-expiring-soon', message: '3 days' }]) });
    expect(warn.healthy).toBe(true);
    expect(warn.failures).toEqual([{ check: 'certificate-expiry', result: 'warn', reason: 'certificate-expiring-soon', message: '3 days' }]);
    const fail = toEndpointStatus({
      name: 'submission',
      probe: probeResult([{ check: 'auth-before-tls', result: 'fail', reason: 'auth-before-tls', message: 'accepted' }]),
      secretFingerprint: 'cd'.repeat(32),
    });
    expect(fail).toMatchObject({ healthy: false, authBeforeTLS: true, matchesSecret: false });
  });
  test('deep scan failures make the endpoint unhealthy', () => {
    const deep = deepResult([{ check: 'legacy-protocols', result: 'fail', reason: 'legacy-protocol-accepted', message: 'TLSv1' }]);
    expect(toEndpointStatus({ name: 'submission', probe: probeResult(PASSING), deep })).toMatchObject({ healthy: false, legacyProtocolsRefused: false });
  });
  test('fields not known are left out, not set to undefined', () => {
    const s = toEndpointStatus({ name: 'submission', probe: probeResult([{ check: 'connect', result: 'fail', reason: 'timeout', message: 'x' }], { tls: undefined }) });
    expect(Object.keys(s).sort()).toEqual(['failures', 'healthy', 'lastProbeTime', 'latencyMilliseconds', 'mode', 'name', 'port']);
  });
  test('summary for the printer column', () => {
    const healthy = toEndpointStatus({ name: 'a', probe: probeResult(PASSING) });
    const degraded = toEndpointStatus({ name: 'b', probe: probeResult([{ check: 'x', result: 'warn', reason: 'certificate-expiring-soon', message: '' }]) });
    const broken = toEndpointStatus({ name: 'c', probe: probeResult([{ check: 'x', result: 'fail', reason: 'timeout', message: '' }]) });
    expect(tlsHealthSummary([])).toBe('Unknown');
    expect(tlsHealthSummary([healthy])).toBe('Healthy');
    expect(tlsHealthSummary([healthy, degraded])).toBe('Degraded');
    expect(tlsHealthSummary([healthy, degraded, broken])).toBe('Unhealthy');
  });
});

describe('deepScanFromStatus: the deep scan a status reports, for a restarted operator', () => {
  const expiring = { check: 'certificate-expiry', result: 'warn' as const, reason: 'certificate-expiring-soon' as const, message: '3 days' };
  const cases = {
    'legacy refused, all passing': [{ check: 'legacy-protocols', result: 'pass' as const, message: 'refused' }, { check: 'ocsp-stapling', result: 'pass' as const, message: 'none' }],
    'legacy accepted, a weak cipher, a weak key': [
      { check: 'modern-protocols', result: 'pass' as const, message: 'ok' },
      { check: 'legacy-protocols', result: 'fail' as const, reason: 'legacy-protocol-accepted' as const, message: 'TLSv1' },
      { check: 'weak-ciphers', result: 'fail' as const, reason: 'weak-cipher-accepted' as const, message: 'static-rsa' },
      { check: 'certificate-key', result: 'fail' as const, reason: 'weak-certificate-key' as const, message: 'rsa 1024 bits' },
    ],
    'legacy not tested (a warning)': [{ check: 'legacy-protocols', result: 'warn' as const, reason: 'tls-handshake-failed' as const, message: 'could not offer' }],
  };
  test.each(Object.entries(cases))('%s: toEndpointStatus gives the same status back, with a fast probe that warns and one that fails', (_name, deepChecks) => {
    for (const fast of [[...PASSING, expiring], [{ check: 'certificate-trust', result: 'fail' as const, reason: 'certificate-not-trusted' as const, message: 'unknown CA' }]]) {
      const probe = probeResult(fast);
      const written = toEndpointStatus({ name: 'submission', probe, deep: deepResult(deepChecks), secretFingerprint: 'ab'.repeat(32) });
      const adopted = deepScanFromStatus(written)!;
      expect(adopted.startedAt).toBe('2026-11-28T11:00:00.000Z');
      // The fast probe's failures are not the deep scan's: a later fast probe decides them again.
      expect(adopted.checks.map((c) => c.check)).not.toContain(fast[fast.length - 1]!.check);
      expect(toEndpointStatus({ name: 'submission', probe, deep: adopted, secretFingerprint: 'ab'.repeat(32) })).toEqual(written);
    }
  });
  test('a later fast probe with the adopted deep scan: its own findings, the deep scan\'s kept', () => {
    const written = toEndpointStatus({ name: 'submission', probe: probeResult([...PASSING, expiring]), deep: deepResult(cases['legacy accepted, a weak cipher, a weak key']) });
    const later = toEndpointStatus({ name: 'submission', probe: probeResult(PASSING, { startedAt: '2026-11-28T12:01:00.000Z' }), deep: deepScanFromStatus(written) });
    expect(later).toMatchObject({ healthy: false, legacyProtocolsRefused: false, lastDeepScanTime: '2026-11-28T11:00:00.000Z', lastProbeTime: '2026-11-28T12:01:00.000Z' });
    expect(later.failures!.map((f) => f.check)).toEqual(['legacy-protocols', 'weak-ciphers', 'certificate-key']);
  });
  test('no deep scan in the status: none adopted', () => {
    expect(deepScanFromStatus(toEndpointStatus({ name: 'submission', probe: probeResult(PASSING) }))).toBeUndefined();
  });
});
