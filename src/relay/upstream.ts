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
import { PassThrough, type Readable } from 'node:stream';
import tls from 'node:tls';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import type { RelayConfig } from '../common/relay-config.js';

export interface UpstreamEnvelope {
  from: string;
  to: string[];
  requireTls: boolean;
  use8BitMime: boolean;
}

export type UpstreamOutcome =
  | { ok: true; response: string }
  | { ok: false; code: number; message: string; temporary: boolean; reason: string };

export interface UpstreamCredentials {
  user: string;
  pass: string;
}

interface PooledConnection {
  conn: SMTPConnection;
  alive: boolean;
  lastUsed: number;
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
export function mapUpstreamError(err: { code?: string; responseCode?: number; response?: string; message?: string }): UpstreamOutcome & { ok: false } {
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
  if (err.code === 'EAUTH') return { ok: false, code: 451, temporary: true, reason: 'upstream_auth', message: '4.4.1 Upstream refused the relay credentials, try again later' };
  if (err.code === 'ETIMEDOUT') return { ok: false, code: 451, temporary: true, reason: 'upstream_timeout', message: '4.4.2 Upstream timed out, try again later' };
  return { ok: false, code: 451, temporary: true, reason: 'upstream_unavailable', message: '4.4.1 Upstream unavailable, try again later' };
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

export interface UpstreamOptions {
  config: RelayConfig['upstream'];
  hostname: string;
  ca?: Buffer;
  credentials?: UpstreamCredentials;
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
  private open = 0;
  private readonly waiters: Array<() => void> = [];
  private closed = false;
  private readonly maxIdleMs = 30_000;
  credentials: UpstreamCredentials | undefined;
  ca: Buffer | undefined;

  constructor(private readonly opts: UpstreamOptions) {
    this.credentials = opts.credentials;
    this.ca = opts.ca;
  }

  private get size(): number {
    return this.opts.config.poolSize ?? 10;
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
      if (creds) await settleStep(conn, (cb) => conn.login({ user: creds.user, pass: creds.pass }, (err) => cb(err ?? undefined)), stepTimeoutMs);
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

  private async acquire(): Promise<PooledConnection> {
    for (;;) {
      if (this.closed) throw Object.assign(new Error('relay shutting down'), { code: 'ECONNECTION' });
      while (this.idle.length) {
        const c = this.idle.pop() as PooledConnection;
        if (c.alive && Date.now() - c.lastUsed < this.maxIdleMs) return c;
        this.discard(c);
      }
      if (this.open < this.size) {
        this.open++;
        try {
          return await this.connect();
        } catch (err) {
          this.open--;
          this.wake();
          throw err;
        }
      }
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  private wake(): void {
    this.waiters.shift()?.();
  }

  private discard(c: PooledConnection): void {
    c.alive = false;
    try {
      c.conn.close();
    } catch {
      // already closed
    }
    this.open--;
    this.wake();
  }

  private release(c: PooledConnection, reusable: boolean): void {
    if (!reusable || !c.alive || this.closed) return this.discard(c);
    c.lastUsed = Date.now();
    this.idle.push(c);
    this.wake();
  }

  /**
   * One upstream transaction. `body` must not be flowing yet: the first time nodemailer
   * starts reading it (after every RCPT reply is in) the envelope result is checked.
   * `abort` (from the caller) drops the transaction before the end-of-data dot.
   */
  async send(envelope: UpstreamEnvelope, body: Readable, signal: AbortSignal): Promise<UpstreamOutcome> {
    let pooled: PooledConnection;
    try {
      pooled = await this.acquire();
    } catch (err) {
      return mapUpstreamError(err as { code?: string });
    }
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
        this.release(pooled, reusable);
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

  close(): void {
    this.closed = true;
    for (const c of this.idle.splice(0)) this.discard(c);
    for (const w of this.waiters.splice(0)) w();
  }
}
