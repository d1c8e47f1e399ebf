// The relay runtime: listeners, TLS and users reload, upstream, metrics, shutdown.
// The state of one message lives in the onData call for it; nothing is acknowledged to
// the client before the upstream acknowledged it (see upstream.ts for the recipient mapping).
import crypto from 'node:crypto';
import type http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import type tls from 'node:tls';
import DKIM from 'nodemailer/lib/dkim';
import type { SMTPServerAddress, SMTPServerAuthentication, SMTPServerAuthenticationResponse, SMTPServerDataStream, SMTPServerSession } from 'smtp-server';
import { startHealthServer } from '../common/http-server.js';
import type { Logger } from '../common/logger.js';
import type { RelayConfig, RelayListenerConfig } from '../common/relay-config.js';
import { checkRecipient, checkSender, type Refusal } from './address-policy.js';
import { parseCidr } from './config.js';
import { buildKeyPair, TLS_FILES, type LoadedKeyPair } from './key-pair.js';
import { createRelayMetrics, type MessageResult, type RelayMetrics } from './metrics.js';
import { DirWatcher, readSecretDir, type DirSnapshot } from './secret-dir.js';
import { ListenerServer } from './smtp-listener.js';
import { FailureWindow, TokenBuckets } from './token-bucket.js';
import { UpstreamPool, type UpstreamCredentials } from './upstream.js';
import { UserStore } from './users.js';

export interface RelayRuntimeOptions {
  config: RelayConfig;
  logger: Logger;
  /** Bind address for the SMTP listeners; default all interfaces. */
  listenHost?: string;
  metricsHost?: string;
  /** Poll interval of the Secret dir watchers (ms). */
  pollMs?: number;
}

interface SessionState {
  listener: RelayListenerConfig['name'];
  tlsVersion: string;
}

function smtpError(code: number, message: string): Error & { responseCode: number } {
  return Object.assign(new Error(message), { responseCode: code });
}
function refusalError(r: Refusal): Error {
  return smtpError(r.code, r.message);
}

function blockListFor(cidrs: string[]): net.BlockList {
  const list = new net.BlockList();
  cidrs.forEach((c, i) => {
    const { address, prefix, family } = parseCidr(c, `allowedNetworks[${i}]`);
    list.addSubnet(address, prefix, family);
  });
  return list;
}

/** Counts message bytes as they pass; flags the message once it is over the limit. */
class SizeCounter extends Transform {
  bytes = 0;
  constructor(
    private readonly limit: number,
    private readonly onTooBig: () => void,
  ) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.limit) {
      this.onTooBig();
      return cb(); // keep draining the client, forward nothing more
    }
    cb(null, chunk);
  }
}

export class RelayRuntime {
  readonly metrics: RelayMetrics;
  private readonly log: Logger;
  private readonly cfg: RelayConfig;
  private keyPair: LoadedKeyPair | null = null;
  private users: UserStore = UserStore.empty();
  private readonly servers = new Map<RelayListenerConfig['name'], ListenerServer>();
  private readonly ports = new Map<RelayListenerConfig['name'], number>();
  private readonly watchers: DirWatcher[] = [];
  private health: http.Server | null = null;
  private upstream!: UpstreamPool;
  private dkim: DKIM | null = null;
  private readonly authFailures: FailureWindow;
  private readonly rate: TokenBuckets | null;
  private readonly sessions = new WeakMap<SMTPServerSession, SessionState>();
  private inFlight = 0;
  private listening = false;
  private stopping: Promise<void> | null = null;

  constructor(private readonly opts: RelayRuntimeOptions) {
    this.cfg = opts.config;
    this.log = opts.logger;
    this.metrics = createRelayMetrics();
    this.authFailures = new FailureWindow(this.cfg.limits.authFailuresPerMinute);
    const rl = this.cfg.policy.rateLimit;
    this.rate = rl ? new TokenBuckets(rl.messagesPerMinute, rl.burst) : null;
  }

  get ready(): boolean {
    return this.listening && this.keyPair !== null && this.stopping === null;
  }
  get fingerprint(): string | undefined {
    return this.keyPair?.fingerprint;
  }
  port(name: RelayListenerConfig['name']): number | undefined {
    return this.ports.get(name);
  }
  get metricsPort(): number | undefined {
    const a = this.health?.address();
    return a && typeof a === 'object' ? a.port : undefined;
  }

  /** Loads every mounted input, then opens the listeners. Throws (clear message) on a bad start. */
  async start(): Promise<void> {
    const cfg = this.cfg;
    const tlsSnap = await readSecretDir(cfg.tls.dir, TLS_FILES).catch((err: Error) => {
      throw new Error(`no TLS key pair: ${err.message}. The relay never serves without its own certificate.`);
    });
    this.keyPair = this.applyKeyPair(tlsSnap, true);

    let usersHash: string | undefined;
    if (!cfg.usersDir && cfg.listeners.some((l) => l.name !== 'relay')) {
      this.log.warn('no usersDir: the submission listeners will refuse every AUTH, so they accept no mail');
    }
    if (cfg.usersDir) {
      const snap = await readSecretDir(cfg.usersDir);
      this.setUsers(snap);
      usersHash = snap.hash;
    }
    const { credentials, ca } = await this.loadUpstreamInputs();
    this.upstream = new UpstreamPool({ config: cfg.upstream, hostname: cfg.hostname, credentials, ca });
    if (cfg.dkim) this.dkim = this.buildDkim((await readSecretDir(cfg.dkim.keyDir, ['private.key'])).files.get('private.key') as Buffer);

    for (const l of cfg.listeners) await this.listen(l);
    this.listening = true;
    this.health = await startHealthServer({ port: cfg.metricsPort, host: this.opts.metricsHost, registry: this.metrics.registry, ready: () => this.ready });

    this.watch(cfg.tls.dir, TLS_FILES, 'tls', tlsSnap.hash, (snap) => {
      this.applyKeyPair(snap, false);
    });
    if (cfg.usersDir) this.watch(cfg.usersDir, undefined, 'users', usersHash, (snap) => this.setUsers(snap));
    if (cfg.upstream.credentialsDir) {
      this.watch(cfg.upstream.credentialsDir, ['username', 'password'], 'upstream-credentials', undefined, (snap) => {
        this.upstream.credentials = credentialsFrom(snap);
      });
    }
    if (cfg.dkim) {
      this.watch(cfg.dkim.keyDir, ['private.key'], 'dkim', undefined, (snap) => {
        this.dkim = this.buildDkim(snap.files.get('private.key') as Buffer);
      });
    }
    this.log.info('relay ready', { listeners: Object.fromEntries(this.ports), metricsPort: this.metricsPort, fingerprint: this.keyPair.fingerprint });
  }

  private async loadUpstreamInputs(): Promise<{ credentials?: UpstreamCredentials; ca?: Buffer }> {
    const up = this.cfg.upstream;
    const out: { credentials?: UpstreamCredentials; ca?: Buffer } = {};
    if (up.credentialsDir) out.credentials = credentialsFrom(await readSecretDir(up.credentialsDir, ['username', 'password']));
    if (up.caDir) out.ca = (await readSecretDir(up.caDir, ['ca.crt'])).files.get('ca.crt');
    return out;
  }

  private buildDkim(privateKey: Buffer): DKIM {
    const d = this.cfg.dkim as NonNullable<RelayConfig['dkim']>;
    const key = privateKey.toString('utf8');
    crypto.createPrivateKey(key); // throws a readable error now rather than at the first message
    return new DKIM({ domainName: d.domain, keySelector: d.selector, privateKey: key });
  }

  private setUsers(snap: DirSnapshot): void {
    this.users = UserStore.fromSnapshot(snap);
    if (this.users.skipped.length) this.log.warn('users dir: entries ignored (bad user name or empty)', { count: this.users.skipped.length });
    this.log.info('users loaded', { users: this.users.size });
  }

  /** Validates and serves a key pair; on reload, a bad pair throws and the old one keeps serving. */
  private applyKeyPair(snap: DirSnapshot, initial: boolean): LoadedKeyPair {
    const pair = buildKeyPair(snap, this.cfg.tls.profile, this.cfg.tls.minVersion);
    if (!initial) {
      for (const s of this.servers.values()) s.updateSecureContext(pair.options);
      this.keyPair = pair;
      this.log.info('TLS key pair reloaded', { fingerprint: pair.fingerprint, notAfter: pair.notAfter.toISOString() });
    }
    this.metrics.certNotAfter.set(Math.floor(pair.notAfter.getTime() / 1000));
    return pair;
  }

  private watch(dir: string, names: readonly string[] | undefined, source: string, initialHash: string | undefined, apply: (snap: DirSnapshot) => void): void {
    const fail = (err: Error) => {
      this.metrics.reloadFailures.inc({ source });
      this.log.error('reload refused, keeping the previous content', { source, dir, error: err.message });
    };
    const w = new DirWatcher({
      dir,
      names,
      pollMs: this.opts.pollMs,
      initialHash,
      onError: fail,
      onSnapshot: (snap) => {
        try {
          apply(snap);
          this.metrics.reloads.inc({ source });
        } catch (err) {
          fail(err as Error);
        }
      },
    });
    w.start();
    this.watchers.push(w);
  }

  private async listen(l: RelayListenerConfig): Promise<void> {
    const cfg = this.cfg;
    const isRelay = l.name === 'relay';
    const allowed = isRelay ? blockListFor(l.allowedNetworks ?? []) : null;
    const senderLists = [cfg.policy.allowedSenderDomains, l.allowedSenderDomains ?? []];
    const server = new ListenerServer({
      ...(this.keyPair as LoadedKeyPair).options,
      requireTlsBeforeMail: l.mode === 'starttls' && !isRelay,
      secure: l.mode === 'implicit',
      name: cfg.hostname,
      banner: 'smtp-relay',
      logger: false,
      disableReverseLookup: true,
      authMethods: ['PLAIN', 'LOGIN'],
      disabledCommands: isRelay ? ['AUTH'] : [],
      authOptional: isRelay,
      hideENHANCEDSTATUSCODES: false,
      hideREQUIRETLS: false,
      hideDSN: true,
      size: cfg.policy.maxMessageBytes,
      maxClients: cfg.limits.maxConnections,
      maxCommandLength: 4096,
      socketTimeout: cfg.limits.socketTimeoutMs,
      closeTimeout: cfg.limits.closeTimeoutMs,
      onConnect: (session, cb) => {
        this.sessions.set(session, { listener: l.name, tlsVersion: 'none' });
        if (this.stopping) return cb(smtpError(421, '4.3.2 Service shutting down, try again later'));
        if (allowed && !allowed.check(session.remoteAddress, net.isIPv6(session.remoteAddress) ? 'ipv6' : 'ipv4')) {
          this.log.warn('relay listener: client address not allowed', { listener: l.name, client: session.remoteAddress });
          return cb(smtpError(554, '5.7.1 Relay access denied for this client address'));
        }
        // No AUTH before TLS in the plaintext EHLO of a listener that requires TLS first.
        if (l.mode === 'starttls' && !isRelay) (session as SMTPServerSession & { disabledCommands?: string[] }).disabledCommands = ['AUTH'];
        cb();
      },
      onSecure: (socket, session, cb) => {
        const st = this.sessions.get(session);
        if (st) st.tlsVersion = (socket as tls.TLSSocket).getProtocol?.() ?? 'unknown';
        (session as SMTPServerSession & { disabledCommands?: string[] }).disabledCommands = isRelay ? ['AUTH'] : [];
        cb();
      },
      onAuth: (auth, session, cb) => void this.onAuth(l, auth, session, cb),
      onMailFrom: (address, session, cb) => cb(this.onMailFrom(l, address, session, senderLists)),
      onRcptTo: (address, session, cb) => cb(this.onRcptTo(address, session)),
      onData: (stream, session, cb) => void this.onData(l, stream, session, cb),
      onClose: (session) => {
        const st = this.sessions.get(session);
        this.metrics.sessions.inc({ listener: l.name, tls_version: st?.tlsVersion ?? 'none' });
      },
    });
    server.on('error', (err: Error) => this.log.debug('smtp connection error', { listener: l.name, error: err.message }));
    await new Promise<void>((resolve, reject) => {
      server.server.once('error', reject);
      const done = () => {
        server.server.off('error', reject);
        resolve();
      };
      // No host: Node's default (:: when IPv6 is available, else 0.0.0.0).
      if (this.opts.listenHost) server.listen(l.port, this.opts.listenHost, done);
      else server.listen(l.port, done);
    }).catch((err: Error) => {
      throw new Error(`cannot listen on port ${l.port} for ${l.name}: ${err.message}`);
    });
    const addr = server.server.address();
    this.ports.set(l.name, addr && typeof addr === 'object' ? addr.port : l.port);
    this.servers.set(l.name, server);
  }

  private async onAuth(
    l: RelayListenerConfig,
    auth: SMTPServerAuthentication,
    session: SMTPServerSession,
    cb: (err: Error | null | undefined, response?: SMTPServerAuthenticationResponse) => void,
  ): Promise<void> {
    const ip = session.remoteAddress;
    if (this.authFailures.blocked(ip)) {
      this.metrics.authFailures.inc({ listener: l.name });
      this.log.warn('auth throttled', { listener: l.name, client: ip, session: session.id });
      return cb(smtpError(454, '4.7.0 Too many authentication failures, try again later'));
    }
    if ((auth.method !== 'PLAIN' && auth.method !== 'LOGIN') || !auth.username) return cb(smtpError(504, '5.5.4 Unrecognized authentication type'));
    let ok = false;
    try {
      ok = await this.users.verify(auth.username, auth.password ?? '');
    } catch {
      ok = false;
    }
    if (!ok) {
      this.authFailures.record(ip);
      this.metrics.authFailures.inc({ listener: l.name });
      this.log.info('auth failed', { listener: l.name, client: ip, session: session.id });
      return cb(null, { message: '5.7.8 Authentication credentials invalid', responseCode: 535 } as SMTPServerAuthenticationResponse);
    }
    this.log.info('auth ok', { listener: l.name, user: auth.username, session: session.id });
    cb(null, { user: auth.username });
  }

  private onMailFrom(l: RelayListenerConfig, address: SMTPServerAddress, session: SMTPServerSession, senderLists: string[][]): Error | undefined {
    if (this.stopping) return smtpError(421, '4.3.2 Service shutting down, try again later');
    const refusal = checkSender(address.address, senderLists);
    if (refusal) {
      this.log.info('sender refused', { listener: l.name, session: session.id, user: session.user, reason: refusal.message });
      return refusalError(refusal);
    }
    if (session.envelope.requireTLS && this.cfg.upstream.tls === 'none-insecure') {
      return smtpError(550, '5.7.30 REQUIRETLS support required: the next hop cannot guarantee TLS');
    }
    if (this.rate && !this.rate.take(typeof session.user === 'string' && session.user ? `user:${session.user}` : `ip:${session.remoteAddress}`)) {
      return smtpError(450, '4.7.1 Message rate limit exceeded, try again later');
    }
    return undefined;
  }

  private onRcptTo(address: SMTPServerAddress, session: SMTPServerSession): Error | undefined {
    const refusal = checkRecipient(address.address);
    if (refusal) return refusalError(refusal);
    const rcpts = session.envelope.rcptTo;
    if (rcpts.length >= this.cfg.policy.maxRecipients && !rcpts.some((r) => r.address.toLowerCase() === address.address.toLowerCase())) {
      return smtpError(452, '4.5.3 Too many recipients');
    }
    return undefined;
  }

  private async onData(l: RelayListenerConfig, stream: SMTPServerDataStream, session: SMTPServerSession, cb: (err?: Error | null, message?: string) => void): Promise<void> {
    const msgId = crypto.randomUUID();
    const started = process.hrtime.bigint();
    const env = session.envelope;
    const from = env.mailFrom ? env.mailFrom.address : '';
    const to = env.rcptTo.map((r) => r.address);
    const abort = new AbortController();
    let tooBig = false;
    let clientGone = false;
    this.inFlight++;
    const counter = new SizeCounter(this.cfg.policy.maxMessageBytes, () => {
      if (!tooBig) {
        tooBig = true;
        abort.abort();
      }
    });
    const clientEnded = new Promise<void>((resolve) => {
      stream.once('end', () => resolve());
      stream.once('error', () => {
        clientGone = true;
        abort.abort();
        resolve();
      });
      stream.once('close', () => {
        if (!stream.readableEnded) {
          clientGone = true;
          abort.abort();
        }
        resolve();
      });
    });
    stream.pipe(counter);
    const body = this.dkim ? this.dkim.sign(counter) : counter;

    const outcome = await this.upstream.send(
      { from, to, requireTls: env.requireTLS === true, use8BitMime: env.bodyType === '8bitmime' },
      body,
      abort.signal,
    );
    if (!outcome.ok) {
      // Keep reading the client so it gets its reply once its DATA is complete.
      counter.resume();
    }
    await clientEnded;
    this.inFlight--;
    const upstreamSeconds = Number(process.hrtime.bigint() - started) / 1e9;

    let result: MessageResult;
    let reply: { code: number; message: string };
    if (tooBig) {
      result = 'too_big';
      reply = { code: 552, message: `5.3.4 Message size exceeds fixed maximum message size ${this.cfg.policy.maxMessageBytes}` };
    } else if (clientGone) {
      result = 'aborted';
      reply = { code: 451, message: '4.3.0 Transaction aborted' };
    } else if (outcome.ok) {
      result = 'delivered';
      reply = { code: 250, message: `2.0.0 Ok: relayed as ${msgId}` };
    } else {
      result = outcome.temporary ? 'temp_failure' : 'perm_failure';
      reply = { code: outcome.code, message: outcome.message };
    }
    this.metrics.messages.inc({ result });
    this.metrics.upstreamDuration.observe({ result }, upstreamSeconds);
    this.log.info('message', {
      msgId,
      session: session.id,
      listener: l.name,
      user: typeof session.user === 'string' ? session.user : undefined,
      client: session.remoteAddress,
      from,
      recipients: to.length,
      bytes: counter.bytes,
      result,
      code: reply.code,
      reason: outcome.ok ? undefined : outcome.reason,
      upstream: outcome.ok ? outcome.response.slice(0, 200) : undefined,
      seconds: Math.round(upstreamSeconds * 1000) / 1000,
    });
    if (reply.code === 250) cb(null, reply.message);
    else cb(smtpError(reply.code, reply.message));
  }

  /** Graceful stop: refuse new sessions and transactions, let in-flight DATA finish within the grace period. */
  stop(graceMs = this.cfg.limits.closeTimeoutMs): Promise<void> {
    if (this.stopping) return this.stopping;
    this.stopping = (async () => {
      this.log.info('shutting down', { graceMs, inFlight: this.inFlight });
      for (const w of this.watchers) w.stop();
      const closed = [...this.servers.values()].map(
        (s) =>
          new Promise<void>((resolve) => {
            s.options.closeTimeout = Math.max(1, graceMs);
            s.close(() => resolve());
            s.closeIdleConnections();
          }),
      );
      await Promise.all(closed);
      this.upstream?.close();
      await new Promise<void>((resolve) => {
        if (!this.health) return resolve();
        this.health.close(() => resolve());
        this.health.closeAllConnections();
      });
      this.log.info('stopped');
    })();
    return this.stopping;
  }
}

function credentialsFrom(snap: DirSnapshot): UpstreamCredentials {
  const text = (name: string) => (snap.files.get(name) as Buffer).toString('utf8').replace(/\r?\n$/, '');
  const user = text('username');
  if (!user) throw new Error(`upstream credentials: ${path.join('credentialsDir', 'username')} is empty`);
  return { user, pass: text('password') };
}
