import { afterEach, beforeEach, describe, expect, jest, test } from '@jest/globals';
import { backoffDelayMs, createTokenBucket, createWorkQueue, runWorkers, type ReconcileOutcome } from '../../../src/kube/workqueue.js';

/** Let pending promise callbacks run (no timers involved). */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

describe('work queue basics', () => {
  test('a key added many times is queued once', async () => {
    const q = createWorkQueue();
    q.add('ns/a');
    q.add('ns/a');
    q.add('ns/b');
    q.add('ns/a');
    expect(q.len()).toBe(2);
    expect(await q.get()).toBe('ns/a');
    expect(await q.get()).toBe('ns/b');
    expect(q.len()).toBe(0);
  });

  test('a key in flight is not handed out again, and runs once more after done when re-added', async () => {
    const q = createWorkQueue();
    q.add('k');
    expect(await q.get()).toBe('k');
    q.add('k'); // changed while in flight
    q.add('k');
    expect(q.len()).toBe(0); // not queued while processing

    let second: string | undefined | null = null;
    void q.get().then((k) => (second = k));
    await settle();
    expect(second).toBeNull(); // still waiting: the same key is never processed twice at once

    q.done('k');
    await settle();
    expect(second).toBe('k'); // the dirty key runs exactly once more
    q.done('k');
    expect(q.len()).toBe(0);
  });

  test('done without a re-add does not requeue', async () => {
    const q = createWorkQueue();
    q.add('k');
    await q.get();
    q.done('k');
    expect(q.len()).toBe(0);
    expect(q.processingLen()).toBe(0);
  });

  test('get waits for an add instead of polling', async () => {
    const q = createWorkQueue();
    let got: string | undefined | null = null;
    void q.get().then((k) => (got = k));
    await settle();
    expect(got).toBeNull();
    q.add('late');
    await settle();
    expect(got).toBe('late');
  });

  test('shutdown drains queued keys, then get resolves undefined; adds after shutdown are ignored', async () => {
    const q = createWorkQueue();
    q.add('a');
    q.add('b');
    q.shutDown();
    q.add('c');
    expect(await q.get()).toBe('a');
    expect(await q.get()).toBe('b');
    expect(await q.get()).toBeUndefined();
    expect(await q.get()).toBeUndefined();
  });

  test('shutdown releases workers already waiting', async () => {
    const q = createWorkQueue();
    const waiting = [q.get(), q.get()];
    q.shutDown();
    expect(await Promise.all(waiting)).toEqual([undefined, undefined]);
  });

  test('bad options get a clear error', () => {
    expect(() => createWorkQueue({ baseDelayMs: 0 })).toThrow(/baseDelayMs/);
    expect(() => createWorkQueue({ baseDelayMs: 10, maxDelayMs: 5 })).toThrow(/maxDelayMs/);
    expect(() => createWorkQueue({ qps: 0 })).toThrow(/qps/);
  });
});

describe('pure rate-limit functions', () => {
  test('backoff doubles per failure and is capped', () => {
    expect([0, 1, 2, 3].map((n) => backoffDelayMs(n, 5, 1000))).toEqual([5, 10, 20, 40]);
    expect(backoffDelayMs(8, 5, 1000)).toBe(1000);
    expect(backoffDelayMs(5000, 5, 1000)).toBe(1000); // 2^5000 overflows to Infinity
  });

  test('token bucket allows the burst, then spaces requests at 1/qps', () => {
    let t = 0;
    const take = createTokenBucket(10, 3, () => t);
    expect([take(), take(), take()]).toEqual([0, 0, 0]);
    expect(take()).toBe(100);
    expect(take()).toBe(200);
    t = 1000; // 10 tokens refill, capped at burst 3, minus the 2 borrowed
    expect(take()).toBe(0);
  });
});

describe('delays (fake timers)', () => {
  beforeEach(() => {
    jest.useFakeTimers();
  });
  afterEach(() => {
    jest.useRealTimers();
  });

  test('addAfter adds the key when due, and the earliest due time wins', () => {
    const q = createWorkQueue();
    q.addAfter('k', 1000);
    q.addAfter('k', 5000); // later: ignored
    q.addAfter('k', 300); // earlier: replaces
    expect(q.delayedLen()).toBe(1);
    jest.advanceTimersByTime(299);
    expect(q.len()).toBe(0);
    jest.advanceTimersByTime(1);
    expect(q.len()).toBe(1);
    jest.advanceTimersByTime(10_000);
    expect(q.len()).toBe(1); // the replaced timers never fire a second add
    expect(q.delayedLen()).toBe(0);
  });

  test('addAfter with no delay adds at once', () => {
    const q = createWorkQueue();
    q.addAfter('k', 0);
    expect(q.len()).toBe(1);
  });

  test('addRateLimited backs off exponentially per key, up to the cap, and forget resets it', async () => {
    const q = createWorkQueue({ baseDelayMs: 10, maxDelayMs: 50 });
    const delayOfNextFailure = async (): Promise<number> => {
      q.addRateLimited('k');
      let waited = 0;
      while (q.len() === 0 && waited < 1000) {
        jest.advanceTimersByTime(1);
        waited++;
      }
      // take it out again so the next add is not deduplicated
      q.done((await q.get())!);
      return waited;
    };
    const delays: number[] = [];
    for (let i = 0; i < 5; i++) delays.push(await delayOfNextFailure());
    expect(delays).toEqual([10, 20, 40, 50, 50]);
    expect(q.numRequeues('k')).toBe(5);
    q.forget('k');
    expect(q.numRequeues('k')).toBe(0);
  });

  test('forget resets the backoff to the base delay', async () => {
    const q = createWorkQueue({ baseDelayMs: 10, maxDelayMs: 10_000 });
    for (let i = 0; i < 4; i++) q.addRateLimited('k'); // 4 failures
    q.forget('k');
    jest.advanceTimersByTime(10_000);
    await q.get().then((k) => q.done(k!));
    q.addRateLimited('k');
    jest.advanceTimersByTime(9);
    expect(q.len()).toBe(0);
    jest.advanceTimersByTime(1);
    expect(q.len()).toBe(1);
  });

  test('backoff is per key', () => {
    const q = createWorkQueue({ baseDelayMs: 10, maxDelayMs: 10_000 });
    q.addRateLimited('a');
    q.addRateLimited('a');
    q.addRateLimited('a');
    q.addRateLimited('b');
    expect(q.numRequeues('a')).toBe(3);
    expect(q.numRequeues('b')).toBe(1);
    jest.advanceTimersByTime(10);
    expect(q.len()).toBe(2); // both due at the 10 ms (first) schedule; later ones lost to earliest-wins
  });

  test('the overall bucket delays retries once the burst is spent', () => {
    const q = createWorkQueue({ baseDelayMs: 1, maxDelayMs: 1, qps: 1, burst: 2 });
    q.addRateLimited('a');
    q.addRateLimited('b');
    q.addRateLimited('c'); // third within the same instant: waits ~1 s for a token
    jest.advanceTimersByTime(1);
    expect(q.len()).toBe(2);
    jest.advanceTimersByTime(998);
    expect(q.len()).toBe(2);
    jest.advanceTimersByTime(1);
    expect(q.len()).toBe(3);
  });

  test('shutdown cancels delayed adds', () => {
    const q = createWorkQueue();
    q.addAfter('k', 100);
    q.shutDown();
    jest.advanceTimersByTime(1000);
    expect(q.len()).toBe(0);
  });
});

describe('runWorkers', () => {
  test('never reconciles the same key concurrently, and a key changed in flight runs once more', async () => {
    const q = createWorkQueue();
    let inFlight = 0;
    let maxInFlight = 0;
    const calls: string[] = [];
    let release!: () => void;
    const firstCallGate = new Promise<void>((r) => (release = r));
    const workers = runWorkers(q, 4, async (key) => {
      calls.push(key);
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      if (calls.length === 1) await firstCallGate;
      inFlight--;
    });
    q.add('k');
    await settle();
    for (let i = 0; i < 100; i++) q.add('k'); // a burst while the first run is in flight
    await settle();
    expect(calls).toEqual(['k']);
    release();
    await settle();
    await settle();
    expect(calls).toEqual(['k', 'k']); // 101 adds, two runs
    expect(maxInFlight).toBe(1);
    await workers.stop();
  });

  test('different keys run in parallel up to the concurrency', async () => {
    const q = createWorkQueue();
    let inFlight = 0;
    let maxInFlight = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const workers = runWorkers(q, 2, async () => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await gate;
      inFlight--;
    });
    for (const k of ['a', 'b', 'c']) q.add(k);
    await settle();
    expect(inFlight).toBe(2);
    release();
    await workers.stop();
    expect(maxInFlight).toBe(2);
  });

  test('an error requeues with backoff, success forgets, requeueAfterMs schedules', async () => {
    jest.useFakeTimers();
    try {
      const q = createWorkQueue({ baseDelayMs: 100, maxDelayMs: 1000 });
      const outcomes: Array<[string, ReconcileOutcome]> = [];
      let failuresLeft = 2;
      const workers = runWorkers(
        q,
        1,
        async () => {
          if (failuresLeft-- > 0) throw new Error('boom');
          return { requeueAfterMs: 5000 };
        },
        { onResult: (key, outcome) => outcomes.push([key, outcome]) },
      );
      q.add('k');
      await settle();
      expect(outcomes.map(([, o]) => o.ok)).toEqual([false]);
      expect(q.numRequeues('k')).toBe(1);
      await jest.advanceTimersByTimeAsync(100); // first retry after base delay
      expect(outcomes.map(([, o]) => o.ok)).toEqual([false, false]);
      await jest.advanceTimersByTimeAsync(199);
      expect(outcomes).toHaveLength(2); // second retry waits 200 ms
      await jest.advanceTimersByTimeAsync(1);
      expect(outcomes.map(([, o]) => o.ok)).toEqual([false, false, true]);
      expect(q.numRequeues('k')).toBe(0); // success forgot the failures
      const last = outcomes[2]![1];
      expect(last.ok && last.result).toEqual({ requeueAfterMs: 5000 });
      await jest.advanceTimersByTimeAsync(4999);
      expect(outcomes).toHaveLength(3);
      await jest.advanceTimersByTimeAsync(1);
      expect(outcomes).toHaveLength(4); // periodic requeue
      await workers.stop();
    } finally {
      jest.useRealTimers();
    }
  });

  test('stop waits for the in-flight reconcile and then the workers exit', async () => {
    const q = createWorkQueue();
    let finishedReconcile = false;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const workers = runWorkers(q, 3, async () => {
      await gate;
      finishedReconcile = true;
    });
    q.add('k');
    await settle();
    let stopped = false;
    const stopping = workers.stop().then(() => (stopped = true));
    await settle();
    expect(stopped).toBe(false);
    release();
    await stopping;
    expect(finishedReconcile).toBe(true);
  });

  test('a throwing hook does not kill the worker', async () => {
    const q = createWorkQueue();
    const seen: string[] = [];
    const workers = runWorkers(q, 1, async (k) => void seen.push(k), {
      onResult: () => {
        throw new Error('hook');
      },
    });
    q.add('a');
    await settle();
    q.add('b');
    await settle();
    expect(seen).toEqual(['a', 'b']);
    await workers.stop();
  });

  test('rejects a bad concurrency', () => {
    expect(() => runWorkers(createWorkQueue(), 0, async () => undefined)).toThrow(/concurrency/);
  });
});
