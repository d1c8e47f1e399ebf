import { describe, expect, test } from '@jest/globals';
import fs from 'node:fs';
import path from 'node:path';
import { conditionReason } from '../../../src/probe/endpoint-status.js';
import { REASONS, isReasonCode, reasonSentence } from '../../../src/probe/reasons.js';
import { repoRoot } from '../../helpers/cli.js';

// RFC 8460 section 4.3 result types we report under their own names.
const TLSRPT_TYPES = ['starttls-not-supported', 'certificate-expired', 'certificate-host-mismatch', 'certificate-not-trusted', 'validation-failure'];

describe('reason code table', () => {
  test('every code is kebab-case with one sentence', () => {
    for (const [code, info] of Object.entries(REASONS)) {
      expect(code).toMatch(/^[a-z0-9]+(-[a-z0-9]+)*$/);
      expect(info.sentence).toMatch(/^[A-Z].*\.$/);
      expect(info.sentence.split('. ').length).toBeLessThanOrEqual(2);
    }
  });
  test('the RFC 8460 result types are marked tlsrpt, and only they', () => {
    const marked = Object.entries(REASONS).filter(([, i]) => i.tlsrpt).map(([c]) => c);
    expect(marked.sort()).toEqual([...TLSRPT_TYPES].sort());
  });
  test('the codes the brief names all exist', () => {
    for (const code of ['certificate-expiring-soon', 'certificate-not-yet-valid', 'stale-certificate-served', 'auth-before-tls', 'plaintext-on-implicit-port',
      'starttls-injection', 'legacy-protocol-accepted', 'weak-cipher-accepted', 'no-forward-secrecy', 'client-renegotiation-allowed', 'timeout', 'protocol-error', 'connection-refused']) {
      expect(isReasonCode(code)).toBe(true);
    }
    expect(isReasonCode('no-such-reason')).toBe(false);
    expect(isReasonCode('constructor')).toBe(false);
  });
  test('reasonSentence returns the table sentence', () => {
    expect(reasonSentence('stale-certificate-served')).toBe(REASONS['stale-certificate-served'].sentence);
  });
  test('every reason code the prober sources emit is in the table', () => {
    const dir = path.join(repoRoot, 'src', 'probe');
    const used = new Set<string>();
    for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.ts'))) {
      const text = fs.readFileSync(path.join(dir, file), 'utf8');
      for (const m of text.matchAll(/reason: '([a-z0-9-]+)'/g)) used.add(m[1]!);
      for (const m of text.matchAll(/new ProbeError\('([a-z0-9-]+)'/g)) used.add(m[1]!);
    }
    expect(used.size).toBeGreaterThan(10);
    for (const code of used) expect(isReasonCode(code)).toBe(true);
  });
  test('condition reasons are stable CamelCase', () => {
    expect(conditionReason('stale-certificate-served')).toBe('StaleCertificateServed');
    expect(conditionReason('certificate-expiring-soon')).toBe('CertificateExpiringSoon');
    expect(conditionReason('auth-before-tls')).toBe('AuthBeforeTLS');
  });
});
