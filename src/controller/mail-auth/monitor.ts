// Runs the checks off the reconcile path, like the TLS prober: the reconcile calls
// observe(), which returns at once with the latest results and the time until the next
// check; a due check starts in the background (bounded concurrency over all relays) and
// onChecked(key) requeues the relay when it finished. Results are kept as values; the
// reconcile turns them into status, which is written only when it differs.
import type { DomainMailAuth, MailAuthTarget } from './evaluate.js';
import { checkMailAuth } from './lookup.js';
import { afterMailAuthCheck, mailAuthDue, targetsKey, type MailAuthScheduleState } from './schedule.js';
import type { TxtLookup } from './txt-answer.js';
import { Semaphore } from '../../common/semaphore.js';

export interface MailAuthMonitorOptions {
  lookup: TxtLookup;
  /** Domains checked at once, over all relays. */
  concurrency: number;
  /** A check finished: reconcile this relay key again. */
  onChecked: (key: string) => void;
  now?: () => number;
  random?: () => number;
}

export interface MailAuthView {
  /** Latest results for the current targets; undefined until the first check finished. */
  results?: DomainMailAuth[];
  /** Time until the next check is due; undefined while there is nothing to check. */
  nextCheckInMs?: number;
}

interface RelayState {
  schedule: MailAuthScheduleState;
  results?: DomainMailAuth[];
  running: boolean;
}

export class MailAuthMonitor {
  private readonly relays = new Map<string, RelayState>();
  private readonly inflight = new Set<Promise<void>>();
  private readonly slots: Semaphore;
  private stopped = false;
  private readonly now: () => number;
  private readonly random: () => number;

  constructor(private readonly opts: MailAuthMonitorOptions) {
    this.slots = new Semaphore(opts.concurrency);
    this.now = opts.now ?? Date.now;
    this.random = opts.random ?? Math.random;
  }

  observe(key: string, targets: readonly MailAuthTarget[]): MailAuthView {
    let state = this.relays.get(key);
    if (!state) {
      state = { schedule: {}, running: false };
      this.relays.set(key, state);
    }
    const tkey = targetsKey(targets);
    // Results of other targets (domains removed or re-keyed) are not shown as current.
    const results = state.schedule.targetsKey === tkey ? state.results : undefined;
    if (targets.length === 0 || this.stopped) return { results };
    const now = this.now();
    if (state.running) return { results, nextCheckInMs: undefined };
    const { due, dueInMs } = mailAuthDue(state.schedule, tkey, now);
    if (!due) return { results, nextCheckInMs: dueInMs };
    state.running = true;
    const job = this.run(key, state, tkey, [...targets], now).finally(() => {
      state.running = false;
      this.inflight.delete(job);
    });
    this.inflight.add(job);
    return { results, nextCheckInMs: undefined };
  }

  forget(key: string): void {
    this.relays.delete(key);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.allSettled([...this.inflight]);
  }

  private async run(key: string, state: RelayState, tkey: string, targets: MailAuthTarget[], startedAt: number): Promise<void> {
    const results = await Promise.all(targets.map((t) => this.slots.run(() => checkMailAuth(t, this.opts.lookup))));
    if (this.stopped || this.relays.get(key) !== state) return;
    const lookupFailed = results.some((r) => r.dkim.lookupError || r.dmarc.lookupError || r.spf.lookupError);
    state.schedule = afterMailAuthCheck(tkey, startedAt, lookupFailed, this.random);
    state.results = results;
    // Not running any more before the requeue: that reconcile must see the new schedule.
    state.running = false;
    this.opts.onChecked(key);
  }
}
