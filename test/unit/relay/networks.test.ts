// The one allow-list matcher of the relay (relay listener allowedNetworks, PROXY
// trustedProxies) and the CIDR parser that feeds it.
import { describe, expect, test } from '@jest/globals';
import { ConfigError, parseCidr, parseNetworks, validateRelayConfig } from '../../../src/relay/config.js';
import { clientIp, clientKey, createNetworkMatcher, normalizeClientAddress, parseIp } from '../../../src/relay/networks.js';

const matcher = (...cidrs: string[]) => createNetworkMatcher(parseNetworks(cidrs, 'test'));

describe('parseIp / clientIp', () => {
  test.each([
    ['127.0.0.1', 'ipv4', [127, 0, 0, 1]],
    ['::1', 'ipv6', [...Array(15).fill(0), 1]],
    ['2001:db8::ff00:42:8329', 'ipv6', [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0xff, 0x00, 0x00, 0x42, 0x83, 0x29]],
    ['fe80::1%eth0', 'ipv6', [0xfe, 0x80, ...Array(13).fill(0), 1]],
  ])('%s', (text, family, bytes) => {
    expect(parseIp(text)).toEqual({ family, bytes: Uint8Array.from(bytes) });
  });
  test.each(['', 'localhost', '1.2.3', '1.2.3.256', '::ffff:1.2.3', '1::2::3', '12345::1', '[::1]'])('not an address: %j', (text) => {
    expect(parseIp(text)).toBeNull();
  });
  test.each(['::ffff:127.0.0.1', '::ffff:7f00:1', '0:0:0:0:0:ffff:7f00:1', '::FFFF:127.0.0.1', '0:0:0:0:0:ffff:127.0.0.1'])('IPv4-mapped %s is the IPv4 client 127.0.0.1', (text) => {
    expect(clientIp(text)).toEqual({ family: 'ipv4', bytes: Uint8Array.from([127, 0, 0, 1]) });
    expect(normalizeClientAddress(text)).toBe('127.0.0.1');
  });
  test('IPv4-compatible ::127.0.0.1 and NAT64 64:ff9b::7f00:1 stay IPv6 clients', () => {
    expect(clientIp('::127.0.0.1')?.family).toBe('ipv6');
    expect(clientIp('64:ff9b::7f00:1')?.family).toBe('ipv6');
  });
  test('IPv6 text is canonical (RFC 5952)', () => {
    expect(normalizeClientAddress('2001:0DB8:0000:0000:0000:0000:0000:0001')).toBe('2001:db8::1');
    expect(normalizeClientAddress('2001:db8:0:1:0:0:0:1')).toBe('2001:db8:0:1::1');
    expect(normalizeClientAddress('1:0:0:2:0:0:0:3')).toBe('1:0:0:2::3');
    expect(normalizeClientAddress('not-an-ip')).toBe('not-an-ip');
  });
});

describe('clientKey (what per-client limits count under)', () => {
  test('an IPv4 client is its address, mapped or not', () => {
    expect(clientKey('192.0.2.7')).toBe('192.0.2.7');
    expect(clientKey('::ffff:192.0.2.7')).toBe('192.0.2.7');
  });
  test('an IPv6 client is its /64: every address of one /64 is one client', () => {
    expect(clientKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(clientKey('2001:db8:1:2:ffff:ffff:ffff:ffff')).toBe('2001:db8:1:2::/64');
    expect(clientKey('2001:db8:1:3::1')).toBe('2001:db8:1:3::/64');
  });
});

describe('createNetworkMatcher: an IPv4 client meets IPv4 entries only, an IPv6 client IPv6 entries only', () => {
  test('IPv4 entries', () => {
    const m = matcher('127.0.0.0/8', '10.1.0.0/16');
    for (const a of ['127.0.0.1', '127.255.255.254', '10.1.200.3', '::ffff:127.0.0.1', '::ffff:7f00:1', '0:0:0:0:0:ffff:a01:c803']) expect([a, m(a)]).toEqual([a, true]);
    for (const a of ['128.0.0.1', '10.2.0.1', '::1', '::127.0.0.1', 'fd00::1', 'garbage', '']) expect([a, m(a)]).toEqual([a, false]);
  });
  test('an IPv6 entry never matches an IPv4 client (the open-relay bug: net.BlockList did)', () => {
    const m = matcher('fd00::/8', '2001:db8::/32', '::1/128');
    for (const a of ['127.0.0.1', '8.8.8.8', '::ffff:127.0.0.1', '::ffff:7f00:1', '10.0.0.1']) expect([a, m(a)]).toEqual([a, false]);
    for (const a of ['fd12:3456::1', '2001:db8:ffff::1', '::1']) expect([a, m(a)]).toEqual([a, true]);
    expect(m('2001:db9::1')).toBe(false);
  });
  test('prefix boundaries inside a byte', () => {
    const m = matcher('192.168.4.0/22', '2001:db8:8000::/33');
    expect(m('192.168.7.255')).toBe(true);
    expect(m('192.168.8.0')).toBe(false);
    expect(m('192.168.3.255')).toBe(false);
    expect(m('2001:db8:8000::1')).toBe(true);
    expect(m('2001:db8:7fff::1')).toBe(false);
  });
  test('an empty list matches nothing', () => {
    expect(createNetworkMatcher([])('127.0.0.1')).toBe(false);
  });
});

describe('parseCidr', () => {
  test('accepts IPv4 and IPv6 networks, ::1/128 included', () => {
    expect(parseCidr('10.0.0.0/8', 'p')).toMatchObject({ family: 'ipv4', prefix: 8 });
    expect(parseCidr('fd00::/8', 'p')).toMatchObject({ family: 'ipv6', prefix: 8 });
    expect(parseCidr('::1/128', 'p')).toMatchObject({ family: 'ipv6', prefix: 128 });
    expect(parseCidr('2001:db8::/32', 'p')).toMatchObject({ family: 'ipv6', prefix: 32 });
  });
  test.each([
    ['::/32', 'IPv4-mapped'],
    ['::/80', 'IPv4-mapped'],
    ['::/96', 'IPv4-compatible'],
    ['0:0:0:0:0:ffff::/96', 'IPv4-mapped'],
    ['::ffff:0:0/96', 'IPv4-mapped'],
    ['::ffff:10.0.0.0/104', 'IPv4-mapped'],
    ['::ffff:7f00:1/128', 'IPv4-mapped'],
    ['::10.0.0.0/104', 'IPv4-compatible'],
  ])('refuses %s: it overlaps the %s range, with the reason', (cidr, range) => {
    expect(() => parseCidr(cidr, 'config.listeners[2].allowedNetworks[0]')).toThrow(ConfigError);
    expect(() => parseCidr(cidr, 'config.listeners[2].allowedNetworks[0]')).toThrow(
      new RegExp(`^config\\.listeners\\[2\\]\\.allowedNetworks\\[0\\] '${cidr.replace(/[.]/g, '\\.')}' overlaps .*${range}.*IPv4 clients are matched against IPv4 entries only`),
    );
  });
  test('::/127 and ::1/128 (only :: and ::1, real IPv6 addresses) are accepted', () => {
    expect(parseCidr('::/127', 'p').prefix).toBe(127);
    expect(parseCidr('::1/128', 'p').prefix).toBe(128);
  });
  test.each([
    ['0.0.0.0/0', /open relay/],
    ['::/0', /open relay/],
    ['10.0.0.0', /not a CIDR/],
    ['10.0.0.0/33', /longer than 32/],
    ['fd00::/129', /longer than 128/],
    ['fe80::1%eth0/64', /not a CIDR/],
    ['example.com/8', /not a CIDR/],
    ['10.0.0.0/8/8', /not a CIDR/],
  ])('refuses %s', (cidr, message) => {
    expect(() => parseCidr(cidr, 'p')).toThrow(message);
  });
});

describe('validateRelayConfig: connection-side fields', () => {
  function base(): Record<string, any> {
    return {
      hostname: 'smtp.example.com',
      listeners: [
        { name: 'submission', port: 587, mode: 'starttls', proxyProtocol: { trustedProxies: ['10.0.0.0/24', 'fd00::/64'] } },
        { name: 'relay', port: 2525, mode: 'starttls', allowedNetworks: ['10.0.0.0/8'], allowedSenderDomains: ['example.com'] },
      ],
      tls: { dir: '/tls' },
      upstream: { host: 'mail.example.net', port: 587, tls: 'starttls' },
      policy: { allowedSenderDomains: ['example.com'], maxMessageBytes: 1048576, maxRecipients: 50 },
      limits: { maxConnections: 100, socketTimeoutMs: 60000, closeTimeoutMs: 30000, authFailuresPerMinute: 5, maxConnectionsPerClient: 3, connectionRatePerMinute: 30, preAuthCommands: 15, preTlsTimeoutMs: 5000, preAuthTimeoutMs: 10000 },
      metricsPort: 9090,
    };
  }
  test('a good config keeps every field', () => {
    const c = validateRelayConfig(base());
    expect(c.listeners[0]?.proxyProtocol).toEqual({ trustedProxies: ['10.0.0.0/24', 'fd00::/64'] });
    expect(c.limits).toMatchObject({ maxConnectionsPerClient: 3, connectionRatePerMinute: 30, preAuthCommands: 15, preTlsTimeoutMs: 5000, preAuthTimeoutMs: 10000 });
  });
  test.each([
    [(c: Record<string, any>) => (c.listeners[1].allowedNetworks = ['::/32']), /config\.listeners\[1\]\.allowedNetworks\[0\] '::\/32' overlaps/],
    [(c: Record<string, any>) => (c.listeners[0].proxyProtocol = { trustedProxies: ['::ffff:0:0/96'] }), /config\.listeners\[0\]\.proxyProtocol\.trustedProxies\[0\] .* overlaps/],
    [(c: Record<string, any>) => (c.listeners[0].proxyProtocol = { trustedProxies: [] }), /config\.listeners\[0\]\.proxyProtocol\.trustedProxies must list at least one/],
    [(c: Record<string, any>) => (c.listeners[0].proxyProtocol = { trustedProxies: ['0.0.0.0/0'] }), /trustedProxies\[0\] .* allows every address/],
    [(c: Record<string, any>) => (c.listeners[0].proxyProtocol = {}), /config\.listeners\[0\]\.proxyProtocol\.trustedProxies must be an array/],
    [(c: Record<string, any>) => (c.listeners[1].proxyProtocol = { trustedProxies: ['10.0.0.0/24'] }), /config\.listeners\[1\]\.proxyProtocol is only for the submission and submissions listeners/],
    [(c: Record<string, any>) => (c.limits.maxConnectionsPerClient = 0), /config\.limits\.maxConnectionsPerClient/],
    [(c: Record<string, any>) => (c.limits.connectionRatePerMinute = 1.5), /config\.limits\.connectionRatePerMinute/],
    [(c: Record<string, any>) => (c.limits.preAuthCommands = '20'), /config\.limits\.preAuthCommands/],
    [(c: Record<string, any>) => (c.limits.preTlsTimeoutMs = 10), /config\.limits\.preTlsTimeoutMs/],
    [(c: Record<string, any>) => (c.limits.preAuthTimeoutMs = -1), /config\.limits\.preAuthTimeoutMs/],
  ])('bad input %#: an error naming the field', (mutate, message) => {
    const c = base();
    mutate(c);
    expect(() => validateRelayConfig(c)).toThrow(message);
  });
});
