// The relay runtime: listeners, TLS and users reload, upstream, metrics, shutdown.
// The state of one message lives in the onData call for it; nothing is acknowledged to
// the client before the upstream acknowledged it (see upstream.ts for the recipient mapping).
import crypto from 'node:crypto';
import type http from 'node:http';
import path from 'node:path';
import { PassThrough, Transform, type Readable, type TransformCallback } from 'node:stream';
import type tls from 'node:tls';
import DKIM from 'nodemailer/lib/dkim';
import type { SMTPServerAddress, SMTPServerAuthentication, SMTPServerAuthenticationResponse, SMTPServerDataStream, SMTPServerSession } from 'smtp-server';
import { startHealthServer } from '../common/http-server.js';
import type { Logger } from '../common/logger.js';
import { CIRCUIT_BREAKER_DEFAULTS, resolveLimits, type RelayConfig, type RelayDkimKey, type RelayListenerConfig, type RelayNamedUpstream, type RelayRoute, type ResolvedLimits } from '../common/relay-config.js';
import { checkRecipient, checkSender, type Refusal } from './address-policy.js';
import { AuthThrottle, isBlocked } from './auth-throttle.js';
import { BcryptPool, BcryptPoolBusy } from './bcrypt-pool.js';
import { ClientConnectionLimits } from './client-limits.js';
import { parseNetworks } from './config.js';
import { buildKeyPair, TLS_FILES, type LoadedKeyPair } from './key-pair.js';
import { createRelayMetrics, type MessageResult, type RelayMetrics } from './metrics.js';
import { DirWatcher, readSecretDir, type DirSnapshot } from './secret-dir.js';
import { clientKey, createNetworkMatcher } from './networks.js';
import { ListenerServer } from './smtp-listener.js';
import { TokenBuckets } from './token-bucket.js';
import type { DataGate, DataRefusal } from './data-gate.js';
import { Slots, type Release } from './slots.js';
import { Spool, type ScratchDir } from './spool.js';
import type { UpstreamCredentials, UpstreamLease, UpstreamOutcome } from './upstream.js';
import { failsOver, UpstreamMember, UpstreamSet, type UpstreamInputs } from './upstream-set.js';
import { matchRoute, noRoute, upstreamPlan, type UpstreamPlan } from './routing.js';
import { ReplayBuffer } from './replay-buffer.js';
import { FromRewriter } from './from-rewrite.js';
import { createOAuth2TokenSource } from './oauth2/index.js';
import { parseManagedUsers, UserStore, type ManagedUser } from './users.js';
import { DeliveryQueue } from './queue/delivery.js';
import { queueRoutes } from './queue/http-routes.js';
import { QueueStore } from './queue/store.js';
import type { QueueSummary } from '../common/queue-summary.js';
import { checkParsedFromHeader, fromHeader, type FromHeader } from './header-from.js';
import { DkimKeySet, domainOf, fromDomain, publicKeyOf } from './dkim-keys.js';
import { DKIM_PATH } from '../common/dkim-keys.js';
import { HeaderFromGate } from './header-from-gate.js';
import { SenderBinding } from './sender-binding.js';

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
  /** The per-client connection slot this session holds (released on close). */
  clientSlot?: string;
}

/** One message being DKIM-signed (RelayRuntime.startSigning). */
interface Signing {
  signed: Readable;
  /** The signer failed (e.g. the spool is full): the client gets LOCAL_ERROR. */
  failed: boolean;
  /** Stops feeding the signer (the message failed); the input can then be drained. */
  detach(): void;
  /** Ends the signer and removes the message's spill directory. */
  dispose(): Promise<void>;
}

const LOCAL_ERROR: UpstreamOutcome = { ok: false, code: 451, temporary: true, reason: 'local_error', message: '4.3.0 Local error in processing, try again later' };

/**
 * Reserved by the DATA gate for one transaction: a DATA slot, and in pass-through mode the
 * upstream connection (durable mode queues to disk: the upstream may be down meanwhile).
 */
interface Admission {
  lease?: UpstreamLease;
  /** The upstream the lease is from, and the route's upstreams after it (failover). */
  member?: UpstreamMember;
  next?: string[];
  releaseData: Release;
}

/** The client's answer when the queue could not write a message (never 250). */
const QUEUE_FULL: UpstreamOutcome = { ok: false, code: 452, temporary: true, reason: 'queue_storage', message: '4.3.1 Insufficient system storage' };
const SHUTTING_DOWN = '4.3.2 Service shutting down, try again later';

function smtpError(code: number, message: string): Error & { responseCode: number } {
  return Object.assign(new Error(message), { responseCode: code });
}
function refusalError(r: Refusal): Error {
  return smtpError(r.code, r.message);
}

/** Every allow-list of the relay matches through this (networks.ts: IPv4 clients against IPv4 entries only). */
function allowListFor(cidrs: string[], path: string): (address: string) => boolean {
  return createNetworkMatcher(parseNetworks(cidrs, path));
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
  /** cfg.tls.internal: the key pair for the in-cluster names, served by SNI. */
  private internalKeyPair: LoadedKeyPair | null = null;
  private users: UserStore = UserStore.empty();
  /** The last good snapshots of the two users dirs; either one changing rebuilds the store. */
  private staticUsers: DirSnapshot | null = null;
  private managedUsers = new Map<string, ManagedUser>();
  private readonly servers = new Map<RelayListenerConfig['name'], ListenerServer>();
  private readonly ports = new Map<RelayListenerConfig['name'], number>();
  private readonly watchers: DirWatcher[] = [];
  private health: http.Server | null = null;
  /** One pool and breaker per named upstream (the `upstream` shorthand is one named 'default'). */
  private upstreams!: UpstreamSet;
  private readonly plan: UpstreamPlan;
  /** The route of the session's current transaction (chosen at MAIL FROM). */
  private readonly routes = new WeakMap<SMTPServerSession, RelayRoute>();
  /** DKIM signers by signing domain (empty: DKIM off). */
  private readonly dkim = new DkimKeySet<DKIM>();
  /** Scratch space for DKIM spill files (only with DKIM on). */
  private spool: Spool | null = null;
  /**
   * DATA transactions in flight per pod (limits.maxConcurrentData). Memory arithmetic: a
   * transaction holds at most dkimSpillBytes of message in memory (the DKIM signer keeps the
   * first dkimSpillBytes, the rest goes to the spool), plus stream buffers (a few 16-64 KiB
   * buffers: smtp-server, size counter, signer, upstream socket; < 0.5 MiB). Without DKIM a
   * message streams through and only the buffers count. So the in-memory share is at most
   * maxConcurrentData x (dkimSpillBytes + 0.5 MiB): with the defaults (poolSize 10 ->
   * maxConcurrentData 20, dkimSpillBytes 1 MiB) 20 x 1.5 MiB = 30 MiB. Next to it: the idle
   * process (~82 MiB RSS measured) and Buffers of any streaming not yet collected (V8 forces
   * a collection after 64 MiB of external growth; test/e2e/relay/dkim-memory.test.ts saw
   * +64 MiB with and without DKIM): 82 + 64 + 30 = 176 MiB against the pod's 256Mi limit.
   * config.ts refuses maxConcurrentData x dkimSpillBytes above 128 MiB. A DATA beyond the
   * cap waits for a slot (within upstreamAcquireTimeoutMs), else 451 4.3.2 before its 354.
   */
  private dataSlots!: Slots;
  /** What the DATA gate reserved for a session; onData takes it (see data-gate.ts). */
  private readonly admitted = new WeakMap<SMTPServerSession, Admission>();
  private readonly resolvedLimits: ResolvedLimits;
  private readonly authThrottle: AuthThrottle;
  /** bcrypt runs here, off the event loop. */
  private readonly bcrypt = new BcryptPool();
  /** Rebuilt when the managed users (and so their senders) change. */
  private senders: SenderBinding;
  private readonly rate: TokenBuckets | null;
  private readonly sessions = new WeakMap<SMTPServerSession, SessionState>();
  private inFlight = 0;
  /** Durable mode (config.queue): the queue that takes responsibility for accepted mail. */
  private queue: DeliveryQueue | null = null;
  /** POST /drain: stop accepting (readiness false, 421), deliver what is queued. */
  private draining = false;
  private listening = false;
  private stopping: Promise<void> | null = null;

  constructor(private readonly opts: RelayRuntimeOptions) {
    this.cfg = opts.config;
    this.plan = upstreamPlan(this.cfg);
    this.resolvedLimits = resolveLimits(this.cfg);
    this.log = opts.logger;
    this.metrics = createRelayMetrics();
    const limits = resolveLimits(this.cfg);
    this.authThrottle = new AuthThrottle({ failuresPerWindow: limits.authFailuresPerMinute, windowMs: limits.authFailureWindowMs });
    this.senders = new SenderBinding(this.cfg.policy);
    const rl = this.cfg.policy.rateLimit;
    this.rate = rl ? new TokenBuckets(rl.messagesPerMinute, rl.burst) : null;
  }

  get ready(): boolean {
    // Never the upstream's health: a relay that is down for it would only move the trouble.
    return this.listening && this.keyPair !== null && this.stopping === null && !this.draining;
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
    const internal = cfg.tls.internal;
    let internalTlsHash: string | undefined;
    if (internal) {
      const snap = await readSecretDir(internal.dir, TLS_FILES).catch((err: Error) => {
        throw new Error(`no internal TLS key pair (config.tls.internal): ${err.message}`);
      });
      this.internalKeyPair = this.applyInternalKeyPair(snap, true);
      internalTlsHash = snap.hash;
    }

    let usersHash: string | undefined;
    if (!cfg.usersDir && cfg.listeners.some((l) => l.name !== 'relay')) {
      this.log.warn('no usersDir: the submission listeners will refuse every AUTH, so they accept no mail');
    }
    if (cfg.usersDir) {
      const snap = await readSecretDir(cfg.usersDir);
      this.setUsers(snap);
      usersHash = snap.hash;
    }
    let managedHash: string | undefined;
    if (cfg.managedUsersDir) {
      const snap = await readSecretDir(cfg.managedUsersDir);
      this.setManagedUsers(snap);
      managedHash = snap.hash;
    }
    this.upstreams = new UpstreamSet();
    const breaker = { ...CIRCUIT_BREAKER_DEFAULTS, ...cfg.circuitBreaker };
    for (const up of this.plan.upstreams) {
      this.upstreams.add(
        new UpstreamMember(up, await this.loadUpstreamInputs(up), {
          hostname: cfg.hostname,
          breaker,
          perOwnerConcurrency: this.resolvedLimits.upstreamPerUserConcurrency,
          onAcquireTimeout: (scope) => this.metrics.upstreamAcquireTimeouts.inc({ scope }),
        }),
      );
    }
    this.metrics.upstreamHealth.source = () => this.upstreams.health();
    this.dataSlots = new Slots(this.resolvedLimits.maxConcurrentData);
    for (const k of cfg.dkim ?? []) this.setDkimKey(k, (await readSecretDir(k.keyDir, ['private.key'])).files.get('private.key') as Buffer);
    // Pass-through failover sends a message again: it keeps a copy while the first upstream gets it.
    const replays = !cfg.queue && this.plan.routes.some((r) => r.upstreams.length > 1);
    if (cfg.dkim || replays) {
      const { spool, staleRemoved } = await Spool.open(cfg.spoolDir).catch((err: Error) => {
        throw new Error(`cannot use the spool directory ${cfg.spoolDir ?? '(temporary)'} for message spill files: ${err.message}`);
      });
      this.spool = spool;
      if (staleRemoved) this.log.warn('spool: removed message files left by an earlier run', { dir: spool.dir, count: staleRemoved });
    }

    // The queue is rescanned before the listeners open: what is in tmp/ then is a crash's leftover.
    if (cfg.queue) await this.openQueue(cfg.queue);

    for (const l of cfg.listeners) await this.listen(l);
    this.listening = true;
    const queue = queueRoutes({ summary: () => this.queueSummary(), drain: () => this.drain(), resume: () => this.resumeAccepting() });
    // GET /dkim: the signing keys' public halves, for the operator's DNS check (common/dkim-keys.ts).
    const dkimPublicKeys = (req: http.IncomingMessage, res: http.ServerResponse, path: string): boolean => {
      if (path !== DKIM_PATH) return false;
      res.writeHead(req.method === 'GET' || req.method === 'HEAD' ? 200 : 405, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(`${JSON.stringify({ keys: this.dkim.publicKeys() })}\n`);
      return true;
    };
    this.health = await startHealthServer({
      port: cfg.metricsPort,
      host: this.opts.metricsHost,
      registry: this.metrics.registry,
      ready: () => this.ready,
      routes: (req, res, path) => queue(req, res, path) || dkimPublicKeys(req, res, path),
    });

    this.watch(cfg.tls.dir, TLS_FILES, 'tls', tlsSnap.hash, (snap) => {
      this.applyKeyPair(snap, false);
    });
    if (internal) this.watch(internal.dir, TLS_FILES, 'internal-tls', internalTlsHash, (snap) => this.applyInternalKeyPair(snap, false));
    if (cfg.usersDir) this.watch(cfg.usersDir, undefined, 'users', usersHash, (snap) => this.setUsers(snap));
    if (cfg.managedUsersDir) this.watch(cfg.managedUsersDir, undefined, 'managed-users', managedHash, (snap) => this.setManagedUsers(snap));
    for (const up of this.plan.upstreams) {
      if (!up.credentialsDir) continue;
      const member = this.upstreams.get(up.name);
      // The single upstream keeps its source label (dashboards); named ones get theirs.
      const source = this.cfg.upstream ? 'upstream-credentials' : `upstream-credentials:${up.name}`;
      this.watch(up.credentialsDir, ['username', 'password'], source, undefined, (snap) => {
        member.pool.credentials = credentialsFrom(snap);
      });
    }
    for (const k of cfg.dkim ?? []) {
      // One watcher per key: a bad new key keeps the old one signing (watch() logs and counts it).
      this.watch(k.keyDir, ['private.key'], cfg.dkim!.length === 1 ? 'dkim' : `dkim:${k.domain}`, undefined, (snap) => {
        this.setDkimKey(k, snap.files.get('private.key') as Buffer);
      });
    }
    this.log.info('relay ready', { listeners: Object.fromEntries(this.ports), metricsPort: this.metricsPort, fingerprint: this.keyPair.fingerprint });
  }

  private async openQueue(q: NonNullable<RelayConfig['queue']>): Promise<void> {
    const store = await QueueStore.open(q.dir, (seconds, what) => this.metrics.queue.fsyncSeconds.observe({ what }, seconds)).catch((err: Error) => {
      throw new Error(`cannot use the queue directory ${q.dir}: ${err.message}`);
    });
    this.queue = new DeliveryQueue({
      store,
      upstreams: this.upstreams,
      routeFor: (env) => matchRoute(this.plan.routes, env.originalFrom ?? env.from, env.user),
      timing: q,
      // As many attempts in flight as the largest pool (each attempt holds one connection at a time).
      workers: Math.max(...this.plan.upstreams.map((u) => u.poolSize ?? 10)),
      leaseWaitMs: this.resolvedLimits.upstreamAcquireTimeoutMs,
      hostname: this.cfg.hostname,
      metrics: this.metrics,
      log: this.log,
    });
    const queue = this.queue;
    this.metrics.queue.source = () => {
      const s = queue.summary(true);
      return { depth: s.depth, oldestAgeSeconds: s.oldestAgeSeconds, bytes: s.bytes };
    };
    await queue.start();
  }

  /** GET /queue (common/queue-summary.ts). */
  queueSummary(): QueueSummary {
    const accepting = this.ready;
    const upstreams = this.upstreams?.health() ?? [];
    if (this.queue) return { ...this.queue.summary(accepting), upstreams };
    return { mode: 'pass-through', accepting, draining: this.draining, depth: 0, deferred: 0, oldestAgeSeconds: 0, bytes: 0, upstreams };
  }

  /** POST /drain: no new sessions or transactions (421), readiness false; the queue delivers everything. */
  drain(): void {
    if (!this.draining) this.log.info('draining: no longer accepting mail', { queued: this.queue?.depth ?? 0 });
    this.draining = true;
    this.queue?.drain();
  }

  /** DELETE /drain: accept again. */
  resumeAccepting(): void {
    if (this.draining) this.log.info('drain taken back: accepting mail again');
    this.draining = false;
    this.queue?.resume();
  }

  private async loadUpstreamInputs(up: RelayNamedUpstream): Promise<UpstreamInputs> {
    const out: UpstreamInputs = {};
    if (up.credentialsDir) out.credentials = credentialsFrom(await readSecretDir(up.credentialsDir, ['username', 'password']));
    if (up.caDir) out.ca = (await readSecretDir(up.caDir, ['ca.crt'])).files.get('ca.crt');
    // The OAuth2 secret files are read at every token request (credentials.ts): rotation needs no watcher.
    if (up.auth) out.tokenSource = createOAuth2TokenSource(up.auth);
    return out;
  }

  /** Parses the key now (a readable error rather than one at the first message) and serves it. */
  private setDkimKey(k: RelayDkimKey, privateKey: Buffer): void {
    const key = privateKey.toString('utf8');
    const publicKey = publicKeyOf(key);
    this.dkim.set(k.domain, k.selector, new DKIM({ domainName: k.domain, keySelector: k.selector, privateKey: key }), publicKey);
  }

  private setUsers(snap: DirSnapshot): void {
    this.staticUsers = snap;
    this.rebuildUsers();
    // Names only, never the value: a plaintext password in the Secret is readable by anyone who can read the Secret.
    for (const user of this.users.plaintextUsers) this.log.warn('users dir: plaintext password, not a bcrypt hash; store a bcrypt hash instead', { user });
    if (this.users.skipped.length) this.log.warn('users dir: entries ignored (bad user name or empty)', { count: this.users.skipped.length });
    this.log.info('users loaded', { users: this.users.size });
  }

  /** The operator's SmtpUsers: hashes (with rotation grace) and each user's senders. */
  private setManagedUsers(snap: DirSnapshot): void {
    const { users, skipped } = parseManagedUsers(snap);
    this.managedUsers = users;
    if (skipped.length) this.log.warn('managed users dir: entries ignored (bad user name or content)', { count: skipped.length });
    this.rebuildUsers();
    const managedLogins = Object.fromEntries([...users].map(([name, u]) => [name, u.senders]));
    // relay.json's senderLogins win for a name in both, as the static users do.
    this.senders = new SenderBinding({ ...this.cfg.policy, senderLogins: { ...managedLogins, ...this.cfg.policy.senderLogins } });
    this.log.info('managed users loaded', { users: users.size });
  }

  private rebuildUsers(): void {
    const store = UserStore.merged(this.staticUsers, this.managedUsers, this.bcrypt.compare);
    if (store.shadowed.length) this.log.warn('managed users shadowed by a static user of the same name (the static one is used)', { users: store.shadowed.join(',') });
    this.users = store;
  }

  /** Validates and serves a key pair; on reload, a bad pair throws and the old one keeps serving. */
  private applyKeyPair(snap: DirSnapshot, initial: boolean): LoadedKeyPair {
    const pair = buildKeyPair(snap, this.cfg.tls.profile, this.cfg.tls.minVersion);
    if (!initial) {
      this.keyPair = pair;
      this.refreshSecureContexts();
      this.log.info('TLS key pair reloaded', { fingerprint: pair.fingerprint, notAfter: pair.notAfter.toISOString() });
    }
    this.metrics.certNotAfter.set(Math.floor(pair.notAfter.getTime() / 1000));
    return pair;
  }

  /** The in-cluster key pair (cfg.tls.internal): same checks and policy; a bad reload keeps the old one. */
  private applyInternalKeyPair(snap: DirSnapshot, initial: boolean): LoadedKeyPair {
    const pair = buildKeyPair(snap, this.cfg.tls.profile, this.cfg.tls.minVersion);
    if (!initial) {
      this.internalKeyPair = pair;
      this.refreshSecureContexts();
      this.log.info('internal TLS key pair reloaded', { fingerprint: pair.fingerprint, notAfter: pair.notAfter.toISOString() });
    }
    return pair;
  }

  /**
   * Every listener's TLS options: the main key pair by default, the internal one for the SNI
   * names in cfg.tls.internal (smtp-server resolves SNI from sniOptions on STARTTLS and
   * implicit TLS alike; no SNI or another name falls back to the main pair).
   */
  private serverTlsOptions(): LoadedKeyPair['options'] & { sniOptions?: Map<string, LoadedKeyPair['options']> } {
    const main = (this.keyPair as LoadedKeyPair).options;
    const internal = this.cfg.tls.internal;
    if (!internal || !this.internalKeyPair) return main;
    const options = this.internalKeyPair.options;
    return { ...main, sniOptions: new Map(internal.serverNames.map((n) => [n, options])) };
  }

  private refreshSecureContexts(): void {
    const options = this.serverTlsOptions();
    for (const s of this.servers.values()) s.updateSecureContext(options);
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
    const limits = resolveLimits(cfg);
    const allowed = isRelay ? allowListFor(l.allowedNetworks ?? [], `${l.name}.allowedNetworks`) : null;
    const clientLimits = new ClientConnectionLimits(limits.maxConnectionsPerClient, limits.connectionRatePerMinute);
    const trustedProxy = l.proxyProtocol ? allowListFor(l.proxyProtocol.trustedProxies, `${l.name}.proxyProtocol.trustedProxies`) : null;
    const senderLists = [cfg.policy.allowedSenderDomains, l.allowedSenderDomains ?? []];
    const server = new ListenerServer({
      ...this.serverTlsOptions(),
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
      preAuth: {
        commands: limits.preAuthCommands,
        preTlsTimeoutMs: limits.preTlsTimeoutMs,
        preAuthTimeoutMs: limits.preAuthTimeoutMs,
        endsWith: isRelay ? 'mail' : 'auth',
      },
      proxyProtocol: trustedProxy
        ? {
            isTrusted: trustedProxy,
            headerTimeoutMs: limits.preTlsTimeoutMs,
            onRefused: (peer, reason) => this.log.warn('PROXY header missing or invalid from a trusted proxy: connection closed', { listener: l.name, peer, reason }),
          }
        : undefined,
      onConnect: (session, cb) => {
        const state: SessionState = { listener: l.name, tlsVersion: 'none' };
        this.sessions.set(session, state);
        if (this.stopping || this.draining) return cb(smtpError(421, SHUTTING_DOWN));
        if (allowed && !allowed(session.remoteAddress)) {
          this.log.warn('relay listener: client address not allowed', { listener: l.name, client: session.remoteAddress });
          return cb(smtpError(554, '5.7.1 Relay access denied for this client address'));
        }
        // session.remoteAddress is the PROXY header's source when the peer is a trusted proxy.
        const admission = clientLimits.admit(session.remoteAddress);
        if (!admission.ok) {
          this.metrics.connectionsRefused.inc({ listener: l.name, reason: admission.reason });
          this.log.warn('too many connections from one client', { listener: l.name, client: session.remoteAddress, reason: admission.reason });
          return cb(smtpError(421, '4.7.0 Too many connections from your address'));
        }
        state.clientSlot = admission.key;
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
      dataGate: this.dataGate,
      onData: (stream, session, cb) => void this.onData(l, stream, session, cb),
      onClose: (session) => {
        const st = this.sessions.get(session);
        if (st?.clientSlot !== undefined) clientLimits.release(st.clientSlot);
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
    if ((auth.method !== 'PLAIN' && auth.method !== 'LOGIN') || !auth.username) return cb(smtpError(504, '5.5.4 Unrecognized authentication type'));
    // The slot is taken before the password is checked: attempts in flight count (auth-throttle.ts).
    const attempt = await this.authThrottle.begin(ip, auth.username);
    if (isBlocked(attempt)) {
      this.metrics.authFailures.inc({ listener: l.name });
      this.metrics.authThrottled.inc({ listener: l.name, scope: attempt.blocked });
      this.log.warn('auth throttled', { listener: l.name, client: ip, scope: attempt.blocked, session: session.id });
      return cb(smtpError(454, '4.7.0 Too many authentication failures, try again later'));
    }
    let ok = false;
    try {
      ok = await this.users.verify(auth.username, auth.password ?? '');
    } catch (err) {
      attempt.released(); // not a wrong password: nothing was checked
      const busy = err instanceof BcryptPoolBusy;
      if (busy) this.metrics.authThrottled.inc({ listener: l.name, scope: 'busy' });
      this.log.warn('auth not checked', { listener: l.name, client: ip, session: session.id, reason: busy ? 'verification queue full' : (err as Error).message });
      return cb(smtpError(454, '4.7.0 Temporary authentication failure, try again later'));
    }
    if (!ok) {
      attempt.failed();
      this.metrics.authFailures.inc({ listener: l.name });
      this.log.info('auth failed', { listener: l.name, client: ip, session: session.id });
      return cb(null, { message: '5.7.8 Authentication credentials invalid', responseCode: 535 } as SMTPServerAuthenticationResponse);
    }
    attempt.released();
    this.log.info('auth ok', { listener: l.name, user: auth.username, session: session.id });
    cb(null, { user: auth.username });
  }

  private onMailFrom(l: RelayListenerConfig, address: SMTPServerAddress, session: SMTPServerSession, senderLists: string[][]): Error | undefined {
    // A session open when the drain began ends here, after its last transaction (421 closes it).
    if (this.stopping || this.draining) return smtpError(421, SHUTTING_DOWN);
    const refusal = checkSender(address.address, senderLists);
    if (refusal) {
      this.log.info('sender refused', { listener: l.name, session: session.id, user: session.user, reason: refusal.message });
      return refusalError(refusal);
    }
    // Login-to-sender binding (sender-binding.ts). The null sender owns no address, so it is
    // not checked here (as Postfix); checkSender above refuses it wherever domains are listed.
    if (typeof session.user === 'string' && address.address !== '') {
      const mismatch = this.senders.check(session.user, address.address);
      if (mismatch) {
        this.metrics.senderLoginMismatch.inc({ where: 'envelope' });
        this.log.warn('sender not owned by user', { listener: l.name, session: session.id, user: session.user, where: 'envelope' });
        return refusalError(mismatch);
      }
    }
    // Routes after the login-to-sender binding: a user's mail goes only through routes its senders match.
    const route = matchRoute(this.plan.routes, address.address, typeof session.user === 'string' && session.user ? session.user : undefined);
    if (!route) {
      this.metrics.noRoute.inc();
      this.log.info('sender refused: no route', { listener: l.name, session: session.id, user: session.user });
      const r = noRoute(address.address);
      return smtpError(r.code, r.message);
    }
    this.routes.set(session, route);
    if (session.envelope.requireTLS && route.upstreams.some((n) => this.upstreams.get(n).config.tls === 'none-insecure')) {
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

  /** The DATA gate of every listener (data-gate.ts): admission before the 354. */
  private readonly dataGate: DataGate = {
    admit: async (session) => {
      const r = await this.admit(session);
      if ('refusal' in r) return r.refusal;
      this.admitted.set(session, r);
      return null;
    },
    dispatched: (session) => {
      // onData takes its admission synchronously; one still here was never used (e.g. shutdown).
      const left = this.admitted.get(session);
      if (!left) return;
      this.admitted.delete(session);
      left.lease?.release(true);
      left.member?.breaker.onAbandon();
      left.releaseData();
    },
  };

  /**
   * Reserves what one transaction needs, in this order, within upstreamAcquireTimeoutMs
   * together: a slot of the sender (user, or client address on the relay listener) and an
   * upstream connection (UpstreamPool.lease), then a DATA slot. The owner's slot comes
   * first, so one sender's waiting transactions never hold DATA slots others need.
   */
  private async admit(session: SMTPServerSession): Promise<Admission | { refusal: DataRefusal }> {
    if (this.stopping) return { refusal: { code: 421, message: SHUTTING_DOWN } };
    const waitMs = this.resolvedLimits.upstreamAcquireTimeoutMs;
    const deadline = Date.now() + waitMs;
    if (this.queue) {
      // Durable: the message goes to disk, not to the upstream; only the DATA slots bound it.
      const releaseData = await this.dataSlots.acquire(waitMs);
      if (releaseData) return { releaseData };
      this.metrics.dataRefusedBusy.inc();
      this.metrics.messages.inc({ result: 'temp_failure' });
      this.log.info('DATA refused', { session: session.id, client: session.remoteAddress, code: 451, reason: 'data_slots_busy' });
      return { refusal: { code: 451, message: '4.3.2 Too many concurrent transactions, try again later' } };
    }
    const user = typeof session.user === 'string' && session.user ? session.user : undefined;
    // Unauthenticated (relay listener): the client as per-client limits count it (IPv4 address, IPv6 /64).
    const owner = user ? `user:${user}` : `ip:${clientKey(session.remoteAddress)}`;
    const route = this.routes.get(session);
    if (!route) return { refusal: { code: 503, message: '5.5.1 Error: need MAIL command' } }; // MAIL FROM always sets one
    const picked = await this.leaseAlong(route.upstreams, { owner, waitMs }, session.id);
    const leased = picked.result;
    if (!leased.ok) {
      this.metrics.messages.inc({ result: 'temp_failure' });
      this.log.info('DATA refused', { session: session.id, user, client: session.remoteAddress, code: leased.code, reason: leased.reason });
      return { refusal: { code: leased.code, message: leased.message } };
    }
    const releaseData = await this.dataSlots.acquire(deadline - Date.now());
    if (!releaseData) {
      leased.lease.release(true);
      this.metrics.dataRefusedBusy.inc();
      this.metrics.messages.inc({ result: 'temp_failure' });
      this.log.info('DATA refused', { session: session.id, user, client: session.remoteAddress, code: 451, reason: 'data_slots_busy' });
      return { refusal: { code: 451, message: '4.3.2 Too many concurrent transactions, try again later' } };
    }
    return { lease: leased.lease, member: picked.member, next: picked.next, releaseData };
  }

  /**
   * A connection from the first of `names` (a route's upstreams, in order) that gives one:
   * breakers skip open upstreams (upstream-set.ts), a connection error, timeout or login
   * failure moves on to the next. `next`: the upstreams after the one leased (failover).
   */
  private async leaseAlong(
    names: readonly string[],
    req: { owner: string; waitMs: number },
    session: string,
  ): Promise<{ result: Awaited<ReturnType<UpstreamMember['lease']>>; member?: UpstreamMember; next: string[] }> {
    const candidates = this.upstreams.candidates({ upstreams: [...names] });
    let last: Awaited<ReturnType<UpstreamMember['lease']>> = { ok: false, code: 451, temporary: true, reason: 'upstream_unavailable', message: '4.4.1 Upstream unavailable, try again later' };
    for (const [i, { member, force }] of candidates.entries()) {
      const r = await member.lease(req, force);
      if (r.ok) return { result: r, member, next: names.slice(names.indexOf(member.name) + 1) };
      last = r;
      if (!failsOver(r)) break;
      if (i + 1 < candidates.length) {
        this.metrics.upstreamFailovers.inc({ upstream: member.name });
        this.log.info('upstream failover', { session, upstream: member.name, reason: r.reason, next: candidates[i + 1]?.member.name });
      }
    }
    return { result: last, next: [] };
  }

  /**
   * DKIM signing of one message. The signer needs the whole body before it can write the
   * signature header: the first dkimSpillBytes stay in memory, the rest goes to a spool
   * directory of this message's own, removed by dispose() however the message ended.
   */
  private async startSigning(dkim: DKIM, msgId: string, input: Readable): Promise<Signing> {
    const scratch = await (this.spool as Spool).scratch(msgId);
    // The signer destroys its input when its output is dropped: give it a stream of its own,
    // never one the client's data still flows through.
    const signerInput = new PassThrough();
    input.pipe(signerInput);
    const signed = dkim.sign(signerInput, { cacheDir: scratch.path, cacheTreshold: this.resolvedLimits.dkimSpillBytes });
    const signing: Signing = {
      signed,
      failed: false,
      detach: () => {
        input.unpipe(signerInput);
        signed.destroy();
      },
      dispose: async () => {
        signed.destroy(); // no-op once read in full; else the signer drops its spill file
        await scratch.remove();
      },
    };
    signed.on('error', (err: Error) => {
      signing.failed = true;
      this.log.warn('DKIM signing failed', { msgId, error: err.message });
    });
    return signing;
  }

  private async onData(l: RelayListenerConfig, stream: SMTPServerDataStream, session: SMTPServerSession, cb: (err?: Error | null, message?: string) => void): Promise<void> {
    // The DATA gate reserved the upstream connection and a DATA slot before the 354.
    const admission = this.admitted.get(session);
    this.admitted.delete(session);
    if (!admission) return cb(smtpError(451, '4.3.0 Transaction not admitted, try again later')); // every DATA passes the gate
    const msgId = crypto.randomUUID();
    const started = process.hrtime.bigint();
    const env = session.envelope;
    const sender = env.mailFrom ? env.mailFrom.address : '';
    // routes[].rewriteFrom: the upstream sees the route's mailbox as the sender (from-rewrite.ts).
    const rewriteFrom = sender !== '' ? this.routes.get(session)?.rewriteFrom : undefined;
    const from = rewriteFrom ?? sender;
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
    let headerFrom: FromHeader | undefined;
    const senderGate = this.headerFromGate(l, session, abort.signal, (from) => (headerFrom = from));
    (senderGate ? stream.pipe(senderGate) : stream).pipe(counter);
    const body: Readable = rewriteFrom ? counter.pipe(new FromRewriter(rewriteFrom)) : counter;
    // The header From: is checked before the upstream hears of the message (header-from-gate.ts).
    const headerRefusal = senderGate ? await senderGate.decision : null;
    // DKIM last: it signs exactly what the upstream gets.
    let signing: Signing | null = null;
    let signingSetupFailed = false;
    // The key aligned with the header From: the upstream gets (the route's mailbox when rewritten).
    const signer = headerRefusal || this.dkim.size === 0 ? undefined : this.dkim.signerFor(rewriteFrom ? domainOf(rewriteFrom) : fromDomain(headerFrom));
    if (this.dkim.size > 0 && !headerRefusal && !signer) this.metrics.dkimUnsigned.inc();
    if (signer) {
      signing = await this.startSigning(signer, msgId, body).catch((err: Error) => {
        this.log.error('DKIM: cannot create the spill directory', { msgId, error: err.message });
        signingSetupFailed = true;
        return null;
      });
    }
    let outcome: UpstreamOutcome;
    let replay: ReplayBuffer | null = null;
    if (headerRefusal) {
      admission.lease?.release(true);
      admission.member?.breaker.onAbandon();
      outcome = headerRefusedOutcome(headerRefusal);
    } else if (signingSetupFailed) {
      admission.lease?.release(true);
      admission.member?.breaker.onAbandon();
      outcome = LOCAL_ERROR;
    } else if (this.queue) {
      // Durable: 250 only once the message is fsynced in the queue (queue/store.ts). DKIM
      // signed it on the way in, so the queued bytes are final.
      const queued = await this.queue.accept(
        { id: msgId, from, ...(rewriteFrom ? { originalFrom: sender } : {}), to, user: typeof session.user === 'string' && session.user ? session.user : undefined, client: session.remoteAddress, requireTls: env.requireTLS === true, use8BitMime: env.bodyType === '8bitmime' },
        signing?.signed ?? body,
        abort.signal,
      );
      outcome = queued.ok ? { ok: true, response: 'queued' } : QUEUE_FULL;
    } else {
      const member = admission.member as UpstreamMember;
      const upstreamEnvelope = { from, to, requireTls: env.requireTLS === true, use8BitMime: env.bodyType === '8bitmime' };
      let outgoing = signing?.signed ?? body;
      // A copy for the next upstream of the route, if there is one (failover needs the body again).
      if (admission.next?.length && this.spool) {
        const scratch = await this.spool.scratch(`${msgId}-replay`).catch(() => null);
        if (scratch) {
          replay = new ReplayBuffer(scratch, this.resolvedLimits.dkimSpillBytes);
          outgoing = outgoing.pipe(replay.tee);
        }
      }
      outcome = await member.pool.send(admission.lease as UpstreamLease, upstreamEnvelope, outgoing, abort.signal);
      member.report(outcome);
      outcome = await this.failOver(outcome, member, admission.next ?? [], { replay, clientEnded, upstreamEnvelope, signal: abort.signal, session, msgId, isTooBig: () => tooBig || clientGone });
    }
    if (signing?.failed && !outcome.ok) outcome = LOCAL_ERROR;
    if (!outcome.ok) {
      // Stop signing a message that fails anyway, and keep reading the client so it gets
      // its reply once its DATA is complete.
      signing?.detach();
      replay?.detach(); // the copy's stream to the upstream is no longer read
      body.resume();
    }
    await clientEnded;
    await signing?.dispose(); // the spill file goes, however the message ended
    await replay?.dispose();
    admission.releaseData();
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
      result = this.queue ? 'queued' : 'delivered';
      reply = { code: 250, message: this.queue ? `2.0.0 Ok: queued as ${msgId}` : `2.0.0 Ok: relayed as ${msgId}` };
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

  /**
   * Pass-through failover: after a connection error, timeout or 4xx on one upstream, the
   * message goes to the next upstream of its route (breakers skip open ones), from the copy
   * kept while the first one got it. The client hears the last answer: 451 only once every
   * upstream of the route failed. At least once: an upstream that lost the connection after
   * the final dot (or timed out waiting for its reply) may have taken the message; the next
   * one then delivers it again, as the client's own retry would. A 4xx after the dot is no
   * such risk: the upstream said it did not take the message.
   */
  private async failOver(
    first: UpstreamOutcome,
    failed: UpstreamMember,
    next: string[],
    t: { replay: ReplayBuffer | null; clientEnded: Promise<void>; upstreamEnvelope: Parameters<UpstreamMember['pool']['send']>[1]; signal: AbortSignal; session: SMTPServerSession; msgId: string; isTooBig: () => boolean },
  ): Promise<UpstreamOutcome> {
    let outcome = first;
    let from = failed;
    let rest = next;
    while (!outcome.ok && failsOver(outcome) && rest.length > 0 && t.replay && !t.signal.aborted) {
      // The whole message must be in the copy: wait for the client's final dot.
      t.replay.detach();
      await t.clientEnded;
      if (t.isTooBig() || !(await t.replay.complete)) break;
      const owner = typeof t.session.user === 'string' && t.session.user ? `user:${t.session.user}` : `ip:${clientKey(t.session.remoteAddress)}`;
      this.metrics.upstreamFailovers.inc({ upstream: from.name });
      const picked = await this.leaseAlong(rest, { owner, waitMs: this.resolvedLimits.upstreamAcquireTimeoutMs }, t.session.id);
      this.log.info('upstream failover', { msgId: t.msgId, session: t.session.id, upstream: from.name, reason: outcome.ok ? undefined : outcome.reason, next: picked.member?.name });
      if (!picked.result.ok || !picked.member) {
        outcome = picked.result.ok ? outcome : picked.result;
        break;
      }
      outcome = await picked.member.pool.send(picked.result.lease, t.upstreamEnvelope, t.replay.open(), t.signal);
      picked.member.report(outcome);
      from = picked.member;
      rest = picked.next;
    }
    return outcome;
  }

  /**
   * For an authenticated user whose senders are restricted: the gate that holds the message
   * until its header From: is checked against the login-to-sender binding. Null otherwise.
   */
  /**
   * Holds the message until its header is read when the header From: matters: the user's
   * senders are restricted (login-to-sender binding), or DKIM picks its key by From:. The
   * From: is parsed once, for both; `onFrom` gets it.
   */
  private headerFromGate(l: RelayListenerConfig, session: SMTPServerSession, signal: AbortSignal, onFrom: (from: FromHeader) => void): HeaderFromGate | null {
    const user = session.user;
    const restricted = typeof user === 'string' && this.senders.restricts(user);
    if (!restricted && this.dkim.size === 0) return null;
    return new HeaderFromGate((block) => {
      const from = fromHeader(block);
      onFrom(from);
      if (!restricted) return null;
      const refusal = checkParsedFromHeader(from, user, (address) => this.senders.owns(user, address));
      if (refusal) {
        this.metrics.senderLoginMismatch.inc({ where: 'header' });
        this.log.warn('sender not owned by user', { listener: l.name, session: session.id, user, where: 'header', reason: refusal.message });
      }
      return refusal;
    }, signal);
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
      // Durable: stop delivering (in-flight attempts get the grace period); the queue stays on its volume.
      await this.queue?.stop(graceMs);
      this.upstreams?.close();
      this.dataSlots?.close();
      await this.spool?.close();
      await this.bcrypt.close();
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

/** A message refused by the header check, as the upstream outcome the reply is built from. */
function headerRefusedOutcome(r: Refusal): UpstreamOutcome {
  const reason = r.code === 553 ? 'sender_login_mismatch' : r.code === 552 ? 'header_too_big' : 'aborted';
  return { ok: false, code: r.code, message: r.message, temporary: r.code < 500, reason };
}

function credentialsFrom(snap: DirSnapshot): UpstreamCredentials {
  const text = (name: string) => (snap.files.get(name) as Buffer).toString('utf8').replace(/\r?\n$/, '');
  const user = text('username');
  if (!user) throw new Error(`upstream credentials: ${path.join('credentialsDir', 'username')} is empty`);
  return { user, pass: text('password') };
}
