import { describe, expect, test } from '@jest/globals';
import { REASONS } from '../../../src/probe/reasons.js';
import { formatHostPort, renderReport } from '../../../src/probe/report.js';
import { PASSING, deepResult, probeResult } from './fixtures.js';

describe('human report', () => {
  test('healthy: verdict, negotiated TLS with the PQ group, every check', () => {
    const text = renderReport(probeResult(PASSING), undefined, 'healthy');
    expect(text).toContain('SMTP TLS probe of relay.example.org:587 (starttls, name smtp.example.org)');
    expect(text).toContain('Verdict: HEALTHY (1 handshake, 42 ms)');
    expect(text).toMatch(/TLSv1\.3 +TLS_AES_256_GCM_SHA384 +group X25519MLKEM768 \(post-quantum hybrid\)/);
    for (const c of PASSING) expect(text).toMatch(new RegExp(`PASS +${c.check}`));
    expect(text).not.toContain('What to fix');
  });
  test('failures show the reason code and the fix sentence once', () => {
    const checks = [
      ...PASSING,
      { check: 'certificate-fingerprint', result: 'fail' as const, reason: 'stale-certificate-served' as const, message: 'served aa, expected bb' },
      { check: 'certificate-expiry', result: 'warn' as const, reason: 'certificate-expiring-soon' as const, message: 'expires in 3 days' },
    ];
    const text = renderReport(probeResult(checks), undefined, 'failing');
    expect(text).toContain('Verdict: FAILING');
    expect(text).toMatch(/FAIL +certificate-fingerprint +\[stale-certificate-served\] served aa, expected bb/);
    expect(text).toMatch(/WARN +certificate-expiry +\[certificate-expiring-soon\]/);
    expect(text).toContain(`stale-certificate-served: ${REASONS['stale-certificate-served'].sentence}`);
    expect(text.split(REASONS['stale-certificate-served'].sentence).length).toBe(2);
  });
  test('deep scan section with the cost of both', () => {
    const deep = deepResult([{ check: 'legacy-protocols', result: 'fail', reason: 'legacy-protocol-accepted', message: 'accepted: TLSv1' }]);
    const text = renderReport(probeResult(PASSING), deep, 'failing');
    expect(text).toContain('Verdict: FAILING (13 handshakes, 122 ms)');
    expect(text).toContain('Deep scan (12 handshakes, 80 ms)');
    expect(text).toMatch(/Protocols +TLSv1 refused, TLSv1\.1 refused, TLSv1\.2 accepted, TLSv1\.3 accepted/);
    expect(text).toMatch(/FAIL +legacy-protocols +\[legacy-protocol-accepted\]/);
  });
  test('a probe that never reached TLS still renders', () => {
    const r = probeResult([{ check: 'connect', result: 'fail', reason: 'connection-refused', message: 'ECONNREFUSED' }], { tls: undefined, smtp: {}, handshakes: 0 });
    const text = renderReport(r, undefined, 'failing');
    expect(text).toContain('0 handshakes');
    expect(text).toMatch(/FAIL +connect +\[connection-refused\]/);
  });
  test('IPv6 targets are bracketed', () => {
    expect(formatHostPort('::1', 465)).toBe('[::1]:465');
    expect(formatHostPort('mail.test', 25)).toBe('mail.test:25');
  });
});
