// One smtp-server instance per listener, with the few behaviours smtp-server does not
// offer as options, added per connection:
// - before TLS on a listener that requires it: AUTH -> 538 5.7.11, MAIL/RCPT/DATA -> 530 5.7.0,
//   and AUTH is not advertised in the plaintext EHLO;
// - a reply text that starts with an enhanced status code keeps exactly that code.
import type net from 'node:net';
import type tls from 'node:tls';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';

export const ENCRYPTION_REQUIRED_AUTH = '5.7.11 Encryption required for requested authentication mechanism';
export const STARTTLS_FIRST = '5.7.0 Must issue a STARTTLS command first';

const ENHANCED_PREFIX = /^[245]\.\d{1,3}\.\d{1,3} /;
const TRANSACTION_COMMANDS = new Set(['MAIL', 'RCPT', 'DATA', 'BDAT']);

export interface ListenerServerOptions extends SMTPServerOptions {
  /** STARTTLS listener that refuses AUTH and mail transactions before TLS. */
  requireTlsBeforeMail: boolean;
}

/** Per-connection guard: runs before smtp-server's own command dispatch. */
function guardConnection(connection: SMTPConnection, requireTls: boolean): void {
  const send = connection.send.bind(connection);
  connection.send = (code, data, context) => send(code, data, typeof data === 'string' && ENHANCED_PREFIX.test(data) ? false : context);
  if (!requireTls) return;
  const onCommand = connection._onCommand.bind(connection);
  connection._onCommand = (command, callback) => {
    // Plaintext after a STARTTLS (connection._upgrading) is smtp-server's to discard, and a
    // continuation line of an AUTH exchange (_nextHandler) cannot happen before TLS here.
    if (!connection.secure && !connection._upgrading && connection._ready && !connection._nextHandler) {
      const name = command.toString().split(' ')[0]?.toUpperCase() ?? '';
      if (name === 'AUTH' || TRANSACTION_COMMANDS.has(name)) {
        connection.send(name === 'AUTH' ? 538 : 530, name === 'AUTH' ? ENCRYPTION_REQUIRED_AUTH : STARTTLS_FIRST, false);
        setImmediate(() => connection._whenWritable(callback ?? (() => undefined)));
        return;
      }
    }
    onCommand(command, callback);
  };
}

export class ListenerServer extends SMTPServer {
  private readonly requireTls: boolean;

  constructor(options: ListenerServerOptions) {
    const { requireTlsBeforeMail, ...rest } = options;
    super(rest);
    this.requireTls = requireTlsBeforeMail;
  }

  // Same as SMTPServer.connect, plus the guard before the connection starts reading.
  override connect(socket: net.Socket | tls.TLSSocket, socketOptions?: ConstructorParameters<typeof SMTPConnection>[2]): void {
    const connection = new SMTPConnection(this, socket, socketOptions);
    this.connections.add(connection);
    connection.on('error', (err: Error) => this._onError(err));
    connection.on('connect', (data: Parameters<SMTPServer['_onClientConnect']>[0]) => this._onClientConnect(data));
    guardConnection(connection, this.requireTls);
    // smtp-server's init() holds every greeting back 100 ms to catch "early talkers", a
    // heuristic for MX servers facing spam bots. A submission relay only serves clients
    // that must authenticate (or allow-listed networks), so the wait only cost every
    // session 100 ms (bench/: it halved throughput at low concurrency). Same steps as
    // init(), without the timer.
    connection._setListeners(() => {
      if (this.options.maxClients && this.connections.size > this.options.maxClients) {
        connection.send(421, `${connection.name} Too many connected clients, try again in a moment`, false);
        return;
      }
      connection.connectionReady();
    });
  }

  /** Ends sessions that are not inside a mail transaction (for graceful shutdown). */
  closeIdleConnections(): void {
    for (const c of this.connections) {
      const envelope = c.session?.envelope;
      if (!envelope || !envelope.mailFrom) {
        c.send(421, '4.3.2 Service shutting down, try again later', false);
        c.close();
      }
    }
  }
}
