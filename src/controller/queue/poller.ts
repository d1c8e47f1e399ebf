// Reads every relay pod's queue (GET /queue) on the probe schedule, off the reconcile path,
// as tls-health/scheduler.ts does for probes: the reconcile calls observe(), gets the latest
// summaries at once, and says which pods must drain or resume; a due poll runs in the
// background with bounded concurrency and puts the relay back on the work queue when done.
// A dead pod holds a poll slot for at most the timeout, never a reconcile worker.
//
// Drain requests are level-based too: POST /drain is sent whenever a pod that must drain
// last reported draining: false (so a restarted pod is asked again), DELETE /drain whenever
// a pod that must serve reports draining: true.
import http from 'node:http';
import { DRAIN_PATH, QUEUE_PATH, type QueueSummary } from '../../common/queue-summary.js';
import type { Logger } from '../../common/logger.js';
import type { ObservedQueuePod } from './drain.js';
import type { QueueTarget } from './targets.js';

export type QueueRequest = (method: 'GET' | 'POST' | 'DELETE', target: QueueTarget, path: string, timeoutMs: number) => Promise<QueueSummary>;

export interface QueuePollerOptions {
  /** Pods read at once, over all relays. */
  concurrency: number;
  /** A poll finished: reconcile this relay key again. */
  onPolled: (key: string) => void;
  /** Budget of one request. Default 3 s. */
  timeoutMs?: number;
  logger: Logger;
  /** Latest total depth per relay, for the operator's metrics (never status). */
  onDepth?: (key: string, depth: number | undefined) => void;
  request?: QueueRequest;
  now?: () => number;
}

export interface QueueObserveInput {
  key: string;
  targets: QueueTarget[];
  intervalMs: number;
  drain: readonly string[];
  resume: readonly string[];
}

interface PodResult {
  summary?: QueueSummary;
  error?: string;
  at: number;
}

interface RelayState {
  results: Map<string, PodResult>;
  nextAt: number;
  /** When the last poll ended: a drain or resume not yet reflected polls early, but not more than once a second. */
  lastEnd: number;
  running: boolean;
}

const EARLY_POLL_GAP_MS = 1_000;

/** GET/POST/DELETE against a relay's metrics port; resolves with the QueueSummary it answers. */
export const httpQueueRequest: QueueRequest = (method, target, path, timeoutMs) =>
  new Promise((resolve, reject) => {
    const req = http.request({ host: target.host, port: target.port, path, method, timeout: timeoutMs, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        if ((res.statusCode ?? 0) >= 300) return reject(new Error(`${method} ${path} answered ${res.statusCode}`));
        try {
          resolve(JSON.parse(text) as QueueSummary);
        } catch {
          reject(new Error(`${method} ${path}: not JSON`));
        }
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${path} timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });

class Semaphore {
  private readonly waiters: (() => void)[] = [];
  constructor(private free: number) {}
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((r) => this.waiters.push(r));
    try {
      return await fn();
    } finally {
      const next = this.waiters.shift();
      if (next) next();
      else this.free++;
    }
  }
}

export class QueuePoller {
  private readonly relays = new Map<string, RelayState>();
  private readonly slots: Semaphore;
  private readonly inflight = new Set<Promise<void>>();
  private readonly now: () => number;
  private readonly request: QueueRequest;
  private stopped = false;

  constructor(private readonly opts: QueuePollerOptions) {
    this.slots = new Semaphore(opts.concurrency);
    this.now = opts.now ?? Date.now;
    this.request = opts.request ?? httpQueueRequest;
  }

  /** The latest summaries of these pods (no I/O). */
  latest(key: string, targets: QueueTarget[]): ObservedQueuePod[] {
    const results = this.relays.get(key)?.results;
    return targets.map((t) => {
      const r = results?.get(t.pod);
      return { name: t.pod, ...(t.ordinal !== undefined ? { ordinal: t.ordinal } : {}), ...(r?.summary ? { summary: r.summary } : {}), ...(r?.error ? { error: r.error } : {}) };
    });
  }

  /** Starts a poll when due (or when a drain/resume is not yet reflected); returns the time to the next one. */
  observe(input: QueueObserveInput): { nextPollInMs: number } {
    let state = this.relays.get(input.key);
    if (!state) {
      state = { results: new Map(), nextAt: 0, lastEnd: 0, running: false };
      this.relays.set(input.key, state);
    }
    const wanted = new Set(input.targets.map((t) => t.pod));
    for (const pod of state.results.keys()) if (!wanted.has(pod)) state.results.delete(pod);
    const now = this.now();
    const pendingAction = now - state.lastEnd >= EARLY_POLL_GAP_MS && input.targets.some((t) => this.action(state!, t, input) !== undefined);
    if (!state.running && !this.stopped && input.targets.length > 0 && (now >= state.nextAt || pendingAction)) {
      this.start(input, state);
    }
    return { nextPollInMs: state.running ? input.intervalMs : Math.max(pendingAction ? EARLY_POLL_GAP_MS : 0, state.nextAt - now) };
  }

  forget(key: string): void {
    this.relays.delete(key);
    this.opts.onDepth?.(key, undefined);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.allSettled([...this.inflight]);
  }

  private action(state: RelayState, t: QueueTarget, input: QueueObserveInput): 'POST' | 'DELETE' | undefined {
    const last = state.results.get(t.pod)?.summary;
    if (input.drain.includes(t.pod) && !last?.draining) return 'POST';
    if (input.resume.includes(t.pod) && last?.draining) return 'DELETE';
    return undefined;
  }

  private start(input: QueueObserveInput, state: RelayState): void {
    state.running = true;
    const timeout = this.opts.timeoutMs ?? 3_000;
    const run = (async () => {
      await Promise.all(
        input.targets.map((t) =>
          this.slots.run(async () => {
            const action = this.action(state, t, input);
            try {
              if (action) {
                await this.request(action, t, DRAIN_PATH, timeout);
                this.opts.logger.info(action === 'POST' ? 'asked a relay pod to drain its queue' : 'asked a relay pod to accept mail again', { relay: input.key, pod: t.pod });
              }
              state.results.set(t.pod, { summary: await this.request('GET', t, QUEUE_PATH, timeout), at: this.now() });
            } catch (err) {
              state.results.set(t.pod, { error: err instanceof Error ? err.message : String(err), at: this.now() });
            }
          }),
        ),
      );
      const depths = [...state.results.values()].map((r) => r.summary?.depth);
      this.opts.onDepth?.(input.key, depths.some((d) => d !== undefined) ? depths.reduce<number>((a, d) => a + (d ?? 0), 0) : undefined);
      state.lastEnd = this.now();
      state.nextAt = state.lastEnd + input.intervalMs;
      state.running = false;
      if (!this.stopped && this.relays.get(input.key) === state) this.opts.onPolled(input.key);
    })();
    this.inflight.add(run);
    void run.finally(() => this.inflight.delete(run));
  }
}
