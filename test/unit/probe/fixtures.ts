// Hand-built results for the pure renderers and mappers.
import type { CheckResult, DeepScanResult, ProbeResult } from '../../../src/probe/types.js';

export function probeResult(checks: CheckResult[], over: Partial<ProbeResult> = {}): ProbeResult {
  return {
    target: { host: 'relay.example.org', port: 587, mode: 'starttls', servername: 'smtp.example.org' },
    startedAt: '2026-11-28T12:00:00.000Z',
    latencyMs: 42,
    handshakes: 1,
    smtp: { banner: 'smtp.example.org ESMTP', extensionsBeforeTls: ['STARTTLS'], extensionsAfterTls: ['AUTH PLAIN'] },
    tls: {
      protocol: 'TLSv1.3',
      cipher: 'TLS_AES_256_GCM_SHA384',
      group: 'X25519MLKEM768',
      pq: true,
      chain: [{ subject: 'CN=smtp.example.org', issuer: 'CN=Example CA', notBefore: '2026-11-01T00:00:00.000Z', notAfter: '2027-01-30T00:00:00.000Z', fingerprint: 'ab'.repeat(32), keyType: 'ec', keyBits: 256, signatureAlgorithm: 'ecdsa-with-SHA256' }],
      hostnameVerified: true,
      chainVerified: true,
    },
    checks,
    verdict: checks.some((c) => c.result === 'fail') ? 'failing' : checks.some((c) => c.result === 'warn') ? 'warning' : 'healthy',
    ...over,
  };
}

export const PASSING: CheckResult[] = [
  { check: 'tls-mode', result: 'pass', message: 'STARTTLS offered and accepted' },
  { check: 'auth-before-tls', result: 'pass', message: 'refused (530)' },
  { check: 'certificate-expiry', result: 'pass', message: 'chain valid' },
];

export function deepResult(checks: CheckResult[]): DeepScanResult {
  const refused = { outcome: 'refused' as const, detail: 'alert 70' };
  const accepted = { outcome: 'accepted' as const, detail: 'ok' };
  return {
    target: { host: 'relay.example.org', port: 587, mode: 'starttls' },
    startedAt: '2026-11-28T11:00:00.000Z',
    durationMs: 80,
    handshakes: 12,
    protocols: { TLSv1: refused, 'TLSv1.1': refused, 'TLSv1.2': accepted, 'TLSv1.3': accepted },
    cipherClasses: { 'static-rsa': refused },
    groups: { X25519: accepted },
    checks,
    verdict: checks.some((c) => c.result === 'fail') ? 'failing' : 'healthy',
  };
}
