// Certificate checks on real certificates made by openssl (no servers).
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { X509Certificate } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DAY_MS, certificateInfo, checkExpiry, checkFingerprint, checkHostname, checkKeyAndSignature, evaluateTrust, fingerprintOf, normalizeFingerprint } from '../../../src/probe/certificates.js';
import { createTestPki, type TestPki } from '../../helpers/broken-smtp/certs.js';

let pki: TestPki;
const x = (pem: string) => new X509Certificate(pem);

beforeAll(() => {
  pki = createTestPki();
});
afterAll(() => pki.cleanup());

describe('expiry over the chain', () => {
  test('valid chain passes, and the soonest expiry decides the warning', () => {
    const chain = [x(pki.good.cert), x(pki.intermediate.cert)];
    expect(checkExpiry(chain, new Date(), 14 * DAY_MS).result).toBe('pass');
    const r = checkExpiry(chain, new Date(), 100 * DAY_MS);
    expect(r).toMatchObject({ result: 'warn', reason: 'certificate-expiring-soon' });
  });
  test('expired leaf fails', () => {
    expect(checkExpiry([x(pki.expired.cert)], new Date(), 14 * DAY_MS)).toMatchObject({ result: 'fail', reason: 'certificate-expired' });
  });
  test('not yet valid fails', () => {
    expect(checkExpiry([x(pki.notYetValid.cert)], new Date(), 14 * DAY_MS)).toMatchObject({ result: 'fail', reason: 'certificate-not-yet-valid' });
  });
  test('an expired intermediate fails even when the leaf is fine', () => {
    const later = new Date(Date.now() + 2000 * DAY_MS); // intermediate ends at +1800 days
    expect(checkExpiry([x(pki.intermediate.cert)], later, 14 * DAY_MS)).toMatchObject({ result: 'fail', reason: 'certificate-expired' });
  });
});

describe('trust walk', () => {
  test('leaf + intermediate to a trusted root', () => {
    expect(evaluateTrust([x(pki.good.cert), x(pki.intermediate.cert)], [x(pki.root.cert)]).trusted).toBe(true);
  });
  test('missing intermediate is untrusted, and says so', () => {
    const v = evaluateTrust([x(pki.good.cert)], [x(pki.root.cert)]);
    expect(v).toMatchObject({ trusted: false, problem: 'unknown-issuer' });
    expect(v.detail).toMatch(/missing intermediate/);
  });
  test('self-signed leaf is untrusted', () => {
    expect(evaluateTrust([x(pki.selfSigned.cert)], [x(pki.root.cert)])).toMatchObject({ trusted: false, problem: 'self-signed' });
  });
  test('without our root the chain is untrusted', () => {
    expect(evaluateTrust([x(pki.good.cert), x(pki.intermediate.cert)], []).trusted).toBe(false);
  });
  test('an expired certificate is still trusted by the walk: dates are the expiry check\'s job', () => {
    expect(evaluateTrust([x(pki.expired.cert), x(pki.intermediate.cert)], [x(pki.root.cert)]).trusted).toBe(true);
  });
});

describe('hostname, fingerprint, key', () => {
  test('hostname match and mismatch', () => {
    expect(checkHostname('mail.test', x(pki.good.cert)).result).toBe('pass');
    expect(checkHostname('127.0.0.1', x(pki.good.cert)).result).toBe('pass');
    expect(checkHostname('mail.test', x(pki.wrongHost.cert))).toMatchObject({ result: 'fail', reason: 'certificate-host-mismatch' });
  });
  test('fingerprint: lower-case hex without colons; mismatch is a stale certificate', () => {
    const fp = fingerprintOf(x(pki.good.cert));
    expect(fp).toMatch(/^[0-9a-f]{64}$/);
    expect(checkFingerprint(x(pki.good.cert), fp)?.result).toBe('pass');
    expect(checkFingerprint(x(pki.good.cert), fingerprintOf(x(pki.rotated.cert)))).toMatchObject({ result: 'fail', reason: 'stale-certificate-served' });
    expect(checkFingerprint(x(pki.good.cert), undefined)).toBeUndefined();
  });
  test('fingerprint input forms', () => {
    const fp = 'ab'.repeat(32);
    expect(normalizeFingerprint(fp.toUpperCase().match(/../g)!.join(':'))).toBe(fp);
    expect(normalizeFingerprint(`sha256:${fp}`)).toBe(fp);
    expect(normalizeFingerprint('abcd')).toBeUndefined();
  });
  test('key size and signature algorithm', () => {
    const ec = checkKeyAndSignature([x(pki.good.cert), x(pki.intermediate.cert)]);
    expect(ec.every((c) => c.result === 'pass')).toBe(true);
    expect(checkKeyAndSignature([x(pki.rsa.cert)])[0]).toMatchObject({ result: 'pass', message: 'rsa 2048 bits' });
  });
});

describe('a certificate with an empty subject', () => {
  // cert-manager issues one when a Certificate has dnsNames and no commonName (the in-cluster
  // certificate of spec.tls.internalCertificate): RFC 5280 allows it, the names are in the SAN.
  test('is described and checked by its SAN, not a crash', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'empty-subject-'));
    try {
      execFileSync('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'k.pem'], { cwd: dir, stdio: 'ignore' });
      execFileSync('openssl', ['req', '-x509', '-new', '-key', 'k.pem', '-subj', '/', '-addext', 'subjectAltName=critical,DNS:mail.team-a.svc', '-days', '1', '-out', 'c.pem'], { cwd: dir, stdio: 'ignore' });
      const cert = x(fs.readFileSync(path.join(dir, 'c.pem'), 'utf8'));
      expect(cert.subject).toBeUndefined();
      expect(certificateInfo(cert)).toMatchObject({ subject: '', subjectAltName: 'DNS:mail.team-a.svc' });
      expect(checkHostname('mail.team-a.svc', cert).result).toBe('pass');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
