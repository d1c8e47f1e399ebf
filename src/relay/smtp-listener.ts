// One smtp-server instance per listener, with the few behaviours smtp-server does not
// offer as options, added per connection:
// - before TLS on a listener that requires it: AUTH -> 538 5.7.11, MAIL/RCPT/DATA -> 530 5.7.0,
//   and AUTH is not advertised in the plaintext EHLO;
// - a reply text that starts with an enhanced status code keeps exactly that code;
// - before authentication (Postfix anvil / smtpd_hard_error_limit spirit): a command cap
//   counted from connect, and idle timeouts shorter before TLS and before AUTH than after;
// - PROXY protocol v2 from trusted load balancers only (proxy-protocol.ts).
// These patch smtp-server internals (SMTPConnection._onCommand, _armTimeout, _resetSession,
// _maxAllowedUnauthenticatedCommands, _setListeners; SMTPServer._expectsProxyHeader,
// _handleProxy), so smtp-server must be pinned to an exact version, and
// test/unit/relay/smtp-internals.test.ts fails if they move.
import crypto from 'node:crypto';
import type net from 'node:net';
import type tls from 'node:tls';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';
import { gateDataCommand, type DataGate } from './data-gate.js';
import { parseProxyV2, type ProxyHeader } from './proxy-protocol.js';

export const ENCRYPTION_REQUIRED_AUTH = '5.7.11 Encryption required for requested authentication mechanism';
export const STARTTLS_FIRST = '5.7.0 Must issue a STARTTLS command first';

const ENHANCED_PREFIX = /^[245]\.\d{1,3}\.\d{1,3} /;
const TRANSACTION_COMMANDS = new Set(['MAIL', 'RCPT', 'DATA', 'BDAT']);

export const TOO_MANY_PRE_AUTH_COMMANDS = '4.7.0 Too many commands before authentication, closing connection';

/** Limits of the phase before a session is trusted. */
export interface PreAuthLimits {
  /** Commands allowed before the session leaves the phase (counted from connect, before TLS included). */
  commands: number;
  /** Idle timeout before TLS (ms). */
  preTlsTimeoutMs: number;
  /** Idle timeout after TLS, still in the phase (ms). After it, socketTimeout applies. */
  preAuthTimeoutMs: number;
  /**
   * What ends the phase: a successful AUTH, or (the relay listener, which has no AUTH) the
   * first MAIL FROM it accepts, so that a legitimate client sending many messages in one
   * session is not cut off by the command cap.
   */
  endsWith: 'auth' | 'mail';
}

export interface ProxyProtocolOptions {
  /** Peers that must send a PROXY v2 header; every other peer is taken at its TCP address. */
  isTrusted: (peerAddress: string) => boolean;
  /** Longest wait for the whole header (ms). */
  headerTimeoutMs: number;
  /** A trusted peer's connection was closed for a missing or invalid header. */
  onRefused?: (peerAddress: string, reason: string) => void;
}

export interface ListenerServerOptions extends SMTPServerOptions {
  /** STARTTLS listener that refuses AUTH and mail transactions before TLS. */
  requireTlsBeforeMail: boolean;
  preAuth?: PreAuthLimits;
  proxyProtocol?: ProxyProtocolOptions;
  /** Admission of each DATA before its 354 (data-gate.ts). */
  dataGate?: DataGate;
}

/** Per-connection guard: runs before smtp-server's own command dispatch. */
function guardConnection(connection: SMTPConnection, requireTls: boolean, preAuth: PreAuthLimits | undefined, socketTimeoutMs: number): void {
  const send = connection.send.bind(connection);
  connection.send = (code, data, context) => send(code, data, typeof data === 'string' && ENHANCED_PREFIX.test(data) ? false : context);
  const phase = preAuth ? trackPreAuthPhase(connection, preAuth, socketTimeoutMs) : null;
  const onCommand = connection._onCommand.bind(connection);
  connection._onCommand = (command, callback) => {
    const next = callback ?? (() => undefined);
    // Plaintext after a STARTTLS (connection._upgrading) is smtp-server's to discard, and a
    // continuation line of an AUTH exchange (_nextHandler) is part of the AUTH command.
    const isCommand = !connection._upgrading && connection._ready && !connection._nextHandler;
    if (phase && isCommand && phase.countCommand()) {
      connection.send(421, TOO_MANY_PRE_AUTH_COMMANDS, false);
      return;
    }
    if (requireTls && isCommand && !connection.secure) {
      const name = command.toString().split(' ')[0]?.toUpperCase() ?? '';
      if (name === 'AUTH' || TRANSACTION_COMMANDS.has(name)) {
        connection.send(name === 'AUTH' ? 538 : 530, name === 'AUTH' ? ENCRYPTION_REQUIRED_AUTH : STARTTLS_FIRST, false);
        setImmediate(() => connection._whenWritable(next));
        return;
      }
    }
    onCommand(command, phase ? () => (phase.retime(), next()) : next);
  };
}

/**
 * The phase before AUTH (or the first accepted MAIL FROM): counts its commands, and keeps
 * the socket's idle timeout at the phase's value (pre-TLS, pre-AUTH, then socketTimeout).
 */
function trackPreAuthPhase(connection: SMTPConnection, limits: PreAuthLimits, socketTimeoutMs: number): { countCommand(): boolean; retime(): void } {
  let phaseOver = false;
  let commands = 0;
  let armedMs = 0;
  // This replaces smtp-server's own unauthenticated-command counter, which starts only after
  // TLS and would cut a session at 10 before ours (its option cannot turn it off: `false || 10`).
  connection._maxAllowedUnauthenticatedCommands = false;
  const isPhaseOver = () => (phaseOver ||= limits.endsWith === 'auth' ? Boolean(connection.session.user) : Boolean(connection.session.envelope?.mailFrom));
  const timeoutNow = () => (isPhaseOver() ? socketTimeoutMs : connection.secure ? limits.preAuthTimeoutMs : limits.preTlsTimeoutMs);
  // smtp-server arms the idle timeout here: at connect, on the TLS socket of a STARTTLS,
  // and again after each timeout it let pass (a handler still running).
  connection._armTimeout = (socket = connection._socket) => {
    armedMs = timeoutNow();
    socket.setTimeout(armedMs, () => connection._onTimeout());
  };
  // A new value for the armed timer, without a second 'timeout' listener.
  const retime = () => {
    const ms = timeoutNow();
    if (ms !== armedMs && !connection._upgrading) {
      armedMs = ms;
      connection._socket.setTimeout(ms);
    }
  };
  // Runs after a completed STARTTLS (and on EHLO/RSET): the pre-AUTH timeout starts there.
  const resetSession = connection._resetSession.bind(connection);
  connection._resetSession = () => {
    resetSession();
    retime();
  };
  return {
    countCommand: () => !isPhaseOver() && ++commands > limits.commands,
    retime,
  };
}

type AcceptedHeader = Extract<ProxyHeader, { kind: 'local' | 'proxy' }>;

/** Reads a PROXY v2 header off a fresh socket; what follows it stays in the socket for the session. */
function readProxyHeader(socket: net.Socket, timeoutMs: number, done: (err: Error | null, header?: AcceptedHeader) => void): void {
  let buf = Buffer.alloc(0);
  let finished = false;
  const finish = (err: Error | null, header?: AcceptedHeader) => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    socket.off('readable', onReadable);
    socket.off('error', onGone);
    socket.off('close', onGone);
    socket.off('end', onGone);
    done(err, header);
  };
  const onGone = () => finish(new Error('connection closed before a complete PROXY header'));
  const onReadable = () => {
    let chunk: Buffer | null;
    while (!finished && (chunk = socket.read() as Buffer | null) !== null) {
      buf = Buffer.concat([buf, chunk]);
      const header = parseProxyV2(buf);
      if (header.kind === 'incomplete') continue;
      if (header.kind === 'invalid') return finish(new Error(header.reason));
      const rest = buf.subarray(header.length);
      if (rest.length) socket.unshift(rest);
      return finish(null, header);
    }
  };
  const timer = setTimeout(() => finish(new Error(`no complete PROXY header within ${timeoutMs} ms`)), timeoutMs);
  socket.on('readable', onReadable);
  socket.on('error', onGone);
  socket.on('close', onGone);
  socket.on('end', onGone);
}

export class ListenerServer extends SMTPServer {
  private readonly requireTls: boolean;
  private readonly preAuth: PreAuthLimits | undefined;
  private readonly proxy: ProxyProtocolOptions | undefined;
  private readonly dataGate: DataGate | undefined;

  constructor(options: ListenerServerOptions) {
    const { requireTlsBeforeMail, preAuth, proxyProtocol, dataGate, ...rest } = options;
    super({ ...rest, useProxy: false });
    this.requireTls = requireTlsBeforeMail;
    this.preAuth = preAuth;
    this.proxy = proxyProtocol;
    this.dataGate = dataGate;
  }

  // smtp-server asks this to decide whether a fresh socket must first send a PROXY header
  // (and guards such a socket against maxClients and a timeout until connect()).
  override _expectsProxyHeader(socket: net.Socket): boolean {
    return this.proxy !== undefined && this.proxy.isTrusted(socket.remoteAddress ?? '');
  }

  // smtp-server's own reader speaks PROXY v1 (text) to every peer useProxy lists; this one
  // reads v2 from trusted peers only. An untrusted peer's bytes go to the SMTP parser as
  // they are, so a header it forges is only a garbage command, never an address.
  override _handleProxy(socket: net.Socket, callback: Parameters<SMTPServer['_handleProxy']>[1]): void {
    const proxy = this.proxy;
    if (!proxy || !this._expectsProxyHeader(socket)) return super._handleProxy(socket, callback);
    const peer = socket.remoteAddress ?? '';
    readProxyHeader(socket, proxy.headerTimeoutMs, (err, header) => {
      if (err || !header) {
        proxy.onRefused?.(peer, err?.message ?? 'no PROXY header');
        socket.on('error', () => undefined);
        socket.destroy();
        return callback(err ?? new Error('no PROXY header'));
      }
      const id = BigInt(`0x${crypto.randomBytes(10).toString('hex')}`).toString(32).padStart(16, '0');
      // LOCAL is the proxy's own connection (a health check): its real address stands.
      callback(null, header.kind === 'proxy' ? { id, remoteAddress: header.source.address, remotePort: header.source.port } : { id });
    });
  }

  // Same as SMTPServer.connect, plus the guard before the connection starts reading.
  override connect(socket: net.Socket | tls.TLSSocket, socketOptions?: ConstructorParameters<typeof SMTPConnection>[2]): void {
    const connection = new SMTPConnection(this, socket, socketOptions);
    this.connections.add(connection);
    connection.on('error', (err: Error) => this._onError(err));
    connection.on('connect', (data: Parameters<SMTPServer['_onClientConnect']>[0]) => this._onClientConnect(data));
    guardConnection(connection, this.requireTls, this.preAuth, this.options.socketTimeout ?? 60_000);
    if (this.dataGate) gateDataCommand(connection, this.dataGate);
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
