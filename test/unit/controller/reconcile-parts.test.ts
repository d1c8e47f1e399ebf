// The pure parts of the reconciler: spec validation, which transitions make Events,
// how cluster objects are observed, and TLS Secret facts from a real certificate.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, test } from '@jest/globals';
import { Reason } from '../../../src/controller/reasons.js';
import { eventFor, observeCertificate, observeDeployment } from '../../../src/controller/reconciler.js';
import { leafCertificateFacts, secretFacts } from '../../../src/controller/tls-secret.js';
import { validateSemantics } from '../../../src/controller/validate.js';
import { relay } from './fixtures.js';

describe('validateSemantics', () => {
  test('accepts the minimal relay', () => {
    expect(validateSemantics(relay())).toEqual([]);
  });

  test('refuses an open relay, plaintext upstream without opt-in, both TLS sources, bad durations', () => {
    const reasons = (r: ReturnType<typeof relay>) => validateSemantics(r).map((p) => p.message);
    expect(reasons(relay({ listeners: { relay: { allowedNetworks: ['0.0.0.0/0'], allowedSenderDomains: ['example.com'] } } }))[0]).toMatch(/open relay/);
    expect(reasons(relay({ upstream: { host: 'u', tls: 'none-insecure' } }))[0]).toMatch(/allowInsecurePlaintext/);
    expect(reasons(relay({ upstream: { host: 'u', tls: 'none-insecure', allowInsecurePlaintext: true } }))).toEqual([]);
    expect(reasons(relay({ tls: { issuerRef: { name: 'x' }, secretName: 'y' } }))[0]).toMatch(/exclusive/);
    expect(reasons(relay({ healthCheck: { interval: 'soon' } }))[0]).toMatch(/spec.healthCheck.interval/);
    expect(reasons(relay({ listeners: { submission: { port: 465 } } }))[0]).toMatch(/same port/);
    expect(validateSemantics(relay({ tls: {} }))[0]!.reason).toBe(Reason.InvalidSpec);
  });
});

describe('eventFor', () => {
  const c = (status: 'True' | 'False' | 'Unknown', reason = 'R') => ({ type: 'X', status, reason, message: 'm', lastTransitionTime: '' });
  test('Ready becoming True is Normal; losing Ready is a Warning; first False is quiet', () => {
    expect(eventFor('Ready', 'False', c('True'))).toEqual({ type: 'Normal' });
    expect(eventFor('Ready', 'True', c('False'))).toEqual({ type: 'Warning' });
    expect(eventFor('Ready', undefined, c('False'))).toBeUndefined();
  });
  test('Stalled is a Warning; issuing is not worth an event', () => {
    expect(eventFor('Stalled', 'False', c('True', Reason.SecretNotFound))).toEqual({ type: 'Warning' });
    expect(eventFor('CertificateReady', undefined, c('False', Reason.CertificateIssuing))).toBeUndefined();
    expect(eventFor('CertificateReady', 'True', c('True', Reason.CertificateExpiringSoon))).toEqual({ type: 'Warning' });
  });
});

describe('observing children', () => {
  test('a Certificate Ready condition from an older generation does not count', () => {
    const cert = (observedGeneration: number) => ({
      apiVersion: 'cert-manager.io/v1',
      kind: 'Certificate',
      metadata: { name: 'c', generation: 2 },
      status: { conditions: [{ type: 'Ready', status: 'True', observedGeneration }], renewalTime: '2027-01-01T00:00:00Z' },
    });
    expect(observeCertificate(cert(1)).ready).toBe('Unknown');
    expect(observeCertificate(cert(2))).toMatchObject({ ready: 'True', renewalTime: '2027-01-01T00:00:00Z' });
  });
  test('a Deployment is observed from its status', () => {
    const d = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd', generation: 3 }, status: { observedGeneration: 3, replicas: 2, availableReplicas: 1 } };
    expect(observeDeployment(d)).toEqual({ generation: 3, observedGeneration: 3, replicas: 2, availableReplicas: 1, updatedReplicas: undefined, readyReplicas: undefined });
  });
});

describe('TLS Secret facts', () => {
  test('reads validity and the SHA-256 fingerprint of a real certificate', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'facts-'));
    try {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '30', '-subj', '/CN=smtp.example.com', '-keyout', path.join(dir, 'k.pem'), '-out', path.join(dir, 'c.pem')], { stdio: 'ignore' });
      const pem = fs.readFileSync(path.join(dir, 'c.pem'), 'utf8');
      const der = execFileSync('openssl', ['x509', '-in', path.join(dir, 'c.pem'), '-outform', 'DER']);
      const expected = execFileSync('openssl', ['dgst', '-sha256', '-r'], { input: der }).toString().split(' ')[0];
      const facts = leafCertificateFacts(pem);
      expect(facts.fingerprint).toBe(expected);
      const days = (Date.parse(facts.notAfter) - Date.parse(facts.notBefore)) / 86_400_000;
      expect(Math.round(days)).toBe(30);
      const fromSecret = secretFacts('7', { 'tls.crt': Buffer.from(pem).toString('base64'), 'tls.key': 'eA==' });
      expect(fromSecret).toMatchObject({ resourceVersion: '7', keys: ['tls.crt', 'tls.key'], tls: facts });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
  test('explains a tls.crt that holds no certificate', () => {
    const facts = secretFacts('1', { 'tls.crt': Buffer.from('not a cert').toString('base64') });
    expect(facts.tls).toBeUndefined();
    expect(facts.tlsError).toMatch(/no PEM certificate/);
  });
});
