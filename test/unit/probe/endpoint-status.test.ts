import { describe, expect, test } from '@jest/globals';
import { tlsHealthSummary, toEndpointStatus } from '../../../src/probe/endpoint-status.js';
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
