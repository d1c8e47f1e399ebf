// Reads every relay pod's queue (GET /queue) on the probe schedule, off the reconcile path,
// as tls-health/scheduler.ts does for probes: the reconcile calls observe(), gets the latest
// summaries at once, and says which pods must drain or resume; a due poll runs in the
// background with bounded concurrency and puts the relay back on the work queue when done.
// A dead pod holds a poll slot for at most the timeout, never a reconcile worker.
//
// Drain requests are level-based too: POST /drain is sent whenever a pod that must drain
// last reported draining: false (so a restarted pod is asked again), DELETE /drain whenever
// a pod that must serve reports draining: true.
//
// For a relay that signs, the same poll reads GET /dkim: the public halves of the pods' DKIM
// keys, which the mail-authentication check compares with DNS (the operator never reads a
// DKIM private key). A pod that does not answer it (an older image: 404) just reports none.
import http from 'node:http';
import { DRAIN_PATH, QUEUE_PATH, type QueueSummary } from '../../common/queue-summary.js';
import { DKIM_PATH, type DkimPublicKey, type DkimPublicKeys } from '../../common/dkim-keys.js';
import type { Logger } from '../../common/logger.js';
import type { ObservedQueuePod } from './drain.js';
import type { QueueTarget } from './targets.js';
import { Semaphore } from '../../common/semaphore.js';

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
  /** GET /dkim of one pod. Default: HTTP to the pod's metrics port. */
  dkimRequest?: (target: QueueTarget, timeoutMs: number) => Promise<DkimPublicKeys>;
  now?: () => number;
}

export interface QueueObserveInput {
  key: string;
  targets: QueueTarget[];
  intervalMs: number;
  drain: readonly string[];
  resume: readonly string[];
  /** Also read GET /dkim (the relay signs). */
  dkim?: boolean;
}

interface PodResult {
  summary?: QueueSummary;
  error?: string;
  /** GET /dkim's keys; undefined when not asked or not answered. */
  dkim?: DkimPublicKey[];
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
export const httpQueueRequest: QueueRequest = (method, target, path, timeoutMs) => httpJson<QueueSummary>(method, target, path, timeoutMs);

/** GET /dkim of one pod. */
export const httpDkimRequest = (target: QueueTarget, timeoutMs: number): Promise<DkimPublicKeys> => httpJson<DkimPublicKeys>('GET', target, DKIM_PATH, timeoutMs);

function httpJson<T>(method: 'GET' | 'POST' | 'DELETE', target: QueueTarget, path: string, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: target.host, port: target.port, path, method, timeout: timeoutMs, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        if ((res.statusCode ?? 0) >= 300) return reject(new Error(`${method} ${path} answered ${res.statusCode}`));
        try {
          resolve(JSON.parse(text) as T);
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
}

/** Well-formed keys of a GET /dkim answer (a pod is not trusted to answer sensibly). */
function dkimKeysOf(answer: DkimPublicKeys): DkimPublicKey[] {
  const keys = Array.isArray(answer?.keys) ? answer.keys : [];
  return keys.filter((k) => typeof k?.domain === 'string' && typeof k.selector === 'string' && typeof k.publicKey === 'string');
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

  /**
   * The DKIM public keys the relay's pods reported, one per domain and selector: the one most
   * pods report (ties: the first in sort order), so a rollout in progress gives a stable answer.
   * undefined while no pod answered GET /dkim.
   */
  dkimKeys(key: string): DkimPublicKey[] | undefined {
    const results = this.relays.get(key)?.results;
    const answered = [...(results?.values() ?? [])].filter((r) => r.dkim !== undefined);
    if (answered.length === 0) return undefined;
    const votes = new Map<string, Map<string, number>>();
    for (const r of answered) {
      for (const k of r.dkim!) {
        const id = `${k.domain}|${k.selector}`;
        const counts = votes.get(id) ?? new Map<string, number>();
        counts.set(k.publicKey, (counts.get(k.publicKey) ?? 0) + 1);
        votes.set(id, counts);
      }
    }
    return [...votes]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([id, counts]) => {
        const [domain = '', selector = ''] = id.split('|');
        const [publicKey] = [...counts].sort(([ka, a], [kb, b]) => b - a || (ka < kb ? -1 : ka > kb ? 1 : 0))[0]!;
        return { domain, selector, publicKey };
      });
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
    const previousDkim = (pod: string) => state.results.get(pod)?.dkim;
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
              const summary = await this.request('GET', t, QUEUE_PATH, timeout);
              // A failed read keeps the pod's last keys: keys change on rotation, not on a lost request.
              const dkim = input.dkim ? await (this.opts.dkimRequest ?? httpDkimRequest)(t, timeout).then(dkimKeysOf, () => previousDkim(t.pod)) : undefined;
              state.results.set(t.pod, { summary, ...(dkim ? { dkim } : {}), at: this.now() });
            } catch (err) {
              const dkim = input.dkim ? previousDkim(t.pod) : undefined;
              state.results.set(t.pod, { error: err instanceof Error ? err.message : String(err), ...(dkim ? { dkim } : {}), at: this.now() });
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
