import { describe, expect, test } from '@jest/globals';
import { parseDuration, parseProbeArgs, parseTarget } from '../../../src/probe/args.js';

function ok(argv: string[]) {
  const r = parseProbeArgs(argv);
  if (r.kind !== 'ok') throw new Error(`expected ok, got ${JSON.stringify(r)}`);
  return r.args;
}
function error(argv: string[]): string {
  const r = parseProbeArgs(argv);
  if (r.kind !== 'error') throw new Error(`expected an error, got ${JSON.stringify(r)}`);
  return r.message;
}

describe('probe arguments', () => {
  test('full command line', () => {
    const a = ok(['mail.example.org:587', '--mode', 'starttls', '--servername', 'smtp.example.org', '--ca', 'a.pem', '--ca=b.pem',
      '--expected-fingerprint', 'AB:'.repeat(31) + 'AB', '--expiry-warning', '21d', '--deep', '--json', '--timeout', '3000']);
    expect(a).toEqual({ host: 'mail.example.org', port: 587, mode: 'starttls', servername: 'smtp.example.org', caFiles: ['a.pem', 'b.pem'],
      expectedFingerprint: 'ab'.repeat(32), expiryWarningMs: 21 * 86_400_000, deep: true, json: true, timeoutMs: 3000 });
  });
  test('defaults: implicit on 465, starttls elsewhere, 14 days, 10 s', () => {
    expect(ok(['h:465']).mode).toBe('implicit');
    expect(ok(['h:587']).mode).toBe('starttls');
    expect(ok(['h:25']).expiryWarningMs).toBe(14 * 86_400_000);
    expect(ok(['h:25']).timeoutMs).toBe(10_000);
  });
  test('IPv6 targets need brackets', () => {
    expect(parseTarget('[::1]:465')).toEqual({ host: '::1', port: 465 });
    expect(parseTarget('::1:465')).toBeUndefined();
    expect(parseTarget('host:0')).toBeUndefined();
    expect(parseTarget('host:70000')).toBeUndefined();
  });
  test('bad input gets a clear message', () => {
    expect(error([])).toMatch(/missing HOST:PORT/);
    expect(error(['h'])).toMatch(/not HOST:PORT/);
    expect(error(['h:25', '--mode', 'tls'])).toMatch(/--mode must be starttls or implicit/);
    expect(error(['h:25', '--expected-fingerprint', 'abc'])).toMatch(/SHA-256/);
    expect(error(['h:25', '--expiry-warning', 'soon'])).toMatch(/duration/);
    expect(error(['h:25', '--timeout', '-5'])).toMatch(/--timeout/);
    expect(error(['h:25', '--frobnicate'])).toMatch(/unknown option/);
    expect(error(['h:25', 'h:26'])).toMatch(/unexpected argument/);
  });
  test('help', () => {
    expect(parseProbeArgs(['--help']).kind).toBe('help');
  });
  test('durations', () => {
    expect(parseDuration('14d')).toBe(14 * 86_400_000);
    expect(parseDuration('336h')).toBe(14 * 86_400_000);
    expect(parseDuration('2h30m')).toBe(9_000_000);
    expect(parseDuration('7')).toBe(7 * 86_400_000);
    expect(parseDuration('1x')).toBeUndefined();
    expect(parseDuration('1d junk')).toBeUndefined();
  });
});
