import { describe, expect, test } from '@jest/globals';
import { parseRelayArgs, UsageError } from '../../../src/relay/args.js';
import { applyArgOverrides, ConfigError, validateRelayConfig } from '../../../src/relay/config.js';

function base(): Record<string, unknown> {
  return {
    hostname: 'smtp.example.com',
    listeners: [
      { name: 'submission', port: 587, mode: 'starttls' },
      { name: 'relay', port: 2525, mode: 'starttls', allowedNetworks: ['10.0.0.0/8'], allowedSenderDomains: ['Example.com'] },
    ],
    tls: { dir: '/etc/smtp-relay/tls', minVersion: 'TLSv1.2', profile: 'intermediate' },
    usersDir: '/etc/smtp-relay/users',
    upstream: { host: 'mail.example.net', port: 587, tls: 'starttls' },
    policy: { allowedSenderDomains: ['example.com'], maxMessageBytes: 1048576, maxRecipients: 50, rateLimit: { messagesPerMinute: 30 } },
    limits: { maxConnections: 100, socketTimeoutMs: 60000, closeTimeoutMs: 30000, authFailuresPerMinute: 5 },
    metricsPort: 9090,
  };
}

describe('validateRelayConfig', () => {
  test('no usersDir is accepted (auth is optional in the API; submission then accepts nobody)', () => {
    const c = base();
    delete c.usersDir;
    expect(validateRelayConfig(c).usersDir).toBeUndefined();
  });
  test('a good config passes; domains are lower-cased; burst defaults to the rate', () => {
    const c = validateRelayConfig(base());
    expect(c.listeners[1]?.allowedSenderDomains).toEqual(['example.com']);
    expect(c.policy.rateLimit).toEqual({ messagesPerMinute: 30, burst: 30 });
  });
  test.each([
    [(c: Record<string, any>) => (c.listeners[1].allowedNetworks = ['0.0.0.0/0']), /open relay/],
    [(c: Record<string, any>) => (c.listeners[1].allowedNetworks = ['::/0']), /open relay/],
    [(c: Record<string, any>) => (c.listeners[1].allowedSenderDomains = []), /never an open relay/],
    [(c: Record<string, any>) => (c.listeners[1].allowedNetworks = ['10.0.0.0']), /not a CIDR/],
    [(c: Record<string, any>) => (c.upstream.tls = 'maybe'), /config\.upstream\.tls must be one of/],
    [(c: Record<string, any>) => (c.tls.profile = 'old'), /config\.tls\.profile/],
    [(c: Record<string, any>) => (c.listeners = []), /listeners must be a non-empty array/],
    [(c: Record<string, any>) => (c.limits.maxConnections = 0), /config\.limits\.maxConnections/],
    [(c: Record<string, any>) => (c.tls.internal = { serverNames: ['a.b.svc'] }), /config\.tls\.internal\.dir must be a non-empty string/],
    [(c: Record<string, any>) => (c.tls.internal = { dir: '/i', serverNames: [] }), /config\.tls\.internal\.serverNames must list at least one name/],
    [(c: Record<string, any>) => (c.tls.internal = { dir: '/i', serverNames: ['bad name'] }), /config\.tls\.internal\.serverNames\[0\] 'bad name' is not a domain name/],
    [(c: Record<string, any>) => (c.tls.internal = { dir: '/i', serverNames: ['smtp.example.com'] }), /config\.tls\.internal\.serverNames must not contain config\.hostname/],
  ])('bad input %#: a clear error', (mutate, message) => {
    const c = base();
    mutate(c as Record<string, any>);
    expect(() => validateRelayConfig(c)).toThrow(ConfigError);
    expect(() => validateRelayConfig(c)).toThrow(message);
  });
});

describe('validateRelayConfig: tls.internal', () => {
  test('the in-cluster key pair and its SNI names pass through, lower-cased and de-duplicated; absent stays absent', () => {
    const c = base();
    (c.tls as Record<string, unknown>).internal = { dir: '/etc/smtp-relay/internal-tls', serverNames: ['Outbound.mail.svc', 'outbound.mail.svc', 'outbound'] };
    expect(validateRelayConfig(c).tls.internal).toEqual({ dir: '/etc/smtp-relay/internal-tls', serverNames: ['outbound.mail.svc', 'outbound'] });
    expect(validateRelayConfig(base()).tls.internal).toBeUndefined();
  });
});

describe('relay flags', () => {
  test('defaults to the mounted config path', () => {
    expect(parseRelayArgs([]).configPath).toBe('/etc/smtp-relay/config/relay.json');
  });
  test('dir overrides apply to the config', () => {
    const args = parseRelayArgs(['--config', '/x.json', '--tls-dir=/t', '--users-dir', '/u', '--metrics-port', '0']);
    const c = applyArgOverrides(validateRelayConfig(base()), args);
    expect(c.tls.dir).toBe('/t');
    expect(c.usersDir).toBe('/u');
    expect(c.metricsPort).toBe(0);
  });
  test('unknown flag and missing value are usage errors', () => {
    expect(() => parseRelayArgs(['--nope'])).toThrow(UsageError);
    expect(() => parseRelayArgs(['--config'])).toThrow(/needs a value/);
    expect(() => parseRelayArgs(['--metrics-port', 'x'])).toThrow(/port number/);
  });
});
