// A small SMTP server on net/tls whose faults are switched on one by one, so
// the prober can be shown each misconfiguration it must name. The healthy
// configuration (no faults) is a well-configured TLS 1.2/1.3 submission server.
import { constants, randomBytes } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';

import { TLS_PROFILES } from '../../../src/common/tls-profiles.js';

/** Mozilla "intermediate", the same lists the relay serves (TLS 1.3 suites are always on). */
export const GOOD_CIPHERS = TLS_PROFILES.intermediate.tls12Ciphers.join(':');
export const GOOD_GROUPS = TLS_PROFILES.intermediate.groups.join(':');

export interface BrokenSmtpOptions {
  mode: 'starttls' | 'implicit';
  key: string;
  /** Certificate PEM as served (leaf, optionally followed by intermediates). */
  cert: string;
  /** Overrides of the good TLS settings (minVersion, ciphers, ...). */
  tls?: Partial<tls.SecureContextOptions>;
  /** Do not advertise or accept STARTTLS. */
  noStarttls?: boolean;
  /** Advertise and accept AUTH before TLS. */
  authBeforeTls?: boolean;
  /** Keep commands pipelined behind STARTTLS and run them inside TLS (CVE-2011-0411 class). */
  injectionVulnerable?: boolean;
  /** On an implicit port: greet in plaintext instead of starting TLS. */
  plaintext?: boolean;
  /** Accept connections and never say anything. */
  silent?: boolean;
  /** Send something that is not SMTP as the banner. */
  garbageBanner?: boolean;
  /** Allow client-initiated renegotiation (Node/OpenSSL allow it unless told otherwise). */
  allowRenegotiation?: boolean;
  /** Accept MAIL and RCPT from anyone to anywhere without AUTH (an open relay). */
  openRelay?: boolean;
  /** Refuse the client's address at the greeting (554) and hang up, as a relay listener does outside allowedNetworks. */
  refuseClient?: boolean;
}

export interface RunningServer {
  port: number;
  /** Every command line received, over all sessions (AUTH arguments cut off). */
  commands: string[];
  /**
   * Serves another certificate from the next connection on, keeping the session ticket keys
   * (as Postfix, HAProxy or nginx with configured ticket keys do over a reload): sessions made
   * with the old certificate still resume.
   */
  setCertificate(key: string, cert: string): void;
  close(): Promise<void>;
}

const HOST = 'mail.test';

export async function startBrokenSmtp(opts: BrokenSmtpOptions): Promise<RunningServer> {
  const ticketKeys = randomBytes(48);
  const contextFor = (key: string, cert: string) =>
    tls.createSecureContext({
      key,
      cert,
      minVersion: 'TLSv1.2',
      ciphers: GOOD_CIPHERS,
      ecdhCurve: GOOD_GROUPS,
      secureOptions: opts.allowRenegotiation ? 0 : constants.SSL_OP_NO_RENEGOTIATION,
      ticketKeys,
      ...opts.tls,
    });
  let secureContext = contextFor(opts.key, opts.cert);
  const sockets = new Set<net.Socket>();
  const commands: string[] = [];
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    if (opts.silent) return;
    if (opts.garbageBanner) {
      socket.write('HTTP/1.1 400 Bad Request\r\n\x00\xff\xfe\r\n');
      return;
    }
    if (opts.mode === 'implicit' && !opts.plaintext) {
      const secure = upgrade(socket, secureContext, sockets);
      secure.once('secure', () => new Session(secure, opts, secureContext, sockets, commands, true).greet());
      return;
    }
    new Session(socket, opts, secureContext, sockets, commands, false).greet();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    commands,
    setCertificate: (key, cert) => {
      secureContext = contextFor(key, cert);
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

function upgrade(socket: net.Socket, secureContext: tls.SecureContext, sockets: Set<net.Socket>): tls.TLSSocket {
  const secure = new tls.TLSSocket(socket, { isServer: true, secureContext });
  sockets.add(secure);
  secure.on('error', () => secure.destroy());
  secure.on('close', () => sockets.delete(secure));
  return secure;
}

class Session {
  private buffer = '';
  private readonly onData = (chunk: Buffer) => {
    this.buffer += chunk.toString('latin1');
    this.drain();
  };

  constructor(
    private socket: net.Socket,
    private readonly opts: BrokenSmtpOptions,
    private readonly secureContext: tls.SecureContext,
    private readonly sockets: Set<net.Socket>,
    private readonly commands: string[],
    private inTls: boolean,
  ) {
    socket.on('data', this.onData);
  }

  greet(): void {
    if (this.opts.refuseClient) {
      this.socket.end('554 5.7.1 Relay access denied for this client address\r\n');
      return;
    }
    this.socket.write(`220 ${HOST} ESMTP broken-smtp\r\n`);
  }

  private drain(): void {
    let nl: number;
    while ((nl = this.buffer.indexOf('\n')) >= 0) {
      const line = this.buffer.slice(0, nl).replace(/\r$/, '');
      this.buffer = this.buffer.slice(nl + 1);
      if (this.handle(line) === 'upgraded') return;
    }
  }

  private handle(line: string): 'upgraded' | undefined {
    const verb = /^[A-Za-z]+/.exec(line)?.[0].toUpperCase() ?? '';
    this.commands.push(verb === 'AUTH' ? 'AUTH' : line);
    const reply = (text: string) => this.socket.write(`${text}\r\n`);
    switch (verb) {
      case 'EHLO': {
        const ext = ['PIPELINING', '8BITMIME'];
        if (!this.inTls && !this.opts.noStarttls) ext.push('STARTTLS');
        if (this.inTls || this.opts.authBeforeTls) ext.push('AUTH PLAIN LOGIN');
        reply([`250-${HOST}`, ...ext.map((e, i) => `250${i === ext.length - 1 ? ' ' : '-'}${e}`)].join('\r\n'));
        return;
      }
      case 'HELO':
        return void reply(`250 ${HOST}`);
      case 'STARTTLS': {
        if (this.inTls || this.opts.noStarttls) return void reply('502 5.5.1 STARTTLS not available');
        reply('220 2.0.0 Ready to start TLS');
        const pipelined = this.buffer;
        this.buffer = '';
        this.socket.off('data', this.onData);
        const secure = upgrade(this.socket, this.secureContext, this.sockets);
        this.socket = secure;
        this.inTls = true;
        secure.on('data', this.onData);
        secure.once('secure', () => {
          // A correct server throws away what was pipelined behind STARTTLS.
          if (this.opts.injectionVulnerable && pipelined) {
            this.buffer = pipelined + this.buffer;
            this.drain();
          }
        });
        return 'upgraded';
      }
      case 'AUTH':
        if (!this.inTls && !this.opts.authBeforeTls) return void reply('530 5.7.0 Must issue a STARTTLS command first');
        return void reply(this.opts.authBeforeTls && !this.inTls ? '235 2.7.0 Authentication successful' : '535 5.7.8 Authentication credentials invalid');
      case 'MAIL':
        // A submission server wants AUTH before a transaction; the open relay takes anyone.
        return void reply(this.opts.openRelay ? '250 2.1.0 Ok' : '530 5.7.0 Authentication required');
      case 'RCPT':
        return void reply(this.opts.openRelay ? '250 2.1.5 Ok' : '503 5.5.1 MAIL first');
      case 'DATA':
        return void reply(this.opts.openRelay ? '354 End data with <CR><LF>.<CR><LF>' : '503 5.5.1 MAIL first');
      case 'NOOP':
      case 'RSET':
        return void reply('250 2.0.0 OK');
      case 'QUIT':
        reply('221 2.0.0 Bye');
        this.socket.end();
        return;
      default:
        return void reply('502 5.5.2 Command not recognized');
    }
  }
}
