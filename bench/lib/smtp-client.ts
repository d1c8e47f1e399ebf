// A small, tight SMTP submission client for load: one connection per message,
// EHLO, STARTTLS (or implicit TLS), EHLO, AUTH PLAIN, MAIL, RCPT, DATA, QUIT.
// Optional TLS session resumption: the last session ticket is offered on the next connection.
import net from 'node:net';
import tls from 'node:tls';

export interface SubmitOptions {
  host: string;
  port: number;
  mode: 'starttls' | 'implicit';
  ca: string;
  servername: string;
  user: string;
  pass: string;
  from: string;
  to: string;
  /** The message, CRLF line ends, without the terminating dot. */
  body: string;
  timeoutMs?: number;
  /** A TLS session to resume (from a previous submit's result). */
  session?: Buffer;
  /** Called with each step's name when its reply arrived (for finding where time goes). */
  trace?: (step: string) => void;
}

export interface SubmitResult {
  ms: number;
  resumed: boolean;
  session?: Buffer;
  /** SHA-256 fingerprint of the served leaf, colon-separated upper hex (as node reports it). */
  fingerprint256?: string;
}

/** Reads SMTP replies (multi-line aware) from a socket. */
export class ReplyReader {
  private buf = '';
  private waiting: ((r: { code: number; text: string }) => void) | undefined;
  private failed: ((e: Error) => void) | undefined;
  private error: Error | undefined;
  private ready: { code: number; text: string }[] = [];

  attach(sock: net.Socket): void {
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      this.buf += d;
      for (;;) {
        // A complete reply ends with a line "NNN text\r\n" (space after the code).
        const m = /(^|\r\n)(\d{3}) [^\r\n]*\r\n/.exec(this.buf);
        if (!m) break;
        const end = m.index + m[0].length;
        const text = this.buf.slice(0, end);
        this.buf = this.buf.slice(end);
        this.push({ code: Number(m[2]), text });
      }
    });
    sock.on('error', (e) => this.fail(e));
    sock.on('close', () => this.fail(new Error('connection closed')));
  }

  private push(r: { code: number; text: string }): void {
    const w = this.waiting;
    this.waiting = undefined;
    if (w) w(r);
    else this.ready.push(r);
  }

  private fail(e: Error): void {
    this.error ??= e;
    const f = this.failed;
    this.waiting = undefined;
    this.failed = undefined;
    f?.(e);
  }

  next(): Promise<{ code: number; text: string }> {
    const r = this.ready.shift();
    if (r) return Promise.resolve(r);
    if (this.error) return Promise.reject(this.error);
    return new Promise((resolve, reject) => {
      this.waiting = resolve;
      this.failed = reject;
    });
  }

  /** Detach from the plaintext socket before STARTTLS (anything buffered is a protocol error). */
  reset(): void {
    this.buf = '';
    this.ready = [];
  }
}

async function expect(reader: ReplyReader, code: number, what: string, trace?: (step: string) => void): Promise<void> {
  const r = await reader.next();
  if (r.code !== code) throw new Error(`${what}: expected ${code}, got ${r.text.trim()}`);
  trace?.(what);
}

/** An authenticated session: TLS up, AUTH accepted, nothing else sent yet. */
export interface AuthenticatedSession {
  secure: tls.TLSSocket;
  reader: ReplyReader;
  resumed: boolean;
  fingerprint256?: string;
  /** The latest TLS session (ticket) the server sent, if any. */
  session(): Buffer | undefined;
  /** Closes both sockets (the TLS one and, with STARTTLS, the plaintext one under it). */
  destroy(): void;
}

/**
 * Banner, EHLO, STARTTLS (or implicit TLS), EHLO, AUTH PLAIN. `sockets` always holds the
 * socket in use, so the caller's timeout can destroy it mid-handshake.
 */
export async function openAuthenticated(o: Omit<SubmitOptions, 'body'>, sockets: { sock?: net.Socket; secure?: tls.TLSSocket } = {}): Promise<AuthenticatedSession> {
  let session: Buffer | undefined;
  const tlsOpts = (socket?: net.Socket): tls.ConnectionOptions => ({ socket, host: o.host, port: o.port, ca: o.ca, servername: o.servername, session: o.session, minVersion: 'TLSv1.2' });
  const handshake = (s: tls.TLSSocket) =>
    new Promise<void>((resolve, reject) => {
      s.once('secureConnect', () => resolve());
      s.once('error', reject);
      s.on('session', (b: Buffer) => (session = b));
    });
  let reader = new ReplyReader();
  let secure: tls.TLSSocket;
  if (o.mode === 'implicit') {
    secure = sockets.secure = tls.connect(tlsOpts());
    secure.setNoDelay(true);
    await handshake(secure);
    reader.attach(secure);
    await expect(reader, 220, 'banner', o.trace);
    secure.write('EHLO bench.client\r\n');
    await expect(reader, 250, 'EHLO', o.trace);
  } else {
    // No Nagle: small commands go out at once (else delayed ACKs add ~40 ms per round trip).
    const sock = (sockets.sock = net.connect({ port: o.port, host: o.host, noDelay: true }));
    reader.attach(sock);
    await expect(reader, 220, 'banner', o.trace);
    sock.write('EHLO bench.client\r\n');
    await expect(reader, 250, 'EHLO', o.trace);
    sock.write('STARTTLS\r\n');
    await expect(reader, 220, 'STARTTLS', o.trace);
    sock.removeAllListeners('data');
    sock.removeAllListeners('close');
    sock.removeAllListeners('error');
    reader.reset();
    secure = sockets.secure = tls.connect(tlsOpts(sock));
    await handshake(secure);
    o.trace?.('TLS handshake');
    reader = new ReplyReader();
    reader.attach(secure);
    secure.write('EHLO bench.client\r\n');
    await expect(reader, 250, 'EHLO after STARTTLS', o.trace);
  }
  const fingerprint256 = secure.getPeerCertificate().fingerprint256;
  const resumed = secure.isSessionReused();
  secure.write(`AUTH PLAIN ${Buffer.from(`\0${o.user}\0${o.pass}`).toString('base64')}\r\n`);
  await expect(reader, 235, 'AUTH', o.trace);
  return {
    secure,
    reader,
    resumed,
    fingerprint256,
    session: () => session,
    destroy: () => {
      secure.destroy();
      sockets.sock?.destroy();
    },
  };
}

export async function submit(o: SubmitOptions): Promise<SubmitResult> {
  const t0 = performance.now();
  const timeoutMs = o.timeoutMs ?? 30_000;
  const sockets: { sock?: net.Socket; secure?: tls.TLSSocket } = {};
  const timer = setTimeout(() => (sockets.secure ?? sockets.sock)?.destroy(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
  try {
    const s = await openAuthenticated(o, sockets);
    const { secure, reader } = s;
    // Pipelining-free on purpose: one command, one reply, as simple clients do.
    secure.write(`MAIL FROM:<${o.from}>\r\n`);
    await expect(reader, 250, 'MAIL', o.trace);
    secure.write(`RCPT TO:<${o.to}>\r\n`);
    await expect(reader, 250, 'RCPT', o.trace);
    secure.write('DATA\r\n');
    await expect(reader, 354, 'DATA', o.trace);
    secure.write(`${o.body.replace(/\r\n\./g, '\r\n..')}\r\n.\r\n`);
    await expect(reader, 250, 'end of DATA', o.trace);
    const ms = performance.now() - t0;
    secure.write('QUIT\r\n');
    await reader.next().catch(() => undefined);
    // Wait briefly for a TLS 1.3 ticket that may arrive after the handshake.
    return { ms, resumed: s.resumed, session: s.session(), fingerprint256: s.fingerprint256 };
  } finally {
    clearTimeout(timer);
    sockets.secure?.destroy();
    sockets.sock?.destroy();
  }
}

export function message(bytes: number, subject: string): string {
  const line = 'x'.repeat(76) + '\r\n';
  return `From: <app@example.com>\r\nTo: <rcpt@dest.example>\r\nSubject: ${subject}\r\nMessage-ID: <${subject}.${Math.random().toString(36).slice(2)}@example.com>\r\n\r\n${line.repeat(Math.max(1, Math.ceil(bytes / line.length)))}`.replace(/\r\n$/, '');
}

export interface LoadResult {
  ok: number;
  failed: number;
  errors: string[];
  latenciesMs: number[];
  resumed: number;
  elapsedS: number;
}

/** C workers submitting messages back to back until the deadline (or until `count` messages were started). */
export async function runLoad(base: Omit<SubmitOptions, 'session' | 'body'>, opts: { connections: number; seconds: number; bytes: number; resume: boolean; stop?: () => boolean }): Promise<LoadResult> {
  const res: LoadResult = { ok: 0, failed: 0, errors: [], latenciesMs: [], resumed: 0, elapsedS: 0 };
  const deadline = performance.now() + opts.seconds * 1000;
  const body = message(opts.bytes, 'bench');
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: opts.connections }, async () => {
      let session: Buffer | undefined;
      while (performance.now() < deadline && !opts.stop?.()) {
        try {
          const r = await submit({ ...base, body, session: opts.resume ? session : undefined });
          res.ok++;
          res.latenciesMs.push(r.ms);
          if (r.resumed) res.resumed++;
          if (r.session) session = r.session;
        } catch (err) {
          res.failed++;
          if (res.errors.length < 5) res.errors.push(err instanceof Error ? err.message : String(err));
        }
      }
    }),
  );
  res.elapsedS = (performance.now() - t0) / 1000;
  return res;
}
