// relay.json `queue` (durable mode): validated with messages that name the field.
import { describe, expect, test } from '@jest/globals';
import { validateRelayConfig } from '../../../../src/relay/config.js';

function base(queue?: unknown): Record<string, unknown> {
  return {
    hostname: 'smtp.example.com',
    listeners: [{ name: 'submission', port: 587, mode: 'starttls' }],
    tls: { dir: '/etc/smtp-relay/tls' },
    upstream: { host: 'mail.example.net', port: 587, tls: 'starttls' },
    policy: { allowedSenderDomains: ['example.com'], maxMessageBytes: 1048576, maxRecipients: 50 },
    limits: { maxConnections: 100, socketTimeoutMs: 60000, closeTimeoutMs: 30000, authFailuresPerMinute: 5 },
    metricsPort: 9090,
    ...(queue === undefined ? {} : { queue }),
  };
}

const good = { dir: '/var/lib/smtp-relay/queue', maxAgeMs: 5 * 86_400_000, minBackoffMs: 300_000, maxBackoffMs: 4_000_000 };

describe('config.queue', () => {
  test('absent: pass-through', () => {
    expect(validateRelayConfig(base()).queue).toBeUndefined();
  });
  test('the Postfix-like defaults pass', () => {
    expect(validateRelayConfig(base(good)).queue).toEqual(good);
  });
  test.each([
    [{ ...good, dir: '' }, /config\.queue\.dir must be a non-empty string/],
    [{ ...good, maxAgeMs: 10 }, /config\.queue\.maxAgeMs must be an integer/],
    [{ ...good, minBackoffMs: 'soon' }, /config\.queue\.minBackoffMs/],
    [{ ...good, maxBackoffMs: 1000, minBackoffMs: 2000 }, /config\.queue\.maxBackoffMs \(1000\) must not be below config\.queue\.minBackoffMs \(2000\)/],
    ['yes', /config\.queue must be an object/],
  ])('refused: %j', (queue, message) => {
    expect(() => validateRelayConfig(base(queue))).toThrow(message);
  });
});
