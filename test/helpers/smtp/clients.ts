// Small real-client helpers for relay tests: nodemailer, and a raw socket for exact replies.
import net from 'node:net';
import tls from 'node:tls';
import nodemailer from 'nodemailer';

export function message(bytes = 1024, subject = 'test'): string {
  const line = 'x'.repeat(76) + '\r\n';
  return `From: <app@example.com>\r\nTo: <rcpt@dest.example>\r\nSubject: ${subject}\r\nMessage-ID: <${subject}@example.com>\r\n\r\n${line.repeat(Math.max(1, Math.ceil(bytes / line.length)))}`;
}

export interface SendOptions {
  port: number;
  /** Default 127.0.0.1 (the node e2e tests send to a ClusterIP). */
  host?: string;
  implicit?: boolean;
  ca: string;
  user?: string;
  pass?: string;
  from?: string;
  to?: string[];
  raw?: string;
  servername?: string;
  /** Source address, e.g. 127.0.0.2: another client IP on loopback (per-IP limits). */
  localAddress?: string;
}

export async function sendWithNodemailer(o: SendOptions): Promise<{ ok: boolean; response?: string; code?: number; error?: string }> {
  const transport = nodemailer.createTransport({
    host: o.host ?? '127.0.0.1',
    port: o.port,
    secure: o.implicit === true,
    requireTLS: o.implicit !== true,
    auth: o.user ? { user: o.user, pass: o.pass ?? '' } : undefined,
    tls: { ca: o.ca, servername: o.servername ?? 'relay.test.example' },
    ...(o.localAddress ? { localAddress: o.localAddress } : {}),
    connectionTimeout: 5000,
    greetingTimeout: 5000,
    socketTimeout: 15000,
  });
  try {
    const info = await transport.sendMail({ envelope: { from: o.from ?? 'app@example.com', to: o.to ?? ['rcpt@dest.example'] }, raw: o.raw ?? message() });
    return { ok: true, response: info.response };
  } catch (err) {
    const e = err as { responseCode?: number; response?: string; message: string };
    return { ok: false, code: e.responseCode, response: e.response, error: e.message };
  } finally {
    transport.close();
  }
}

/** A line-oriented SMTP conversation over a raw socket, upgradeable to TLS. */
export class RawSmtp {
  private buf = '';
  private waiters: Array<() => void> = [];
  socket: net.Socket | tls.TLSSocket;

  private constructor(socket: net.Socket | tls.TLSSocket) {
    this.socket = socket;
    this.attach();
  }

  private attach(): void {
    this.socket.on('data', (d: Buffer) => {
      this.buf += d.toString('latin1');
      this.waiters.splice(0).forEach((w) => w());
    });
    this.socket.on('error', () => undefined);
    this.socket.on('close', () => this.waiters.splice(0).forEach((w) => w()));
  }

  /** `at.host`: the relay's address (default 127.0.0.1); `at.localAddress`: the client's (another loopback address = another client). */
  static async connect(port: number, implicitCa?: string, at: { host?: string; localAddress?: string } = {}): Promise<RawSmtp> {
    const where = { host: at.host ?? '127.0.0.1', port, ...(at.localAddress ? { localAddress: at.localAddress } : {}) };
    const socket = implicitCa ? tls.connect({ ...where, ca: implicitCa, servername: 'relay.test.example' }) : net.connect(where);
    await new Promise<void>((resolve, reject) => {
      socket.once(implicitCa ? 'secureConnect' : 'connect', () => resolve());
      socket.once('error', reject);
    });
    return new RawSmtp(socket);
  }

  /** Next complete reply (multi-line aware), or null if the socket closed first. */
  async reply(timeoutMs = 5000): Promise<string | null> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const m = /^(?:\d{3}-[^\n]*\n)*\d{3}(?: [^\n]*)?\r?\n/.exec(this.buf);
      if (m) {
        this.buf = this.buf.slice(m[0].length);
        return m[0];
      }
      if (this.socket.destroyed || Date.now() > until) return null;
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, Math.max(1, Math.min(100, until - Date.now())));
      });
    }
  }

  /** Whatever arrives within `ms` (to prove that nothing does). */
  async pending(ms: number): Promise<string> {
    await new Promise((r) => setTimeout(r, ms));
    const out = this.buf;
    this.buf = '';
    return out;
  }

  write(text: string): void {
    this.socket.write(text);
  }

  async cmd(line: string): Promise<string | null> {
    this.write(`${line}\r\n`);
    return this.reply();
  }

  async starttls(ca: string): Promise<tls.TLSSocket> {
    const plain = this.socket;
    plain.removeAllListeners('data');
    const secure = tls.connect({ socket: plain as net.Socket, ca, servername: 'relay.test.example' });
    await new Promise<void>((resolve, reject) => {
      secure.once('secureConnect', () => resolve());
      secure.once('error', reject);
    });
    this.socket = secure;
    this.buf = '';
    this.attach();
    return secure;
  }

  close(): void {
    this.socket.destroy();
  }
}
