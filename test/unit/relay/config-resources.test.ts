// relay.json fields of the relay's resource limits: DATA slots, DKIM spill, upstream fairness.
import { describe, expect, test } from '@jest/globals';
import { resolveLimits } from '../../../src/common/relay-config.js';
import { DKIM_MEMORY_BUDGET, validateRelayConfig } from '../../../src/relay/config.js';

function base(): Record<string, any> {
  return {
    hostname: 'smtp.example.com',
    listeners: [{ name: 'submission', port: 587, mode: 'starttls' }],
    tls: { dir: '/etc/smtp-relay/tls' },
    usersDir: '/etc/smtp-relay/users',
    upstream: { host: 'mail.example.net', port: 587, tls: 'starttls' },
    policy: { allowedSenderDomains: ['example.com'], maxMessageBytes: 1048576, maxRecipients: 50 },
    limits: { maxConnections: 200, socketTimeoutMs: 60000, closeTimeoutMs: 30000, authFailuresPerMinute: 5 },
    dkim: { selector: 's1', domain: 'example.com', keyDir: '/etc/smtp-relay/dkim' },
    metricsPort: 9090,
  };
}

describe('resource limits in relay.json', () => {
  test('the fields are read, spoolDir too', () => {
    const c = base();
    Object.assign(c.limits, { maxConcurrentData: 8, dkimSpillBytes: 2 * 1024 * 1024, upstreamPerUserConcurrency: 3, upstreamAcquireTimeoutMs: 5000 });
    c.spoolDir = '/var/spool/smtp-relay';
    const cfg = validateRelayConfig(c);
    expect(resolveLimits(cfg)).toMatchObject({ maxConcurrentData: 8, dkimSpillBytes: 2 * 1024 * 1024, upstreamPerUserConcurrency: 3, upstreamAcquireTimeoutMs: 5000 });
    expect(cfg.spoolDir).toBe('/var/spool/smtp-relay');
  });

  test('the defaults fit the memory budget: 20 DATA slots x 1 MiB with the default pool of 10', () => {
    const limits = resolveLimits(validateRelayConfig(base()));
    expect(limits).toMatchObject({ maxConcurrentData: 20, dkimSpillBytes: 1024 * 1024, upstreamPerUserConcurrency: 5, upstreamAcquireTimeoutMs: 10_000 });
    expect(limits.maxConcurrentData * limits.dkimSpillBytes).toBeLessThanOrEqual(DKIM_MEMORY_BUDGET);
  });

  test.each([
    [(c: Record<string, any>) => (c.limits.maxConcurrentData = 0), /config\.limits\.maxConcurrentData must be an integer/],
    [(c: Record<string, any>) => (c.limits.dkimSpillBytes = 1000), /config\.limits\.dkimSpillBytes must be an integer/],
    [(c: Record<string, any>) => (c.limits.upstreamPerUserConcurrency = 1.5), /config\.limits\.upstreamPerUserConcurrency must be an integer/],
    [(c: Record<string, any>) => (c.limits.upstreamAcquireTimeoutMs = '10s'), /config\.limits\.upstreamAcquireTimeoutMs must be an integer/],
    [(c: Record<string, any>) => (c.spoolDir = ''), /config\.spoolDir must be a non-empty string/],
    [(c: Record<string, any>) => Object.assign(c.limits, { maxConcurrentData: 200, dkimSpillBytes: 1024 * 1024 }), /config\.limits\.maxConcurrentData x config\.limits\.dkimSpillBytes \(200 x 1048576\) exceeds/],
  ])('refused with the field named (%#)', (mutate, message) => {
    const c = base();
    mutate(c);
    expect(() => validateRelayConfig(c)).toThrow(message);
  });

  test('without DKIM nothing is held in memory, so the product is not limited', () => {
    const c = base();
    delete c.dkim;
    Object.assign(c.limits, { maxConcurrentData: 200, dkimSpillBytes: 1024 * 1024 });
    expect(resolveLimits(validateRelayConfig(c)).maxConcurrentData).toBe(200);
  });
});
