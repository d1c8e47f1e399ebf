// relay.json validation of the fields issue 11 items 4 and 6 read: policy.senderLogins and
// limits.authFailureWindowMs. Every error names the field.
import { describe, expect, test } from '@jest/globals';
import { resolveLimits } from '../../../src/common/relay-config.js';
import { ConfigError, validateRelayConfig } from '../../../src/relay/config.js';

function base(): Record<string, any> {
  return {
    hostname: 'smtp.example.com',
    listeners: [{ name: 'submission', port: 587, mode: 'starttls' }],
    tls: { dir: '/etc/smtp-relay/tls' },
    usersDir: '/etc/smtp-relay/users',
    upstream: { host: 'mail.example.net', port: 587, tls: 'starttls' },
    policy: { allowedSenderDomains: ['example.com'], maxMessageBytes: 1048576, maxRecipients: 50 },
    limits: { maxConnections: 100, socketTimeoutMs: 60000, closeTimeoutMs: 30000, authFailuresPerMinute: 5 },
    metricsPort: 9090,
  };
}

describe('policy.senderLogins', () => {
  test('addresses and @domains are accepted and lower-cased; absent stays absent', () => {
    const c = base();
    c.policy.senderLogins = { app1: ['App1@Example.com', '@Billing.example.com'] };
    expect(validateRelayConfig(c).policy.senderLogins).toEqual({ app1: ['app1@example.com', '@billing.example.com'] });
    expect(validateRelayConfig(base()).policy.senderLogins).toBeUndefined();
  });

  test.each([
    [['not-an-address'], /config\.policy\.senderLogins\.app1\[0\] 'not-an-address' is not a mailbox/],
    [['@not a domain'], /config\.policy\.senderLogins\.app1\[0\] '@not a domain' is not @ followed by a domain/],
    [['"ceo"@example.com'], /senderLogins\.app1\[0\]/],
    [['a b@example.com'], /senderLogins\.app1\[0\]/],
    [['x@example'], /senderLogins\.app1\[0\]/],
    [[], /config\.policy\.senderLogins\.app1 must list at least one sender/],
    ['app1@example.com', /config\.policy\.senderLogins\.app1 must be an array of strings/],
  ])('bad senders %j: a clear error', (list, message) => {
    const c = base();
    c.policy.senderLogins = { app1: list };
    expect(() => validateRelayConfig(c)).toThrow(ConfigError);
    expect(() => validateRelayConfig(c)).toThrow(message);
  });

  test('a key that is not a user name, or a non-object, is refused', () => {
    const c = base();
    c.policy.senderLogins = { 'bad user': ['a@example.com'] };
    expect(() => validateRelayConfig(c)).toThrow(/config\.policy\.senderLogins has 'bad user'/);
    c.policy.senderLogins = ['a@example.com'];
    expect(() => validateRelayConfig(c)).toThrow(/config\.policy\.senderLogins must be an object/);
  });
});

describe('limits.authFailureWindowMs', () => {
  test('optional: resolveLimits fills one minute; a value is kept', () => {
    expect(resolveLimits(validateRelayConfig(base())).authFailureWindowMs).toBe(60_000);
    const c = base();
    c.limits.authFailureWindowMs = 5_000;
    expect(resolveLimits(validateRelayConfig(c)).authFailureWindowMs).toBe(5_000);
  });
  test.each([0, 999, 1.5, '60000'])('%j is refused, naming the field', (v) => {
    const c = base();
    c.limits.authFailureWindowMs = v;
    expect(() => validateRelayConfig(c)).toThrow(/config\.limits\.authFailureWindowMs must be an integer/);
  });
});

test('a user named __proto__ is an ordinary entry, not a prototype', () => {
  const c = base();
  c.policy.senderLogins = JSON.parse('{"__proto__": ["p@example.com"]}');
  expect(Object.entries(validateRelayConfig(c).policy.senderLogins ?? {})).toEqual([['__proto__', ['p@example.com']]]);
});
