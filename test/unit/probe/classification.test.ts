// Pure classification: handshake errors (server vs local), trust reconciliation,
// and the deep-scan verdicts built from handshake attempts.
import { describe, expect, test } from '@jest/globals';
import { classifyHandshakeError, shortSslMessage } from '../../../src/probe/connection.js';
import { cipherChecks, groupCheck, protocolChecks } from '../../../src/probe/deep-scan.js';
import { reconcileTrust } from '../../../src/probe/fast-probe.js';
import type { HandshakeAttempt } from '../../../src/probe/types.js';

const err = (code: string, message: string) => Object.assign(new Error(message), { code });
const accepted: HandshakeAttempt = { outcome: 'accepted', detail: 'ok', protocol: 'TLSv1', cipher: 'TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA' };
const refused: HandshakeAttempt = { outcome: 'refused', detail: 'alert 70' };
const local: HandshakeAttempt = { outcome: 'local', detail: 'no protocols available' };

describe('handshake error classification', () => {
  test('a server alert is the server refusing', () => {
    const e = classifyHandshakeError(err('ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION', '40:error:0A00042E:SSL routines:ssl3_read_bytes:tlsv1 alert protocol version:../ssl/record/rec_layer_s3.c:918:SSL alert number 70\n'));
    expect(e.side).toBe('server');
    expect(e.message).toContain('tlsv1 alert protocol version, alert 70');
  });
  test('a hang-up during the handshake is the server refusing', () => {
    expect(classifyHandshakeError(err('ECONNRESET', 'read ECONNRESET')).side).toBe('server');
    expect(classifyHandshakeError(err('', 'Client network socket disconnected before secure TLS connection was established')).side).toBe('server');
  });
  test('our own OpenSSL refusing to offer something is local, never the server', () => {
    expect(classifyHandshakeError(err('ERR_SSL_NO_PROTOCOLS_AVAILABLE', 'no protocols available')).side).toBe('local');
    expect(classifyHandshakeError(err('ERR_SSL_NO_CIPHERS_AVAILABLE', 'no ciphers available')).side).toBe('local');
  });
  test('anything else is unknown', () => {
    expect(classifyHandshakeError(err('ERR_SSL_WRONG_VERSION_NUMBER', 'wrong version number')).side).toBe('unknown');
  });
  test('OpenSSL messages are shortened', () => {
    expect(shortSslMessage('x:error:0A000153:SSL routines:ssl3_read_bytes:no renegotiation:../ssl/rec.c:935:\n')).toBe('no renegotiation');
    expect(shortSslMessage('plain message ')).toBe('plain message');
  });
});

describe('trust: our chain walk reconciled with OpenSSL', () => {
  const trusted = { trusted: true, detail: 'ok' };
  const untrusted = { trusted: false, detail: 'missing intermediate', problem: 'unknown-issuer' as const };
  test('agreement stays', () => {
    expect(reconcileTrust(trusted, undefined).trusted).toBe(true);
    expect(reconcileTrust(untrusted, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE')).toMatchObject({ trusted: false, problem: 'unknown-issuer' });
  });
  test('date-only OpenSSL errors do not make a chain untrusted (expiry is its own check)', () => {
    expect(reconcileTrust(trusted, 'CERT_HAS_EXPIRED').trusted).toBe(true);
  });
  test('OpenSSL rejecting what the walk accepted (e.g. an intermediate that is no CA) is a validation failure', () => {
    expect(reconcileTrust(trusted, 'INVALID_CA')).toMatchObject({ trusted: false, problem: 'bad-signature' });
  });
  test('OpenSSL accepting what the walk could not place wins', () => {
    expect(reconcileTrust(untrusted, undefined).trusted).toBe(true);
  });
});

describe('deep-scan verdicts', () => {
  test('legacy protocol accepted fails; refused passes; untestable warns', () => {
    const modern = { 'TLSv1.2': { ...accepted, protocol: 'TLSv1.2' }, 'TLSv1.3': { ...accepted, protocol: 'TLSv1.3' } };
    expect(protocolChecks({ TLSv1: accepted, 'TLSv1.1': refused, ...modern })[0]).toMatchObject({ result: 'fail', reason: 'legacy-protocol-accepted' });
    expect(protocolChecks({ TLSv1: refused, 'TLSv1.1': refused, ...modern }).map((c) => c.result)).toEqual(['pass', 'pass']);
    expect(protocolChecks({ TLSv1: local, 'TLSv1.1': refused, ...modern })[0]?.result).toBe('warn');
  });
  test('TLS 1.3 missing warns; both modern versions missing fails; TLS 1.3 only passes', () => {
    expect(protocolChecks({ TLSv1: refused, 'TLSv1.1': refused, 'TLSv1.2': accepted, 'TLSv1.3': refused })[1]).toMatchObject({ result: 'warn', reason: 'modern-protocol-missing' });
    expect(protocolChecks({ TLSv1: refused, 'TLSv1.1': refused, 'TLSv1.2': refused, 'TLSv1.3': refused })[1]).toMatchObject({ result: 'fail' });
    expect(protocolChecks({ TLSv1: refused, 'TLSv1.1': refused, 'TLSv1.2': refused, 'TLSv1.3': accepted })[1]?.result).toBe('pass');
  });
  test('any weak cipher class accepted fails and names the suite', () => {
    const r = cipherChecks({ 'static-rsa': { outcome: 'accepted', detail: '', cipher: 'TLS_RSA_WITH_AES_128_CBC_SHA' }, ccm8: refused });
    expect(r[0]).toMatchObject({ result: 'fail', reason: 'weak-cipher-accepted' });
    expect(r[0]?.message).toContain('static-rsa (TLS_RSA_WITH_AES_128_CBC_SHA)');
    expect(cipherChecks({ 'static-rsa': refused, ccm8: refused })[0]?.result).toBe('pass');
  });
  test('groups: none of the recommended ones warns; the PQ hybrid is called out', () => {
    expect(groupCheck({ X25519MLKEM768: refused, X25519: refused, 'P-256': refused })).toMatchObject({ result: 'warn', reason: 'weak-key-exchange-group' });
    expect(groupCheck({ X25519MLKEM768: accepted, X25519: accepted }).message).toMatch(/post-quantum/);
  });
});
