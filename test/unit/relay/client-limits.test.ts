import { describe, expect, test } from '@jest/globals';
import { ClientConnectionLimits } from '../../../src/relay/client-limits.js';

describe('ClientConnectionLimits', () => {
  test('concurrency: the (max+1)th open connection of one client is refused, others are not affected', () => {
    const l = new ClientConnectionLimits(2, 100, () => 0);
    const a = l.admit('192.0.2.1');
    const b = l.admit('::ffff:192.0.2.1'); // the same client, IPv4-mapped
    expect([a.ok, b.ok]).toEqual([true, true]);
    expect(l.admit('192.0.2.1')).toEqual({ ok: false, key: '192.0.2.1', reason: 'client_concurrency' });
    expect(l.admit('192.0.2.2').ok).toBe(true);
    l.release(a.key);
    expect(l.admit('192.0.2.1').ok).toBe(true);
    expect(l.count('192.0.2.1')).toBe(2);
  });
  test('an IPv6 /64 is one client', () => {
    const l = new ClientConnectionLimits(1, 100, () => 0);
    expect(l.admit('2001:db8:1:2::1').ok).toBe(true);
    expect(l.admit('2001:db8:1:2:ffff::99')).toMatchObject({ ok: false, reason: 'client_concurrency' });
    expect(l.admit('2001:db8:1:3::1').ok).toBe(true);
  });
  test('rate: N new connections per minute per client, refilled over time; refusals for concurrency spend no token', () => {
    let now = 0;
    const l = new ClientConnectionLimits(1, 3, () => now);
    for (let i = 0; i < 3; i++) {
      const a = l.admit('198.51.100.7');
      expect(a.ok).toBe(true);
      expect(l.admit('198.51.100.7')).toMatchObject({ ok: false, reason: 'client_concurrency' });
      l.release(a.key);
    }
    expect(l.admit('198.51.100.7')).toMatchObject({ ok: false, reason: 'client_rate' });
    expect(l.admit('198.51.100.8').ok).toBe(true);
    now += 20_000; // one token back (3 per minute)
    expect(l.admit('198.51.100.7').ok).toBe(true);
  });
  test('releasing more than admitted never goes negative', () => {
    const l = new ClientConnectionLimits(1, 10, () => 0);
    l.release('192.0.2.9');
    expect(l.count('192.0.2.9')).toBe(0);
    expect(l.admit('192.0.2.9').ok).toBe(true);
    expect(l.admit('192.0.2.9').ok).toBe(false);
  });
});
