// A rate-limited work queue with client-go's semantics, and the worker loop
// that drains it into a reconcile function.
//
// - a key waits in the queue at most once ("dirty" = needs a run);
// - a key being processed is never handed out again until done();
// - a key added while in flight stays dirty and is queued again on done();
// - addAfter keeps the earliest due time per key;
// - addRateLimited waits max(per-key exponential backoff, overall token bucket).
import type { ReconcileFn, ReconcileResult, WorkQueue } from './types.js';

export interface WorkQueueOptions {
  /** First per-key retry delay; doubles on each failure. Default 5 ms. */
  baseDelayMs?: number;
  /** Cap of the per-key retry delay. Default 300000 ms (5 min). */
  maxDelayMs?: number;
  /** Overall retry rate (tokens per second). Default 50. */
  qps?: number;
  /** Overall retry burst. Default 300. */
  burst?: number;
  name?: string;
  /** Clock, for tests. Default Date.now. */
  now?: () => number;
}

export interface RateLimitedWorkQueue extends WorkQueue {
  readonly name: string;
  /** How many times the key failed since its last forget(). */
  numRequeues(key: string): number;
  /** Keys scheduled by addAfter/addRateLimited and not yet due. */
  delayedLen(): number;
  /** Keys being processed now. */
  processingLen(): number;
  isShuttingDown(): boolean;
}

/** Per-key exponential backoff: base * 2^failures, capped. Pure. */
export function backoffDelayMs(failures: number, baseDelayMs: number, maxDelayMs: number): number {
  const exp = baseDelayMs * 2 ** failures;
  return Number.isFinite(exp) ? Math.min(exp, maxDelayMs) : maxDelayMs;
}

/** A token bucket (golang.org/x/time/rate Reserve semantics): returns how long to wait. */
export function createTokenBucket(qps: number, burst: number, now: () => number): () => number {
  let tokens = burst;
  let last = now();
  return () => {
    const t = now();
    tokens = Math.min(burst, tokens + ((t - last) / 1000) * qps);
    last = t;
    tokens -= 1;
    return tokens >= 0 ? 0 : Math.ceil((-tokens / qps) * 1000);
  };
}

export function createWorkQueue(opts: WorkQueueOptions = {}): RateLimitedWorkQueue {
  const baseDelayMs = opts.baseDelayMs ?? 5;
  const maxDelayMs = opts.maxDelayMs ?? 300_000;
  const qps = opts.qps ?? 50;
  const burst = opts.burst ?? 300;
  const now = opts.now ?? Date.now;
  if (!(baseDelayMs > 0) || !(maxDelayMs >= baseDelayMs)) throw new Error('workqueue: need 0 < baseDelayMs <= maxDelayMs');
  if (!(qps > 0) || !(burst >= 1)) throw new Error('workqueue: need qps > 0 and burst >= 1');

  const queue: string[] = [];
  const dirty = new Set<string>();
  const processing = new Set<string>();
  const waiters: Array<(key: string | undefined) => void> = [];
  const delayed = new Map<string, { due: number; timer: NodeJS.Timeout }>();
  const failures = new Map<string, number>();
  const bucket = createTokenBucket(qps, burst, now);
  let shuttingDown = false;

  // Hand queued keys to waiting get() calls; on shutdown, release idle waiters.
  function dispatch(): void {
    while (waiters.length > 0 && queue.length > 0) {
      const key = queue.shift()!;
      processing.add(key);
      dirty.delete(key);
      waiters.shift()!(key);
    }
    if (shuttingDown && queue.length === 0) {
      while (waiters.length > 0) waiters.shift()!(undefined);
    }
  }

  function add(key: string): void {
    if (shuttingDown || dirty.has(key)) return;
    dirty.add(key);
    if (processing.has(key)) return; // requeued by done()
    queue.push(key);
    dispatch();
  }

  function addAfter(key: string, delayMs: number): void {
    if (shuttingDown) return;
    if (!(delayMs > 0)) {
      add(key);
      return;
    }
    const due = now() + delayMs;
    const existing = delayed.get(key);
    if (existing && existing.due <= due) return; // the earliest wins
    if (existing) clearTimeout(existing.timer);
    const timer = setTimeout(() => {
      delayed.delete(key);
      add(key);
    }, delayMs);
    // Pending retries alone must not keep a process alive.
    timer.unref();
    delayed.set(key, { due, timer });
  }

  return {
    name: opts.name ?? 'workqueue',
    add,
    addAfter,
    addRateLimited(key: string): void {
      const n = failures.get(key) ?? 0;
      failures.set(key, n + 1);
      addAfter(key, Math.max(backoffDelayMs(n, baseDelayMs, maxDelayMs), bucket()));
    },
    forget(key: string): void {
      failures.delete(key);
    },
    numRequeues: (key) => failures.get(key) ?? 0,
    get(): Promise<string | undefined> {
      return new Promise((resolve) => {
        waiters.push(resolve);
        dispatch();
      });
    },
    done(key: string): void {
      if (!processing.delete(key)) return;
      if (dirty.has(key)) {
        queue.push(key);
        dispatch();
      }
    },
    len: () => queue.length,
    delayedLen: () => delayed.size,
    processingLen: () => processing.size,
    isShuttingDown: () => shuttingDown,
    shutDown(): void {
      shuttingDown = true;
      for (const { timer } of delayed.values()) clearTimeout(timer);
      delayed.clear();
      dispatch();
    },
  };
}

export type ReconcileOutcome = { ok: true; result: ReconcileResult | undefined } | { ok: false; error: unknown };

export interface WorkerHooks {
  /** Called after each reconcile (metrics, logs). Must not throw; if it does, the error is ignored. */
  onResult?: (key: string, outcome: ReconcileOutcome, durationMs: number) => void;
}

export interface Workers {
  /** Shut the queue down and resolve once every in-flight reconcile has finished. */
  stop(): Promise<void>;
  /** Resolves when all workers have exited (after shutDown and drain). */
  readonly finished: Promise<void>;
}

/**
 * Run `concurrency` workers: each takes a key, reconciles it, and on error
 * requeues it with backoff; on success it forgets the key's failures and
 * schedules requeueAfterMs if asked.
 */
export function runWorkers(queue: WorkQueue, concurrency: number, reconcile: ReconcileFn, hooks: WorkerHooks = {}): Workers {
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new Error(`runWorkers: concurrency must be a positive integer, got ${concurrency}`);

  const report = (key: string, outcome: ReconcileOutcome, started: number): void => {
    try {
      hooks.onResult?.(key, outcome, performance.now() - started);
    } catch {
      // a broken hook must not stop a worker
    }
  };

  async function worker(): Promise<void> {
    for (;;) {
      const key = await queue.get();
      if (key === undefined) return;
      const started = performance.now();
      try {
        const result = (await reconcile(key)) ?? undefined;
        queue.forget(key);
        if (result?.requeueAfterMs !== undefined && result.requeueAfterMs > 0) queue.addAfter(key, result.requeueAfterMs);
        report(key, { ok: true, result }, started);
      } catch (error) {
        queue.addRateLimited(key);
        report(key, { ok: false, error }, started);
      } finally {
        queue.done(key);
      }
    }
  }

  const finished = Promise.all(Array.from({ length: concurrency }, () => worker())).then(() => undefined);
  return {
    finished,
    async stop() {
      queue.shutDown();
      await finished;
    },
  };
}
