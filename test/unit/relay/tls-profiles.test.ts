import { describe, expect, test } from '@jest/globals';
import tls from 'node:tls';
import { effectiveMinVersion, isProfileCipher, nodeCipherList, nodeGroupList, TLS_PROFILES } from '../../../src/common/tls-profiles.js';
import { tlsPolicyOptions } from '../../../src/relay/key-pair.js';

describe('Mozilla 6.0 profiles', () => {
  test('intermediate: TLS 1.2+, ECDHE + AEAD only', () => {
    const p = TLS_PROFILES.intermediate;
    expect(p.minVersion).toBe('TLSv1.2');
    for (const c of p.tls12Ciphers) expect(c).toMatch(/^ECDHE-(ECDSA|RSA)-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)$/);
    expect(p.tls12Ciphers).toHaveLength(p.tls12CiphersIana.length);
    expect(p.serverPreferredOrder).toBe(false);
  });
  test('modern: TLS 1.3 only', () => {
    expect(TLS_PROFILES.modern.tls12Ciphers).toEqual([]);
    expect(effectiveMinVersion('modern', 'TLSv1.2')).toBe('TLSv1.3');
    expect(effectiveMinVersion('intermediate', 'TLSv1.3')).toBe('TLSv1.3');
    expect(effectiveMinVersion('intermediate')).toBe('TLSv1.2');
  });
  test('groups put the PQ hybrid first', () => {
    expect(nodeGroupList('intermediate')).toBe('X25519MLKEM768:X25519:prime256v1:secp384r1');
  });
  test('no static RSA / CBC / SHA-1 cipher is in any list', () => {
    for (const name of ['intermediate', 'modern'] as const) {
      expect(nodeCipherList(name)).not.toMatch(/(^|:)(AES\d+-SHA|.*-CBC-|.*-SHA)(:|$)/);
      expect(isProfileCipher(name, 'AES128-SHA')).toBe(false);
    }
    expect(isProfileCipher('intermediate', 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256')).toBe(true);
  });
  test('Node 24 accepts the policy as a secure context (both profiles)', () => {
    for (const name of ['intermediate', 'modern'] as const) expect(() => tls.createSecureContext(tlsPolicyOptions(name, 'TLSv1.2'))).not.toThrow();
  });
});
