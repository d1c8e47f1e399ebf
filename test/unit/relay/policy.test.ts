import { describe, expect, test } from '@jest/globals';
import { checkRecipient, checkSender } from '../../../src/relay/address-policy.js';
import { FailureWindow, TokenBuckets } from '../../../src/relay/token-bucket.js';

describe('checkSender', () => {
  test('allowed domain, case-insensitive', () => {
    expect(checkSender('a@Example.COM', [['example.com']])).toBeNull();
  });
  test('a domain outside the list is refused with 550 5.7.1', () => {
    expect(checkSender('a@evil.example', [['example.com']])).toEqual({ code: 550, message: '5.7.1 Sender domain evil.example is not allowed' });
  });
  test('a subdomain is not the domain', () => {
    expect(checkSender('a@sub.example.com', [['example.com']])?.code).toBe(550);
  });
  test('every non-empty list must allow the domain', () => {
    expect(checkSender('a@example.com', [['example.com'], ['apps.example']])?.code).toBe(550);
    expect(checkSender('a@apps.example', [['example.com', 'apps.example'], ['apps.example']])).toBeNull();
  });
  test('no list: any well-formed sender, and the null sender', () => {
    expect(checkSender('a@anything.example', [[], []])).toBeNull();
    expect(checkSender('', [[]])).toBeNull();
  });
  test('null sender refused when domains are restricted', () => {
    expect(checkSender('', [['example.com']])?.code).toBe(550);
  });
  test.each([
    ['user%other.example@example.com', /Percent-hack/],
    ['other!user@example.com', /Bang-path/],
    ['"user@evil.example"@example.com', /Quoted/],
    ['@hop.example:user@example.com', /Source route/],
    ['user@example', /fully qualified/],
    ['.user@example.com', /Malformed/],
  ])('%s is refused', (address, reason) => {
    const r = checkSender(address, [['example.com']]);
    expect(r?.code).toBe(553);
    expect(r?.message).toMatch(reason);
  });
});

describe('checkRecipient', () => {
  test('plain and internationalized addresses pass', () => {
    expect(checkRecipient('rcpt@dest.example')).toBeNull();
    expect(checkRecipient('jörg@bücher.example')).toBeNull();
  });
  test('routing tricks are refused with 553 5.1.3', () => {
    expect(checkRecipient('a%b@dest.example')?.message).toMatch(/^5\.1\.3 Percent-hack/);
    expect(checkRecipient('a@b@dest.example')?.code).toBe(553);
  });
});

describe('TokenBuckets', () => {
  test('burst, then refill at the per-minute rate', () => {
    let now = 0;
    const b = new TokenBuckets(60, 2, () => now);
    expect(b.take('u')).toBe(true);
    expect(b.take('u')).toBe(true);
    expect(b.take('u')).toBe(false);
    expect(b.take('other')).toBe(true);
    now += 1000; // one token per second
    expect(b.take('u')).toBe(true);
    expect(b.take('u')).toBe(false);
  });
});

describe('FailureWindow', () => {
  test('blocks after the limit within the window, forgets after it', () => {
    let now = 0;
    const w = new FailureWindow(3, 60_000, () => now);
    for (let i = 0; i < 3; i++) {
      expect(w.blocked('1.2.3.4')).toBe(false);
      w.record('1.2.3.4');
    }
    expect(w.blocked('1.2.3.4')).toBe(true);
    expect(w.blocked('5.6.7.8')).toBe(false);
    now += 60_001;
    expect(w.blocked('1.2.3.4')).toBe(false);
    expect(w.size).toBe(0);
  });

  test('the window length is configurable', () => {
    let now = 0;
    const w = new FailureWindow(1, 5_000, () => now);
    w.record('k');
    now += 4_999;
    expect(w.blocked('k')).toBe(true);
    now += 2;
    expect(w.blocked('k')).toBe(false);
  });

  test('an attempt in flight counts: begun attempts block before any has failed', () => {
    const w = new FailureWindow(2, 60_000, () => 0);
    w.begin('k');
    w.begin('k');
    expect(w.blocked('k')).toBe(true);
    w.end('k', false); // a success frees its slot
    expect(w.used('k')).toBe(1);
    w.end('k', true); // a failure keeps it for the window
    expect(w.used('k')).toBe(1);
    expect(w.blocked('k')).toBe(false);
  });

  test('the key count is bounded: expired keys are pruned, then the least recently used go', () => {
    let now = 0;
    const w = new FailureWindow(5, 1_000, () => now, 3);
    w.record('a');
    w.record('b');
    w.record('c');
    now += 1_001; // a, b, c expire
    w.record('d');
    expect(w.size).toBe(1);
    w.record('e');
    w.record('f');
    w.record('g'); // full of live keys: d, the oldest, goes
    expect(w.size).toBe(3);
    expect(w.used('d')).toBe(0);
    expect(w.used('g')).toBe(1);
  });

  test('a key with an attempt in flight is never dropped to make room', () => {
    const w = new FailureWindow(5, 1_000, () => 0, 2);
    w.begin('inflight');
    w.record('x');
    w.record('y'); // x goes, not inflight
    expect(w.used('inflight')).toBe(1);
    expect(w.used('x')).toBe(0);
  });
});
