// Admission slots: capacity, first come first served, bounded waits, shutdown, per-key caps.
import { describe, expect, test } from '@jest/globals';
import { KeyedSlots, Slots } from '../../../src/relay/slots.js';

describe('Slots', () => {
  test('grants up to capacity, then a released slot goes to the first waiter', async () => {
    const s = new Slots(2);
    const a = s.tryAcquire();
    const b = s.tryAcquire();
    expect(a).not.toBeNull();
    expect(b).not.toBeNull();
    expect(s.tryAcquire()).toBeNull();
    const order: string[] = [];
    const first = s.acquire(60_000).then((r) => (order.push('first'), r));
    const second = s.acquire(60_000).then((r) => (order.push('second'), r));
    a?.();
    const got = await first;
    expect(got).not.toBeNull();
    expect(order).toEqual(['first']);
    expect(s.inUse).toBe(2);
    b?.();
    expect(await second).not.toBeNull();
    expect(order).toEqual(['first', 'second']);
  });

  test('a release counts once, however often it is called', () => {
    const s = new Slots(1);
    const r = s.tryAcquire();
    r?.();
    r?.();
    expect(s.inUse).toBe(0);
    expect(s.tryAcquire()).not.toBeNull();
    expect(s.tryAcquire()).toBeNull();
  });

  test('a wait that runs out resolves null and leaves the queue, so the next release is not lost', async () => {
    const s = new Slots(1);
    const held = s.tryAcquire();
    expect(await s.acquire(5)).toBeNull();
    const later = s.acquire(60_000);
    held?.();
    expect(await later).not.toBeNull();
  });

  test('a newcomer does not jump the queue of waiters', () => {
    const s = new Slots(1);
    const held = s.tryAcquire();
    void s.acquire(60_000);
    held?.(); // handed to the waiter
    expect(s.tryAcquire()).toBeNull();
  });

  test('an aborted wait resolves null', async () => {
    const s = new Slots(1);
    s.tryAcquire();
    const ac = new AbortController();
    const waiting = s.acquire(60_000, ac.signal);
    ac.abort();
    expect(await waiting).toBeNull();
  });

  test('close ends every wait with null and refuses later acquires', async () => {
    const s = new Slots(1);
    const held = s.tryAcquire();
    const waiting = s.acquire(60_000);
    s.close();
    expect(await waiting).toBeNull();
    expect(await s.acquire(60_000)).toBeNull();
    held?.();
    expect(s.inUse).toBe(0);
  });
});

describe('KeyedSlots', () => {
  test('caps each key on its own and forgets idle keys', async () => {
    const k = new KeyedSlots(1);
    const a = await k.acquire('user:a', 0);
    expect(a).not.toBeNull();
    expect(await k.acquire('user:a', 0)).toBeNull();
    const b = await k.acquire('user:b', 0);
    expect(b).not.toBeNull();
    expect(k.size).toBe(2);
    a?.();
    b?.();
    expect(k.size).toBe(0);
  });

  test('a key with a waiter is kept until the waiter is done', async () => {
    const k = new KeyedSlots(1);
    const a = await k.acquire('ip:127.0.0.2', 0);
    const waiting = k.acquire('ip:127.0.0.2', 60_000);
    a?.();
    const next = await waiting;
    expect(next).not.toBeNull();
    expect(k.size).toBe(1);
    next?.();
    expect(k.size).toBe(0);
  });
});
