import { describe, expect, test } from '@jest/globals';
import { AuthThrottle, isBlocked, type AuthAttempt } from '../../../src/relay/auth-throttle.js';

function throttle(limit = 3, now = () => 0, maxKeys?: number) {
  return new AuthThrottle({ failuresPerWindow: limit, windowMs: 60_000, now, maxKeys });
}

function fail(t: AuthThrottle, ip: string, user: string): void {
  const a = t.tryBegin(ip, user);
  if (isBlocked(a)) throw new Error(`unexpectedly blocked: ${a.blocked}`);
  a.failed();
}

describe('AuthThrottle', () => {
  test('per IPv4 address: the limit blocks that address only', () => {
    const t = throttle();
    fail(t, '192.0.2.1', 'u1');
    fail(t, '192.0.2.1', 'u2');
    fail(t, '192.0.2.1', 'u3');
    expect(t.tryBegin('192.0.2.1', 'u4')).toEqual({ blocked: 'address' });
    expect(isBlocked(t.tryBegin('192.0.2.2', 'u5'))).toBe(false);
  });

  test('an IPv4-mapped IPv6 address is the same client as its IPv4 form', () => {
    const t = throttle(2);
    fail(t, '::ffff:192.0.2.7', 'a');
    fail(t, '192.0.2.7', 'b');
    expect(t.tryBegin('::ffff:192.0.2.7', 'c')).toEqual({ blocked: 'address' });
  });

  test('per IPv6 /64: rotating addresses inside one /64 does not reset the count', () => {
    const t = throttle();
    fail(t, '2001:db8:1:2::1', 'a');
    fail(t, '2001:db8:1:2:ffff:ffff:ffff:fffe', 'b');
    fail(t, '2001:0db8:0001:0002:0:0:0:99', 'c'); // same /64, written long-hand
    expect(t.tryBegin('2001:db8:1:2::abcd', 'd')).toEqual({ blocked: 'network6' });
    expect(isBlocked(t.tryBegin('2001:db8:1:3::1', 'e'))).toBe(false); // the next /64 is another client
  });

  test('per user name, across addresses (case-folded)', () => {
    const t = throttle();
    fail(t, '192.0.2.1', 'app1');
    fail(t, '192.0.2.2', 'APP1');
    fail(t, '2001:db8::1', 'App1');
    expect(t.tryBegin('192.0.2.99', 'app1')).toEqual({ blocked: 'user' });
    expect(isBlocked(t.tryBegin('192.0.2.99', 'app2'))).toBe(false);
  });

  test('the slot is taken before verifying: parallel wrong guesses never exceed the limit', async () => {
    const t = throttle(3);
    const admissions = Array.from({ length: 20 }, (_v, i) => t.begin('192.0.2.1', `user${i}`));
    await Promise.resolve();
    // Three are being verified; the other 17 wait, because those three might succeed.
    expect(t.waiting).toBe(17);
    const first = (await Promise.all(admissions.slice(0, 3))) as AuthAttempt[];
    for (const a of first) a.failed();
    const rest = await Promise.all(admissions.slice(3));
    expect(rest.every((a) => isBlocked(a) && a.blocked === 'address')).toBe(true);
    expect(t.waiting).toBe(0);
  });

  test('parallel good logins are delayed, never refused: each success frees a slot for the next', async () => {
    const t = throttle(2);
    const admissions = Array.from({ length: 10 }, () => t.begin('192.0.2.1', 'pool-user'));
    let granted = 0;
    for (const p of admissions) {
      const a = await p;
      expect(isBlocked(a)).toBe(false);
      granted++;
      (a as AuthAttempt).released();
    }
    expect(granted).toBe(10);
  });

  test('waiting is bounded: beyond maxWaiting, or after maxWaitMs, the attempt is refused', async () => {
    const t = new AuthThrottle({ failuresPerWindow: 1, windowMs: 60_000, maxWaiting: 1, maxWaitMs: 50 });
    const held = t.tryBegin('192.0.2.1', 'a');
    expect(isBlocked(held)).toBe(false);
    const waiting = t.begin('192.0.2.1', 'b');
    expect(await t.begin('192.0.2.1', 'c')).toEqual({ blocked: 'address' }); // the one waiting place is taken
    expect(await waiting).toEqual({ blocked: 'address' }); // held never settles: refused after 50 ms
  });

  test('a success frees its slot; settling twice counts once', () => {
    const t = throttle(1);
    const a = t.tryBegin('192.0.2.1', 'u');
    if (isBlocked(a)) throw new Error('blocked');
    expect(isBlocked(t.tryBegin('192.0.2.1', 'v'))).toBe(true); // in flight
    a.released();
    a.failed(); // ignored: already settled
    expect(isBlocked(t.tryBegin('192.0.2.1', 'v'))).toBe(false);
  });

  test('failures expire after the window (injected clock)', () => {
    let now = 1_000;
    const t = throttle(1, () => now);
    fail(t, '192.0.2.1', 'u');
    expect(isBlocked(t.tryBegin('192.0.2.1', 'w'))).toBe(true);
    now += 60_001;
    expect(isBlocked(t.tryBegin('192.0.2.1', 'w'))).toBe(false);
  });

  test('memory is bounded: many distinct clients and users stay within maxKeys', () => {
    const t = throttle(3, () => 0, 1000);
    for (let i = 0; i < 5000; i++) fail(t, `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, `spray${i}`);
    expect(t.size).toBeLessThanOrEqual(1000);
  });
});
