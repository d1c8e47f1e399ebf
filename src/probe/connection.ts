// Opening one TLS session to an SMTP endpoint: TCP connect, the SMTP preamble
// for STARTTLS (banner, EHLO, STARTTLS), then the handshake. Every step has a
// timeout taken from one overall deadline.
import net from 'node:net';
import tls from 'node:tls';
import { Deadline } from './deadline.js';
import { ProbeError, classifySocketError, excerpt } from './errors.js';
import { SmtpChannel, ehloExtensions, hasExtension, type SmtpReply } from './smtp-channel.js';
import type { ProbeMode } from './types.js';

export const STEP_CAP_MS = 5000;

export interface Endpoint {
  host: string;
  port: number;
  mode: ProbeMode;
  /** SNI; undefined for an IP address without --servername. */
  sni?: string;
  ehloName: string;
}

/** TLS client settings for one attempt (the deep scan narrows versions, ciphers and groups). */
export interface TlsClientSettings {
  minVersion?: tls.SecureVersion;
  maxVersion?: tls.SecureVersion;
  ciphers?: string;
  ecdhCurve?: string;
  /** Client context carrying the trust store, so Node's own verdict (authorizationError) uses it. */
  secureContext?: tls.SecureContext;
  requestOCSP?: boolean;
  /** A session to resume (TLS session resumption); the server may decline it. */
  session?: Buffer;
  /** Called with each session ticket the server sends. */
  onSession?: (session: Buffer) => void;
}

export interface PreambleHooks {
  /** Runs after the first EHLO, before STARTTLS (the pre-TLS AUTH check). */
  beforeStarttls?: (channel: SmtpChannel, extensions: string[], deadline: Deadline) => Promise<void>;
  /** Extra bytes sent in the same write as STARTTLS (the injection test). */
  injectAfterStarttls?: string;
}

export interface OpenSession {
  socket: tls.TLSSocket;
  channel: SmtpChannel;
  banner?: string;
  extensionsBeforeTls?: string[];
  ocspResponse?: Buffer | null;
  /** Plaintext bytes that arrived after the STARTTLS 220 and before the handshake. */
  leftoverPlaintext?: string;
}

/** Why a handshake failed: the server said no (alert or hang-up), our own client could not offer it, or something else. */
export class HandshakeError extends ProbeError {
  constructor(
    readonly side: 'server' | 'local' | 'unknown',
    readonly code: string,
    message: string,
  ) {
    super('tls-handshake-failed', message, 'handshake');
  }
}

/** A 554 (or 521, RFC 7504) greeting: the endpoint serves no SMTP to this client address. */
export class GreetingRefusedError extends ProbeError {
  constructor(readonly reply: SmtpReply) {
    super('client-refused', `banner: the server refused this client at the greeting (${reply.code} ${excerpt(reply.lines.join(' '))})`, 'banner');
  }
}

export async function tcpConnect(ep: Endpoint, deadline: Deadline): Promise<net.Socket> {
  const timeout = deadline.step(STEP_CAP_MS);
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: ep.host, port: ep.port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new ProbeError('timeout', `connect: no TCP connection to ${ep.host}:${ep.port} within ${timeout} ms`, 'connect'));
    }, timeout);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      // Later errors surface through the SMTP channel or the TLS socket; never as an uncaught 'error' event.
      socket.on('error', () => undefined);
      resolve(socket);
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      socket.destroy();
      reject(classifySocketError(err, 'connect'));
    });
  });
}

export async function command(channel: SmtpChannel, line: string, deadline: Deadline, step: string): Promise<SmtpReply> {
  channel.write(`${line}\r\n`);
  return channel.readReply(deadline.step(STEP_CAP_MS), step);
}

/** Banner and EHLO; returns the EHLO extensions. Falls back to HELO (no extensions) if EHLO is refused. */
export async function greet(channel: SmtpChannel, ep: Endpoint, deadline: Deadline): Promise<{ banner: string; extensions: string[] }> {
  const banner = await channel.readReply(deadline.step(STEP_CAP_MS), 'banner').catch((err: unknown) => {
    // A silent port in STARTTLS mode is often an implicit-TLS port waiting for our ClientHello.
    if (err instanceof ProbeError && err.reason === 'timeout' && ep.mode === 'starttls') {
      throw new ProbeError('timeout', `${err.message} (if this port expects TLS at once, use --mode implicit)`, err.check);
    }
    throw err;
  });
  if (banner.code === 554 || banner.code === 521) throw new GreetingRefusedError(banner);
  if (banner.code !== 220) {
    throw new ProbeError('protocol-error', `banner: expected 220, got ${banner.code} ${excerpt(banner.lines.join(' '))}`, 'banner');
  }
  const ehlo = await command(channel, `EHLO ${ep.ehloName}`, deadline, 'ehlo');
  if (ehlo.code === 250) return { banner: banner.lines.join(' '), extensions: ehloExtensions(ehlo) };
  const helo = await command(channel, `HELO ${ep.ehloName}`, deadline, 'ehlo');
  if (helo.code !== 250) throw new ProbeError('protocol-error', `ehlo: EHLO and HELO refused (${ehlo.code}, ${helo.code})`, 'ehlo');
  return { banner: banner.lines.join(' '), extensions: [] };
}

export async function openSession(ep: Endpoint, settings: TlsClientSettings, deadline: Deadline, hooks: PreambleHooks = {}): Promise<OpenSession> {
  const raw = await tcpConnect(ep, deadline);
  try {
    if (ep.mode === 'implicit') {
      const handshake = await startTls(raw, ep, settings, deadline);
      return { socket: handshake.socket, channel: new SmtpChannel(handshake.socket), ocspResponse: handshake.ocsp };
    }
    const channel = new SmtpChannel(raw);
    const { banner, extensions } = await greet(channel, ep, deadline);
    if (!hasExtension(extensions, 'STARTTLS')) {
      throw new ProbeError('starttls-not-supported', `starttls: STARTTLS is not in the EHLO reply (${extensions.join(', ') || 'no extensions'})`, 'starttls');
    }
    await hooks.beforeStarttls?.(channel, extensions, deadline);
    channel.write(`STARTTLS\r\n${hooks.injectAfterStarttls ?? ''}`);
    const ready = await channel.readReply(deadline.step(STEP_CAP_MS), 'starttls');
    if (ready.code !== 220) {
      throw new ProbeError('starttls-not-supported', `starttls: server answered ${ready.code} ${excerpt(ready.lines.join(' '))}`, 'starttls');
    }
    const leftover = channel.detach();
    const handshake = await startTls(raw, ep, settings, deadline);
    channel.attach(handshake.socket);
    return { socket: handshake.socket, channel, banner, extensionsBeforeTls: extensions, ocspResponse: handshake.ocsp, leftoverPlaintext: leftover || undefined };
  } catch (err) {
    raw.destroy();
    throw err;
  }
}

async function startTls(raw: net.Socket, ep: Endpoint, settings: TlsClientSettings, deadline: Deadline): Promise<{ socket: tls.TLSSocket; ocsp: Buffer | null | undefined }> {
  const timeout = deadline.step(STEP_CAP_MS);
  return new Promise((resolve, reject) => {
    let ocsp: Buffer | null | undefined = settings.requestOCSP ? null : undefined;
    let socket: tls.TLSSocket;
    try {
      socket = tls.connect({
        socket: raw,
        servername: ep.sni,
        // Trust and hostname are judged afterwards from the certificates, so one handshake yields every fact.
        rejectUnauthorized: false,
        checkServerIdentity: () => undefined,
        secureContext: settings.secureContext,
        minVersion: settings.minVersion,
        maxVersion: settings.maxVersion,
        ciphers: settings.ciphers,
        ecdhCurve: settings.ecdhCurve,
        requestOCSP: settings.requestOCSP,
        session: settings.session,
      });
      if (settings.onSession) socket.on('session', settings.onSession);
    } catch (err) {
      // Bad settings are refused by our own OpenSSL before any byte is sent.
      const e = err as NodeJS.ErrnoException;
      reject(new HandshakeError('local', e.code ?? 'LOCAL', `handshake: local TLS settings refused: ${e.message}`));
      return;
    }
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new ProbeError('timeout', `handshake: TLS handshake not finished within ${timeout} ms`, 'handshake'));
    }, timeout);
    socket.on('OCSPResponse', (resp: Buffer) => {
      ocsp = resp;
    });
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      socket.on('error', () => undefined); // later errors surface through the SMTP channel
      resolve({ socket, ocsp });
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      socket.destroy();
      reject(classifyHandshakeError(err));
    });
  });
}

/** Server alert or hang-up vs. our own OpenSSL refusing: a local refusal must never read as "the server refused". */
export function classifyHandshakeError(err: NodeJS.ErrnoException): HandshakeError {
  const code = err.code ?? '';
  const msg = err.message ?? '';
  const local = /NO_PROTOCOLS_AVAILABLE|NO_CIPHERS_AVAILABLE|NO_SUITABLE|UNSUPPORTED_PROTOCOL|NO_SHARED_CIPHER_LOCAL/i;
  if (local.test(code) || /no protocols available|no ciphers available/i.test(msg)) {
    return new HandshakeError('local', code, `handshake: our client could not offer this (${msg})`);
  }
  if (/alert/i.test(code) || /alert/i.test(msg)) {
    return new HandshakeError('server', code, `handshake: server sent an alert (${shortSslMessage(msg)})`);
  }
  if (code === 'ECONNRESET' || code === 'EPIPE' || /socket disconnected|socket hang up/i.test(msg)) {
    return new HandshakeError('server', code || 'ECONNRESET', `handshake: server closed the connection (${msg})`);
  }
  return new HandshakeError('unknown', code, `handshake: ${shortSslMessage(msg)}`);
}

/** `...:SSL routines:ssl3_read_bytes:tlsv1 alert protocol version:../ssl/rec.c:918:SSL alert number 70` -> `tlsv1 alert protocol version, alert 70`. */
export function shortSslMessage(msg: string): string {
  const reason = /SSL routines:[^:]*:([^:]+):/.exec(msg)?.[1];
  const alert = /SSL alert number (\d+)/.exec(msg)?.[1];
  if (!reason) return msg.trim();
  return alert ? `${reason}, alert ${alert}` : reason;
}

export interface NegotiatedTls {
  protocol?: string;
  cipher?: string;
  group?: string;
  pq?: boolean;
  forwardSecret: boolean;
}

export function negotiated(socket: tls.TLSSocket): NegotiatedTls {
  const cipher = socket.getCipher();
  const protocol = socket.getProtocol() ?? undefined;
  const info = socket.getEphemeralKeyInfo() as { type?: string; name?: string; size?: number } | null;
  const group = info?.name ?? (info?.type === 'DH' ? `DH-${info.size}` : undefined);
  // TLS 1.3 is always (EC)DHE; in TLS 1.2 an empty ephemeral key means static RSA key exchange.
  const forwardSecret = protocol === 'TLSv1.3' || Boolean(info?.type);
  return { protocol, cipher: cipher?.standardName ?? cipher?.name, group, pq: group ? /MLKEM|KYBER/i.test(group) : undefined, forwardSecret };
}

/** Best-effort polite close: QUIT without waiting long, then destroy. */
export async function closeSession(session: { socket: net.Socket; channel: SmtpChannel }): Promise<void> {
  try {
    session.channel.write('QUIT\r\n');
    await session.channel.readReply(300, 'quit').catch(() => undefined);
  } finally {
    session.socket.destroy();
  }
}
