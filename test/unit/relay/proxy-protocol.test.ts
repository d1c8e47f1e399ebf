// PROXY protocol v2 header parser (haproxy proxy-protocol.txt, section 2.2).
import { describe, expect, test } from '@jest/globals';
import { parseProxyV2, PROXY_V2_MAX_BYTES, PROXY_V2_SIGNATURE } from '../../../src/relay/proxy-protocol.js';
import { proxyV2Header } from '../../helpers/smtp/proxy-v2.js';

const src = { address: '192.0.2.10', port: 40001 };
const dst = { address: '198.51.100.1', port: 587 };

describe('parseProxyV2', () => {
  test('PROXY TCP4: source and destination, length covers the header only', () => {
    const h = proxyV2Header({ source: src, destination: dst });
    expect(h.length).toBe(28);
    const withData = Buffer.concat([h, Buffer.from('EHLO x\r\n')]);
    expect(parseProxyV2(withData)).toEqual({ kind: 'proxy', length: 28, source: src, destination: dst });
  });
  test('PROXY TCP6: addresses in canonical text; an IPv4-mapped source is the IPv4 client', () => {
    const h = proxyV2Header({ source: { address: '2001:db8::7', port: 1 }, destination: { address: '2001:db8::1', port: 465 } });
    expect(parseProxyV2(h)).toEqual({ kind: 'proxy', length: 52, source: { address: '2001:db8::7', port: 1 }, destination: { address: '2001:db8::1', port: 465 } });
    const mapped = proxyV2Header({ source: { address: '::ffff:127.0.0.5', port: 2 }, destination: { address: '::1', port: 587 } });
    expect(parseProxyV2(mapped)).toMatchObject({ kind: 'proxy', source: { address: '127.0.0.5', port: 2 } });
  });
  test('TLVs after the addresses are skipped (counted in the length)', () => {
    const tlvs = Buffer.from([0x05, 0x00, 0x03, 0x61, 0x62, 0x63]); // PP2_TYPE_UNIQUE_ID "abc"
    const h = proxyV2Header({ source: src, destination: dst, tlvs });
    expect(parseProxyV2(h)).toMatchObject({ kind: 'proxy', length: 34, source: src });
  });
  test('LOCAL (health check): no address, any family', () => {
    expect(parseProxyV2(proxyV2Header({ command: 0 }))).toEqual({ kind: 'local', length: 16 });
    expect(parseProxyV2(proxyV2Header({ command: 0, source: src, destination: dst }))).toEqual({ kind: 'local', length: 28 });
  });
  test('incomplete at every cut of a valid header', () => {
    const h = proxyV2Header({ source: src, destination: dst });
    for (let n = 0; n < h.length; n++) expect([n, parseProxyV2(h.subarray(0, n)).kind]).toEqual([n, 'incomplete']);
  });
  test.each([
    ['a v1 text header', Buffer.from('PROXY TCP4 192.0.2.10 198.51.100.1 40001 587\r\n'), /signature/],
    ['SMTP instead of a header', Buffer.from('EHLO x\r\n'), /signature/],
    ['a signature wrong in its last byte', Buffer.concat([PROXY_V2_SIGNATURE.subarray(0, 11), Buffer.from([0x0b, 0x21, 0x11, 0, 12])]), /signature/],
    ['version 1 in the binary form', proxyV2Header({ version: 1, source: src, destination: dst }), /version 1/],
    ['version 3', proxyV2Header({ version: 3, source: src, destination: dst }), /version 3/],
    ['command 2', proxyV2Header({ command: 2, source: src, destination: dst }), /command 2/],
    ['UDP over IPv4', proxyV2Header({ familyTransport: 0x12, source: src, destination: dst }), /0x12 is not TCP/],
    ['AF_UNIX', proxyV2Header({ familyTransport: 0x31, block: Buffer.alloc(216) }), /0x31 is not TCP/],
    ['PROXY with UNSPEC', proxyV2Header({ familyTransport: 0x00 }), /0x00 is not TCP/],
    ['TCP4 with a short block', proxyV2Header({ familyTransport: 0x11, block: Buffer.alloc(11) }), /shorter than 12/],
    ['TCP6 with a TCP4-sized block', proxyV2Header({ familyTransport: 0x21, source: src, destination: dst }), /shorter than 36/],
    ['a header over the size limit', proxyV2Header({ source: src, destination: dst, tlvs: Buffer.alloc(PROXY_V2_MAX_BYTES) }), /over the 1024-byte limit/],
  ])('invalid: %s', (_name, buf, reason) => {
    const r = parseProxyV2(buf);
    expect(r.kind).toBe('invalid');
    expect(r.kind === 'invalid' && r.reason).toMatch(reason);
  });
  test('an oversized header is refused from its 16 fixed bytes, before its body arrives', () => {
    const fixed = proxyV2Header({ source: src, destination: dst, tlvs: Buffer.alloc(60_000) }).subarray(0, 16);
    expect(parseProxyV2(fixed).kind).toBe('invalid');
  });
});
