// Passing a message on to the upstream, over verified TLS, through a small pool of
// nodemailer SMTP connections.
//
// Per-recipient mapping (all-or-nothing): the client's recipients go to the upstream in
// ONE transaction when the client's DATA arrives. If the upstream rejects ANY recipient,
// the upstream transaction is aborted before the end-of-data dot (the connection is
// dropped, so the upstream discards it) and the client gets one reply for the whole
// message: 451 4.4.0 if any rejection was temporary, else the upstream's 5xx. So the
// client is told 250 only when every one of its recipients was accepted upstream, and a
// refused message was delivered to nobody: no silent loss, no duplicate on retry.
//
// Fairness: a transaction leases a connection (lease()) before the client's 354, first a
// slot of its owner (user, or client address) then a pool slot, with one bounded wait for
// both; when it runs out the client gets 451 4.4.5 (congestion) instead of waiting forever
// behind one sender that holds the whole pool.
import { PassThrough, type Readable } from 'node:stream';
import tls from 'node:tls';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import type { RelayUpstream } from '../common/relay-config.js';
import { nodemailerOAuth2 } from './oauth2/xoauth2.js';
import type { TokenSource } from './oauth2/token-source.js';
import { KeyedSlots, Slots } from './slots.js';

export interface UpstreamEnvelope {
  from: string;
  to: string[];
  requireTls: boolean;
  use8BitMime: boolean;
}

export type UpstreamOutcome =
  | { ok: true; response: string }
  | { ok: false; code: number; message: string; temporary: boolean; reason: string; oauthError?: string };

export interface UpstreamCredentials {
  user: string;
  pass: string;
}

export interface PooledConnection {
  conn: SMTPConnection;
  alive: boolean;
  lastUsed: number;
  /** OAuth2: the token it logged in with stops being usable then; the connection is not reused after (ms). */
  retireAt?: number;
}

/** The parts of nodemailer's connection state we read (internal, pinned to nodemailer 10). */
interface ConnectionInternals {
  _envelope?: { rejected?: string[]; rejectedErrors?: Array<{ responseCode?: number; response?: string; recipient?: string }> } | false;
}

const ENHANCED_RE = /^\d{3}[ -]([245]\.\d{1,3}\.\d{1,3})\s*/;

/** Upstream text for a client reply: first line, printable, short. */
export function upstreamText(response: string | undefined): string {
  if (!response) return '';
  const first = response.split(/\r?\n/)[0] ?? '';
  return first
    .replace(/^\d{3}[ -]/, '')
    .replace(/^[245]\.\d{1,3}\.\d{1,3}\s*/, '')
    .replace(/[^\x20-\x7e]/g, ' ')
    .slice(0, 200);
}

function enhancedOf(response: string | undefined, fallback: string): string {
  const m = response ? ENHANCED_RE.exec(response) : null;
  return m?.[1] ?? fallback;
}

/** Maps a nodemailer error to the reply the client gets. Exported for unit tests. */
export function mapUpstreamError(err: { code?: string; responseCode?: number; response?: string; message?: string; originalCode?: unknown }): UpstreamOutcome & { ok: false } {
  if (err.code === 'EAUTH') {
    // The relay's own login failed (a 535 included): the message is fine, the relay's credentials or token are not.
    // With OAuth2, nodemailer moves the token endpoint's error code (invalid_client, ...) to originalCode.
    const oauthError = typeof err.originalCode === 'string' && err.originalCode !== 'EAUTH' ? err.originalCode : undefined;
    return { ok: false, code: 451, temporary: true, reason: 'upstream_auth', message: '4.4.1 Upstream refused the relay credentials, try again later', ...(oauthError ? { oauthError } : {}) };
  }
  if (err.code === 'EREQUIRETLS') {
    return { ok: false, code: 550, temporary: false, reason: 'requiretls', message: '5.7.30 REQUIRETLS support required: the next hop cannot guarantee TLS' };
  }
  const rc = err.responseCode;
  if (rc && rc >= 500 && rc < 600) {
    const enh = enhancedOf(err.response, '5.0.0');
    return { ok: false, code: rc, temporary: false, reason: 'upstream_5xx', message: `${enh.startsWith('5') ? enh : '5.0.0'} Upstream refused the message: ${upstreamText(err.response)}`.trim() };
  }
  if (rc && rc >= 400 && rc < 500) {
    const enh = enhancedOf(err.response, '4.4.0');
    return { ok: false, code: 451, temporary: true, reason: 'upstream_4xx', message: `${enh.startsWith('4') ? enh : '4.4.0'} Upstream deferred the message, try again later: ${upstreamText(err.response)}`.trim() };
  }
  if (err.code === 'ETIMEDOUT') return { ok: false, code: 451, temporary: true, reason: 'upstream_timeout', message: '4.4.2 Upstream timed out, try again later' };
  return { ok: false, code: 451, temporary: true, reason: 'upstream_unavailable', message: '4.4.1 Upstream unavailable, try again later' };
}

function shuttingDown(): Error & { code: string } {
  return Object.assign(new Error('relay shutting down'), { code: 'ECONNECTION' });
}

/** The reply for a partially rejected envelope (see the header comment). */
export function partialRejection(errors: Array<{ responseCode?: number; response?: string; recipient?: string }>): UpstreamOutcome & { ok: false } {
  const temp = errors.find((e) => !e.responseCode || e.responseCode < 500);
  const first = temp ?? errors[0];
  const who = first?.recipient ? ` <${first.recipient}>` : '';
  if (temp) {
    return { ok: false, code: 451, temporary: true, reason: 'partial_4xx', message: `4.4.0 Upstream deferred recipient${who}; the message was relayed to no recipient, try again later` };
  }
  const code = first?.responseCode && first.responseCode >= 500 ? first.responseCode : 550;
  return { ok: false, code, temporary: false, reason: 'partial_5xx', message: `${enhancedOf(first?.response, '5.1.1')} Upstream refused recipient${who}: ${upstreamText(first?.response)}; the message was relayed to no recipient` };
}

type RejectedError = { responseCode?: number; response?: string; recipient?: string };

/** One recipient the upstream refused at RCPT, with its reply. */
export interface RecipientRejection {
  recipient: string;
  /** The reply code; absent if none came (then it is temporary). */
  code?: number;
  response: string;
}

/**
 * What one per-recipient transaction did. `answered`: the upstream took the message for
 * `accepted` (none if every RCPT was refused) and refused `rejected`. `failed`: the whole
 * transaction failed (no connection, MAIL FROM or the end of DATA refused, timeout);
 * `rejected` are recipients refused at RCPT before that, which keep their own reply.
 */
export type TransactionResult =
  | { kind: 'answered'; accepted: string[]; rejected: RecipientRejection[]; response: string }
  | { kind: 'failed'; code?: number; response: string; temporary: boolean; reason: string; message: string; rejected: RecipientRejection[] };

function toRejection(e: RejectedError): RecipientRejection {
  return { recipient: e.recipient ?? '', code: e.responseCode, response: e.response ?? '' };
}

export interface UpstreamOptions {
  config: RelayUpstream;
  hostname: string;
  ca?: Buffer;
  credentials?: UpstreamCredentials;
  /** OAuth2 login (XOAUTH2) as `config.auth.user`, tokens from this source (one per upstream, shared by its pool). */
  tokenSource?: TokenSource;
  /** Pool slots one owner (a user, or a client address) may hold at once; default: the whole pool. */
  perOwnerConcurrency?: number;
  /** Called when a lease was refused because its wait ran out (for the metric). */
  onAcquireTimeout?: (scope: 'owner' | 'pool') => void;
}

/** One pool connection, held by one transaction; release() gives it back (once). */
export interface UpstreamLease {
  readonly connection: PooledConnection;
  release(reusable: boolean): void;
}

export interface LeaseRequest {
  /** Who the transaction is for: `user:<name>` or `ip:<address>`; at most perOwnerConcurrency leases each. */
  owner: string;
  /** Longest wait for the owner's slot plus a pool slot, together. */
  waitMs: number;
  signal?: AbortSignal;
}

export type LeaseResult = { ok: true; lease: UpstreamLease } | (UpstreamOutcome & { ok: false });

/**
 * The answer when no slot came free in time: 451 with X.4.5 "mail system congestion"
 * (RFC 3463): the path to the next hop is busy, nothing is wrong with the message, and
 * the client's own queue retries it later. 4.3.2 would say this relay refuses mail at all.
 */
export function congestion(scope: 'owner' | 'pool'): UpstreamOutcome & { ok: false } {
  return scope === 'owner'
    ? { ok: false, code: 451, temporary: true, reason: 'upstream_busy_owner', message: '4.4.5 Too many messages in flight for this client, try again later' }
    : { ok: false, code: 451, temporary: true, reason: 'upstream_busy', message: '4.4.5 Upstream busy, try again later' };
}

/**
 * Runs one step of nodemailer's connection (connect, login) and settles on every way it
 * can end. nodemailer calls connect()'s callback only on success: a socket error, a close
 * or a timeout before the greeting is only emitted as an event. Waiting on the callback
 * alone leaked the pool slot, and after poolSize such failures every later message waited
 * forever (found by the upstream-failure soak).
 */
function settleStep(conn: SMTPConnection, start: (cb: (err?: Error) => void) => void, timeoutMs: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let settled = false;
    const settle = (err?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      conn.removeListener('error', onError);
      conn.removeListener('end', onEnd);
      if (err) reject(err);
      else resolve();
    };
    const onError = (err: Error) => settle(err);
    const onEnd = () => settle(Object.assign(new Error('upstream closed the connection'), { code: 'ECONNECTION' }));
    const timer = setTimeout(() => settle(Object.assign(new Error('upstream did not answer in time'), { code: 'ETIMEDOUT' })), timeoutMs);
    conn.on('error', onError);
    conn.on('end', onEnd);
    start(settle);
  });
}

export class UpstreamPool {
  private idle: PooledConnection[] = [];
  private readonly slots: Slots;
  private readonly perOwner: KeyedSlots;
  private closed = false;
  private readonly maxIdleMs = 30_000;
  credentials: UpstreamCredentials | undefined;
  ca: Buffer | undefined;

  constructor(private readonly opts: UpstreamOptions) {
    this.credentials = opts.credentials;
    this.ca = opts.ca;
    const size = opts.config.poolSize ?? 10;
    this.slots = new Slots(size);
    this.perOwner = new KeyedSlots(Math.min(size, opts.perOwnerConcurrency ?? size));
  }

  private connectionOptions(): ConstructorParameters<typeof SMTPConnection>[0] {
    const c = this.opts.config;
    const tlsOptions: tls.ConnectionOptions = {
      rejectUnauthorized: true,
      minVersion: 'TLSv1.2',
      servername: c.servername ?? (c.host.match(/^[\d.]+$|:/) ? undefined : c.host),
      // System roots plus the optional extra CA (passing `ca` alone would replace the roots).
      ca: this.ca ? [...tls.rootCertificates, this.ca.toString('utf8')] : undefined,
    };
    if (c.servername) tlsOptions.checkServerIdentity = (_host, cert) => tls.checkServerIdentity(c.servername as string, cert);
    return {
      host: c.host,
      port: c.port,
      secure: c.tls === 'implicit',
      requireTLS: c.tls === 'starttls',
      ignoreTLS: c.tls === 'none-insecure',
      name: this.opts.hostname,
      connectionTimeout: c.connectTimeoutMs ?? 10_000,
      greetingTimeout: c.connectTimeoutMs ?? 10_000,
      socketTimeout: c.timeoutMs ?? 60_000,
      tls: tlsOptions,
      logger: false,
    };
  }

  private async connect(): Promise<PooledConnection> {
    const conn = new SMTPConnection(this.connectionOptions());
    const pooled: PooledConnection = { conn, alive: true, lastUsed: Date.now() };
    conn.on('error', () => (pooled.alive = false));
    conn.on('end', () => (pooled.alive = false));
    const stepTimeoutMs = 2 * (this.opts.config.connectTimeoutMs ?? 10_000);
    try {
      await settleStep(conn, (cb) => conn.connect(() => cb()), stepTimeoutMs);
      const creds = this.credentials;
      const source = this.opts.tokenSource;
      const oauthUser = this.opts.config.auth?.user;
      if (source && oauthUser) {
        // A connection lives no longer than the token it logged in with: sessions are not
        // kept past the token's expiry (a server may end them then), and so tokens keep
        // being refreshed while mail flows over long-lived pool connections.
        const token = await source.get().catch((err: unknown) => {
          throw Object.assign(new Error('upstream token request failed'), { code: 'EAUTH', originalCode: (err as { code?: unknown }).code });
        });
        pooled.retireAt = token.usableUntil;
        await settleStep(conn, (cb) => conn.login({ user: oauthUser, oauth2: nodemailerOAuth2(source, oauthUser) } as never, (err) => cb(err ?? undefined)), stepTimeoutMs);
      } else if (creds) await settleStep(conn, (cb) => conn.login({ user: creds.user, pass: creds.pass }, (err) => cb(err ?? undefined)), stepTimeoutMs);
    } catch (err) {
      pooled.alive = false;
      try {
        conn.close();
      } catch {
        // already closed
      }
      throw err;
    }
    return pooled;
  }

  /**
   * A pool connection for one transaction: first a slot of the owner (so one user or client
   * address cannot hold the whole pool), then a pool slot, both within waitMs together.
   * Connections are only opened while holding a pool slot, so open connections never exceed
   * poolSize (a connection is either idle or held by exactly one lease).
   */
  async lease(req: LeaseRequest): Promise<LeaseResult> {
    const deadline = Date.now() + req.waitMs;
    if (this.closed) return mapUpstreamError(shuttingDown());
    const ownerRelease = await this.perOwner.acquire(req.owner, req.waitMs, req.signal);
    if (!ownerRelease) return this.refused('owner', req.signal);
    const slotRelease = await this.slots.acquire(deadline - Date.now(), req.signal);
    if (!slotRelease) {
      ownerRelease();
      return this.refused('pool', req.signal);
    }
    let connection: PooledConnection;
    try {
      connection = await this.takeConnection();
    } catch (err) {
      slotRelease();
      ownerRelease();
      return mapUpstreamError(err as { code?: string; originalCode?: unknown });
    }
    let released = false;
    return {
      ok: true,
      lease: {
        connection,
        release: (reusable) => {
          if (released) return;
          released = true;
          this.putBack(connection, reusable);
          slotRelease();
          ownerRelease();
        },
      },
    };
  }

  private refused(scope: 'owner' | 'pool', signal?: AbortSignal): UpstreamOutcome & { ok: false } {
    if (this.closed) return mapUpstreamError(shuttingDown());
    if (signal?.aborted) return { ok: false, code: 451, temporary: true, reason: 'aborted', message: '4.3.0 Transaction aborted' };
    this.opts.onAcquireTimeout?.(scope);
    return congestion(scope);
  }

  /** An idle connection that is still fresh, or a new one. */
  private async takeConnection(): Promise<PooledConnection> {
    while (this.idle.length) {
      const c = this.idle.pop() as PooledConnection;
      const now = Date.now();
      if (c.alive && now - c.lastUsed < this.maxIdleMs && (c.retireAt === undefined || now < c.retireAt)) return c;
      this.discard(c);
    }
    if (this.closed) throw shuttingDown();
    return this.connect();
  }

  private discard(c: PooledConnection): void {
    c.alive = false;
    try {
      c.conn.close();
    } catch {
      // already closed
    }
  }

  private putBack(c: PooledConnection, reusable: boolean): void {
    if (!reusable || !c.alive || this.closed) return this.discard(c);
    c.lastUsed = Date.now();
    this.idle.push(c);
  }

  /**
   * One upstream transaction. `body` must not be flowing yet: the first time nodemailer
   * starts reading it (after every RCPT reply is in) the envelope result is checked.
   * `abort` (from the caller) drops the transaction before the end-of-data dot.
   * The lease is released when the transaction ends, whatever the outcome.
   */
  async send(lease: UpstreamLease, envelope: UpstreamEnvelope, body: Readable, signal: AbortSignal): Promise<UpstreamOutcome> {
    const pooled = lease.connection;
    const gate = new PassThrough();
    body.on('error', (err) => gate.destroy(err));
    body.pipe(gate);
    return new Promise<UpstreamOutcome>((resolve) => {
      let done = false;
      const finish = (outcome: UpstreamOutcome, reusable: boolean) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        if (!reusable) gate.destroy();
        lease.release(reusable);
        resolve(outcome);
      };
      const timer = setTimeout(() => {
        finish({ ok: false, code: 451, temporary: true, reason: 'upstream_timeout', message: '4.4.2 Upstream timed out, try again later' }, false);
      }, this.opts.config.timeoutMs ?? 60_000);
      const onAbort = () => finish({ ok: false, code: 451, temporary: true, reason: 'aborted', message: '4.3.0 Transaction aborted' }, false);
      signal.addEventListener('abort', onAbort);
      if (signal.aborted) return onAbort();

      let partial: (UpstreamOutcome & { ok: false }) | null = null;
      gate.once('resume', () => {
        const env = (pooled.conn as unknown as ConnectionInternals)._envelope;
        if (env && env.rejected && env.rejected.length > 0) {
          const outcome = partialRejection(env.rejectedErrors ?? []);
          partial = outcome;
          gate.destroy(new Error('partial rejection'));
          finish(outcome, false);
        }
      });
      pooled.conn.send(
        { from: envelope.from, to: envelope.to, requireTLSExtensionEnabled: envelope.requireTls || undefined, use8BitMime: envelope.use8BitMime },
        gate,
        (err, info) => {
          if (partial) return;
          if (err) return finish(mapUpstreamError(err as { code?: string }), false);
          if (info && info.rejected.length > 0) {
            // Cannot happen (aborted on resume), but never ack a partial delivery as complete.
            return finish(partialRejection(info.rejectedErrors ?? []), false);
          }
          finish({ ok: true, response: info?.response ?? '' }, true);
        },
      );
    });
  }

  /**
   * One upstream transaction for the durable queue, per recipient: unlike send(), a
   * rejected RCPT does not abort the transaction; the message goes to the recipients the
   * upstream accepted, and the result names every recipient's fate (queue/recipient-results.ts
   * decides what is retried and what bounces). `body` is read from the start of the message.
   * The lease is released when the transaction ends, whatever the outcome.
   */
  async sendPerRecipient(lease: UpstreamLease, envelope: UpstreamEnvelope, body: Readable, signal: AbortSignal): Promise<TransactionResult> {
    const pooled = lease.connection;
    const internals = pooled.conn as unknown as ConnectionInternals;
    const rejectedSoFar = (): RecipientRejection[] => {
      const env = internals._envelope;
      return env && env.rejectedErrors ? env.rejectedErrors.map(toRejection) : [];
    };
    return new Promise<TransactionResult>((resolve) => {
      let done = false;
      const finish = (result: TransactionResult, reusable: boolean) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        if (!reusable) body.destroy();
        lease.release(reusable);
        resolve(result);
      };
      const failed = (err: { code?: string; responseCode?: number; response?: string; message?: string }): TransactionResult => {
        const mapped = mapUpstreamError(err);
        return { kind: 'failed', code: err.responseCode, response: err.response ?? '', temporary: mapped.temporary, reason: mapped.reason, message: mapped.message, rejected: rejectedSoFar() };
      };
      const timer = setTimeout(() => finish(failed({ code: 'ETIMEDOUT' }), false), this.opts.config.timeoutMs ?? 60_000);
      const onAbort = () => finish({ kind: 'failed', response: '', temporary: true, reason: 'aborted', message: '4.3.0 Transaction aborted', rejected: [] }, false);
      signal.addEventListener('abort', onAbort);
      if (signal.aborted) return onAbort();
      body.once('error', (err) => finish(failed({ code: 'ESTREAM', message: err.message }), false));
      pooled.conn.send(
        { from: envelope.from, to: envelope.to, requireTLSExtensionEnabled: envelope.requireTls || undefined, use8BitMime: envelope.use8BitMime },
        body,
        (err, info) => {
          const e = err as (Error & { code?: string; responseCode?: number; response?: string; command?: string; rejectedErrors?: RejectedError[] }) | null;
          // Every recipient refused: an answer per recipient, no transaction happened.
          if (e && e.code === 'EENVELOPE' && e.command === 'RCPT TO' && e.rejectedErrors?.length) return finish({ kind: 'answered', accepted: [], rejected: e.rejectedErrors.map(toRejection), response: '' }, false);
          if (e) return finish(failed(e), false);
          const rejected = ((info?.rejectedErrors ?? []) as RejectedError[]).map(toRejection);
          finish({ kind: 'answered', accepted: (info?.accepted ?? []).map(String), rejected, response: info?.response ?? '' }, true);
        },
      );
    });
  }

  close(): void {
    this.closed = true;
    for (const c of this.idle.splice(0)) this.discard(c);
    this.slots.close(); // waiting leases end now; held ones are discarded as they come back
  }
}
