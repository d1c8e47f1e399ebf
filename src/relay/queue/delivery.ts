// The durable queue at work: accepts messages into the store, and delivers them with a
// few workers that share the upstream pool (one lease per attempt). Per recipient:
// delivered recipients are done (persisted before the next attempt), deferred ones retry
// with backoff (backoff.ts), bounced or expired ones get a DSN to the sender (dsn.ts),
// queued here like any message. What is on disk is the truth; the index in memory is
// rebuilt from it at every start, and every message is then attempted at once.
import crypto from 'node:crypto';
import { Readable } from 'node:stream';
import type { Logger } from '../../common/logger.js';
import type { QueueSummary } from '../../common/queue-summary.js';
import type { RelayMetrics } from '../metrics.js';
import type { RelayRoute } from '../../common/relay-config.js';
import type { TransactionResult } from '../upstream.js';
import type { UpstreamMember, UpstreamSet } from '../upstream-set.js';
import { retryDelayMs } from './backoff.js';
import { DueHeap } from './due-heap.js';
import { buildDsn, headerBlock } from './dsn.js';
import type { QueueEnvelope } from './envelope.js';
import { classifyAttempt, replyLine, type RecipientFailure } from './recipient-results.js';
import { QueueWriteError, type QueueStore, type StoredEntry } from './store.js';

export interface QueueTiming {
  maxAgeMs: number;
  minBackoffMs: number;
  maxBackoffMs: number;
}

export interface DeliveryQueueOptions {
  store: QueueStore;
  /** The relay's upstreams (pools behind circuit breakers). */
  upstreams: UpstreamSet;
  /** The route of a queued message (matched again at each attempt: sender domain and user). */
  routeFor: (envelope: QueueEnvelope) => RelayRoute | undefined;
  timing: QueueTiming;
  /** Attempts in flight at once (the pool size: more would only wait for a lease). */
  workers: number;
  /** Longest wait for a pool connection per attempt. */
  leaseWaitMs: number;
  /** This relay's name: the DSN's Reporting-MTA. */
  hostname: string;
  metrics: RelayMetrics;
  log: Logger;
  random?: () => number;
}

/** What the relay needs to know about one message it is about to queue. */
export type NewMessage = Omit<QueueEnvelope, 'receivedAt'>;

export type AcceptResult = { ok: true; bytes: number } | { ok: false; storageFull: boolean; error: string };

interface Entry {
  id: string;
  receivedAt: number;
  bytes: number;
  due: number;
  /** Deferred attempts in a row (the backoff exponent). */
  failures: number;
  inFlight: boolean;
  /** The last attempt was deferred. */
  deferred: boolean;
  /** The last attempt failed to reach the upstream at all: retried at once when it is back. */
  waitingForUpstream: boolean;
  /** The last failure per deferred recipient (the expiry DSN quotes it). */
  lastFailures: Map<string, RecipientFailure>;
  /** Host of the upstream that last answered or failed (the DSN's Remote-MTA). */
  lastRemote?: string;
}

/** One attempt along a route: what each upstream tried said, merged per recipient. */
interface RouteAttempt {
  /** The last upstream's result (the queue's view of reachability and lastError). */
  last: TransactionResult;
  lastUpstream?: UpstreamMember;
  delivered: string[];
  bounced: RecipientFailure[];
  deferred: RecipientFailure[];
}

const NO_ROUTE: TransactionResult = { kind: 'failed', response: '', temporary: true, reason: 'no_route', message: '4.4.0 No route for this sender any more (relay configuration changed)', rejected: [] };

/** Bytes of the original message copied into a DSN (its header block, at most this). */
const DSN_HEADER_BYTES = 64 * 1024;

function isConnectionFailure(r: TransactionResult): boolean {
  return r.kind === 'failed' && r.code === undefined && !['aborted', 'upstream_busy', 'upstream_busy_owner', 'no_route'].includes(r.reason);
}

export class DeliveryQueue {
  private readonly entries = new Map<string, Entry>();
  private readonly heap = new DueHeap();
  private timer: NodeJS.Timeout | null = null;
  private timerAt = Infinity;
  private active = 0;
  private stopped = false;
  private readonly abort = new AbortController();
  private idleWaiters: Array<() => void> = [];
  private totalBytes = 0;
  /** The last attempt could not reach the upstream: one attempt at a time until one does. */
  private upstreamDown = false;
  private lastError: QueueSummary['lastError'];
  draining = false;

  constructor(private readonly o: DeliveryQueueOptions) {}

  /** Rescans the store (quarantining what is broken) and attempts every message at once. */
  async start(): Promise<void> {
    const { entries, quarantined } = await this.o.store.scan();
    for (const q of quarantined) {
      this.o.metrics.queue.quarantined.inc();
      this.o.log.warn('queue: entry quarantined', { file: q.name, reason: q.reason });
    }
    const now = Date.now();
    for (const e of entries) this.add(e.envelope.id, e.envelope.receivedAt, e.bytes, now);
    this.o.log.info('queue: opened', { dir: this.o.store.dir, messages: entries.length, quarantined: quarantined.length });
    this.pump();
  }

  get depth(): number {
    return this.entries.size;
  }

  summary(accepting: boolean): QueueSummary {
    let oldest = Infinity;
    let deferred = 0;
    for (const e of this.entries.values()) {
      if (e.receivedAt < oldest) oldest = e.receivedAt;
      if (e.deferred) deferred++;
    }
    const s: QueueSummary = {
      mode: 'durable',
      accepting,
      draining: this.draining,
      depth: this.entries.size,
      deferred,
      oldestAgeSeconds: oldest === Infinity ? 0 : Math.max(0, Math.round((Date.now() - oldest) / 1000)),
      bytes: this.totalBytes,
    };
    if (this.lastError) s.lastError = this.lastError;
    return s;
  }

  /**
   * Queues one message durably (store.write: fsynced file, renamed, directory fsynced).
   * ok means the message is on disk and may be acknowledged with 250.
   */
  async accept(msg: NewMessage, body: Readable, signal: AbortSignal): Promise<AcceptResult> {
    const envelope: QueueEnvelope = { ...msg, receivedAt: Date.now() };
    try {
      const bytes = await this.o.store.write(envelope, body, signal);
      this.add(envelope.id, envelope.receivedAt, bytes, Date.now());
      this.pump();
      return { ok: true, bytes };
    } catch (err) {
      const e = err as QueueWriteError;
      if (!signal.aborted) this.o.log.error('queue: message not written', { msgId: msg.id, error: e.message, code: e.code });
      return { ok: false, storageFull: e instanceof QueueWriteError && e.storageFull, error: e.message };
    }
  }

  /** Drain: every message is due now (the relay stops accepting; the operator waits for depth 0). */
  drain(): void {
    this.draining = true;
    const now = Date.now();
    for (const e of this.entries.values()) if (!e.inFlight) this.schedule(e, now);
    this.pump();
  }

  /** Takes a drain back (the operator kept this replica after all). */
  resume(): void {
    this.draining = false;
  }

  /**
   * Stops delivering: no new attempts; attempts in flight get graceMs to finish, then are
   * aborted (the message stays queued: it is on disk). The queue is not emptied.
   */
  async stop(graceMs: number): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const idle = () => (this.active === 0 ? Promise.resolve() : new Promise<void>((r) => this.idleWaiters.push(r)));
    let graceTimer: NodeJS.Timeout | undefined;
    await Promise.race([idle(), new Promise<void>((r) => (graceTimer = setTimeout(r, graceMs)))]);
    clearTimeout(graceTimer);
    this.abort.abort();
    await idle();
  }

  private add(id: string, receivedAt: number, bytes: number, due: number): void {
    const e: Entry = { id, receivedAt, bytes, due, failures: 0, inFlight: false, deferred: false, waitingForUpstream: false, lastFailures: new Map() };
    this.entries.set(id, e);
    this.totalBytes += bytes;
    this.heap.push({ due, id });
  }

  private drop(e: Entry): void {
    if (this.entries.get(e.id) !== e) return;
    this.entries.delete(e.id);
    this.totalBytes -= e.bytes;
  }

  private schedule(e: Entry, due: number): void {
    e.due = due;
    this.heap.push({ due, id: e.id });
  }

  /** The next message due by `now`, skipping stale heap items. */
  private nextDue(now: number): Entry | undefined {
    for (;;) {
      const top = this.heap.peek();
      if (!top) return undefined;
      const e = this.entries.get(top.id);
      if (!e || e.inFlight || e.due !== top.due) {
        this.heap.pop(); // stale: removed, running, or rescheduled since
        continue;
      }
      if (top.due > now) return undefined;
      this.heap.pop();
      return e;
    }
  }

  /** Starts attempts while workers are free and messages are due; arms the timer for the next one. */
  private pump(): void {
    if (this.stopped) return;
    const limit = this.upstreamDown ? 1 : this.o.workers;
    const now = Date.now();
    while (this.active < limit) {
      const e = this.nextDue(now);
      if (!e) break;
      this.active++;
      e.inFlight = true;
      void this.attempt(e)
        .catch((err: Error) => {
          // Never a crash: the message stays queued and is tried again later.
          this.o.log.error('queue: attempt failed', { msgId: e.id, error: err.message });
          if (this.entries.has(e.id)) this.schedule(e, Date.now() + this.o.timing.minBackoffMs);
        })
        .finally(() => {
          e.inFlight = false;
          this.active--;
          if (this.active === 0) for (const w of this.idleWaiters.splice(0)) w();
          this.pump();
        });
    }
    this.arm();
  }

  private arm(): void {
    const top = this.nextPending();
    if (top === undefined || this.stopped) return;
    if (this.timer && this.timerAt <= top) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = top;
    this.timer = setTimeout(
      () => {
        this.timer = null;
        this.timerAt = Infinity;
        this.pump();
      },
      Math.max(0, top - Date.now()),
    );
    this.timer.unref();
  }

  /** Due time of the next message not in flight (stale heap items dropped). */
  private nextPending(): number | undefined {
    for (;;) {
      const top = this.heap.peek();
      if (!top) return undefined;
      const e = this.entries.get(top.id);
      if (!e || e.inFlight || e.due !== top.due) {
        this.heap.pop();
        continue;
      }
      return top.due;
    }
  }

  private async attempt(e: Entry): Promise<void> {
    let stored: StoredEntry;
    try {
      stored = await this.o.store.read(e.id);
    } catch (err) {
      const error = err as NodeJS.ErrnoException;
      if (error.code === 'ENOENT') return this.drop(e);
      // Read back broken (disk corruption): aside, counted, never a crash loop.
      await this.o.store.quarantineMessage(e.id);
      this.o.metrics.queue.quarantined.inc();
      this.o.log.error('queue: message unreadable, quarantined', { msgId: e.id, error: error.message });
      return this.drop(e);
    }
    if (Date.now() - stored.envelope.receivedAt >= this.o.timing.maxAgeMs) return this.expire(e, stored);

    const along = await this.alongRoute(e, stored);
    if (!along) return; // stopping: stays queued as it was
    const result = along.last;
    const answeredAt = process.hrtime.bigint();
    const wasReachable = !this.upstreamDown;
    this.noteUpstream(result, along.lastUpstream);
    const d = { delivered: along.delivered, bounced: along.bounced, deferred: along.deferred };

    let stillDue = d.deferred;
    if (d.bounced.length > 0) {
      const queued = await this.bounce(stored, d.bounced, false, e.lastRemote);
      // No room for the DSN now: keep those recipients and try them again later.
      if (!queued) stillDue = [...stillDue, ...d.bounced];
      else this.o.metrics.queue.bounced.inc(d.bounced.length);
    }
    this.o.metrics.queue.delivered.inc(d.delivered.length);
    if (stillDue.length === 0) {
      await this.o.store.remove(e.id);
      // From the upstream's answer to the removal: a crash in here sends the message again.
      this.o.metrics.queue.duplicateWindow.observe(Number(process.hrtime.bigint() - answeredAt) / 1e9);
      return this.drop(e);
    }
    if (stillDue.length < stored.remaining.length) {
      await this.o.store.saveState(e.id, { remaining: stored.remaining.filter((r) => stillDue.some((f) => f.recipient === r)) }).catch((err: Error) => {
        // The next attempt then sends to the done recipients again (a duplicate, never a loss).
        this.o.log.error('queue: progress not saved', { msgId: e.id, error: err.message });
      });
    }
    for (const f of d.deferred) e.lastFailures.set(f.recipient, f);
    e.failures++;
    e.deferred = true;
    e.waitingForUpstream = isConnectionFailure(result);
    this.o.metrics.queue.deferred.inc();
    // The first connection failure after the upstream worked may be a pooled connection that
    // went stale: try again at once (on a new connection); a real outage then backs off.
    const staleSuspect = e.waitingForUpstream && wasReachable;
    const delay = staleSuspect ? 0 : retryDelayMs(e.failures, this.o.timing.minBackoffMs, this.o.timing.maxBackoffMs, this.o.random);
    // Never wait past the expiry: a message at maxAge bounces on time.
    const expiresAt = stored.envelope.receivedAt + this.o.timing.maxAgeMs;
    this.schedule(e, Math.min(Date.now() + (this.draining ? Math.min(delay, this.o.timing.minBackoffMs) : delay), expiresAt));
    this.o.log.info('queue: deferred', { msgId: e.id, recipients: d.deferred.length, delivered: d.delivered.length, bounced: d.bounced.length, reason: d.deferred[0]?.diagnostic, retryInMs: e.due - Date.now() });
  }

  /**
   * One attempt along the message's route: the first upstream whose breaker lets it through
   * gets the recipients still due; those it defers (4xx, connection error, timeout) go on to
   * the next upstream of the route at once, and so on. Delivered and bounced (5xx: the answer)
   * recipients are done. Null when the queue is stopping (the message stays as it was).
   */
  private async alongRoute(e: Entry, stored: StoredEntry): Promise<RouteAttempt | null> {
    const route = this.o.routeFor(stored.envelope);
    if (!route) return { last: NO_ROUTE, ...classifyAttempt(stored.remaining, NO_ROUTE) };
    const out: RouteAttempt = { last: NO_ROUTE, delivered: [], bounced: [], deferred: [] };
    let remaining = stored.remaining;
    const candidates = this.o.upstreams.candidates(route);
    for (const [i, { member, force }] of candidates.entries()) {
      const result = await this.transaction(e, stored, member, force, remaining);
      if (result.kind === 'failed' && result.reason === 'aborted') return null;
      const d = classifyAttempt(remaining, result);
      out.last = result;
      out.lastUpstream = member;
      out.delivered.push(...d.delivered);
      out.bounced.push(...d.bounced);
      out.deferred = d.deferred;
      remaining = d.deferred.map((f) => f.recipient);
      if (remaining.length === 0 || i + 1 >= candidates.length) break;
      this.o.metrics.upstreamFailovers.inc({ upstream: member.name });
      this.o.log.info('queue: upstream failover', { msgId: e.id, upstream: member.name, recipients: remaining.length, next: candidates[i + 1]?.member.name, reason: d.deferred[0]?.diagnostic });
    }
    return out;
  }

  /** One upstream transaction for `recipients` (a lease, then the body from disk). */
  private async transaction(e: Entry, stored: StoredEntry, member: UpstreamMember, force: boolean, recipients: string[]): Promise<TransactionResult> {
    e.lastRemote = member.config.host;
    // A key per message: the pool's per-owner cap is for clients, the workers already bound the queue.
    const leased = await member.lease({ owner: `queue:${e.id}`, waitMs: this.o.leaseWaitMs, signal: this.abort.signal }, force);
    if (!leased.ok) return { kind: 'failed', response: '', temporary: leased.temporary, reason: leased.reason, message: leased.message, rejected: [] };
    const env = stored.envelope;
    const body = this.o.store.openBody(e.id, stored.bodyOffset);
    const result = await member.pool.sendPerRecipient(leased.lease, { from: env.from, to: recipients, requireTls: env.requireTls, use8BitMime: env.use8BitMime }, body, this.abort.signal);
    member.report(result);
    return result;
  }

  /** Tracks whether the upstream is reachable, and its last error (GET /queue). */
  private noteUpstream(r: TransactionResult, member: UpstreamMember | undefined): void {
    const upstreamName = member ? `${member.config.host}:${member.config.port}` : 'none';
    const down = isConnectionFailure(r);
    if (this.upstreamDown && !down) {
      // Back: what waited only for the upstream goes now (a restart of the upstream is often the fix).
      const now = Date.now();
      for (const e of this.entries.values()) {
        if (e.waitingForUpstream && !e.inFlight) {
          e.waitingForUpstream = false;
          this.schedule(e, now);
        }
      }
    }
    this.upstreamDown = down;
    const at = new Date().toISOString();
    if (r.kind === 'failed') {
      this.lastError = { upstream: upstreamName, code: r.code, message: r.response ? replyLine(r.response) : r.message, at, temporary: r.temporary };
    } else if (r.rejected.length > 0) {
      const first = r.rejected[0] as (typeof r.rejected)[number];
      this.lastError = { upstream: upstreamName, code: first.code, message: replyLine(first.response), at, temporary: first.code === undefined || first.code < 500 };
    } else {
      this.lastError = undefined;
    }
  }

  /** maxAge passed: every remaining recipient bounces with 4.4.7, quoting its last failure. */
  private async expire(e: Entry, stored: StoredEntry): Promise<void> {
    const failures: RecipientFailure[] = stored.remaining.map((recipient) => {
      const last = e.lastFailures.get(recipient);
      return { recipient, code: last?.code, status: '4.4.7', diagnostic: last?.diagnostic ?? 'X-smtp-relay; delivery time expired (maximum queue lifetime)' };
    });
    const queued = await this.bounce(stored, failures, true, e.lastRemote);
    if (!queued) {
      this.schedule(e, Date.now() + this.o.timing.minBackoffMs); // no room for the DSN yet
      return;
    }
    this.o.metrics.queue.expired.inc(failures.length);
    this.o.log.warn('queue: expired', { msgId: e.id, recipients: failures.length, ageSeconds: Math.round((Date.now() - stored.envelope.receivedAt) / 1000) });
    await this.o.store.remove(e.id);
    this.drop(e);
  }

  /**
   * Queues a DSN for `failures` to the message's sender. Never for a message whose sender
   * is null (a DSN, ours or a client's): those are dropped and counted, so bounces never
   * loop. False if the DSN could not be written (the caller keeps the recipients).
   */
  private async bounce(stored: StoredEntry, failures: RecipientFailure[], expired: boolean, remoteMta = 'unknown'): Promise<boolean> {
    const original = stored.envelope;
    if (original.from === '' || original.dsn) {
      this.o.metrics.queue.bouncesDropped.inc(failures.length);
      this.o.log.warn('queue: undeliverable message with a null sender dropped (no DSN for a DSN)', { msgId: original.id, recipients: failures.length, dsn: original.dsn === true });
      return true;
    }
    const headers = headerBlock(await this.o.store.readBodyStart(original.id, stored.bodyOffset, DSN_HEADER_BYTES), DSN_HEADER_BYTES);
    const id = crypto.randomUUID();
    const dsn = buildDsn({ reportingMta: this.o.hostname, remoteMta, original, failures, originalHeaders: headers, now: new Date(), token: id, expired });
    // A rewritten sender (routes[].rewriteFrom) is the route's mailbox: the DSN goes to the real one.
    const r = await this.accept({ id, from: '', to: [original.originalFrom ?? original.from], requireTls: false, use8BitMime: false, dsn: true }, Readable.from([dsn]), new AbortController().signal);
    if (!r.ok) return false;
    this.o.log.info('queue: DSN queued', { msgId: original.id, dsnId: id, recipients: failures.length, expired });
    return true;
  }
}
