// The contract between the operator and the relay process.
// The operator renders RelayConfig as JSON into the relay's ConfigMap (key
// `relay.json`); Kubernetes mounts it and the Secrets at the paths below.
// The relay knows nothing of Kubernetes: it only reads these files.

export const RELAY_CONFIG_KEY = 'relay.json';

/** Where the relay pod mounts things. The local runtime uses the same layout under a temp dir. */
export const MOUNTS = {
  config: '/etc/smtp-relay/config', // relay.json
  tls: '/etc/smtp-relay/tls', // tls.crt, tls.key (kubernetes.io/tls Secret)
  internalTls: '/etc/smtp-relay/internal-tls', // tls.crt, tls.key of spec.tls.internalCertificate (the in-cluster names, chosen by SNI)
  users: '/etc/smtp-relay/users', // one file per user: name = username, content = password or bcrypt hash
  managedUsers: '/etc/smtp-relay/managed-users', // the operator's <relay>-smtpusers Secret (SmtpUsers): one JSON file per user
  upstreamCredentials: '/etc/smtp-relay/upstream-credentials', // username, password
  upstreamCa: '/etc/smtp-relay/upstream-ca', // ca.crt
  dkim: '/etc/smtp-relay/dkim', // private.key
  spool: '/var/spool/smtp-relay', // emptyDir: scratch space only, never the only copy of an acknowledged message
  queue: '/var/lib/smtp-relay/queue', // PersistentVolumeClaim in Durable mode: the durable queue
} as const;

/** One DKIM signing key: keyDir holds `private.key` (PEM). */
export interface RelayDkimKey {
  domain: string;
  selector: string;
  keyDir: string;
}

export interface RelayListenerConfig {
  name: 'submission' | 'submissions' | 'relay';
  port: number;
  /** starttls: plaintext greeting, TLS required before AUTH/MAIL. implicit: TLS from the first byte. */
  mode: 'starttls' | 'implicit';
  /** Only for the relay listener: no AUTH, client IP must be in allowedNetworks. */
  allowedNetworks?: string[];
  /** Only for the relay listener. */
  allowedSenderDomains?: string[];
  /**
   * Public listeners only (submission, submissions): accept a PROXY protocol v2 header, and
   * only from these CIDRs (the load balancers). The client address it carries then replaces
   * the TCP peer for every per-address check. Absent: PROXY headers are not accepted.
   */
  proxyProtocol?: { trustedProxies: string[] };
}

export type OAuth2Provider = 'microsoft' | 'google' | 'generic';
export type OAuth2ClientAuth = 'client_secret_post' | 'client_secret_basic' | 'private_key_jwt';

/** An upstream login with OAuth2 (SASL XOAUTH2); src/relay/oauth2/settings.ts validates it. */
export interface OAuth2UpstreamAuth {
  type: 'oauth2';
  provider: OAuth2Provider;
  /** The mailbox: XOAUTH2 `user=`, and Google's `sub` (domain-wide delegation). */
  user: string;
  /** Microsoft: the tenant (id or domain) of the default endpoint. */
  tenant?: string;
  /** Overrides the provider's endpoint (sovereign clouds, tests). */
  tokenEndpoint?: string;
  scope?: string;
  /**
   * Microsoft, generic: the application (client) id. Google takes client_email from the key
   * file; a clientId there adds client_secret_post to the grant, for servers that want it.
   */
  clientId?: string;
  /** Microsoft, generic: default client_secret_post. Google always signs with the service account key. */
  clientAuth?: OAuth2ClientAuth;
  /** Mounted Secret: `client-secret`, or `tls.key` + `tls.crt` (private_key_jwt), or `service-account.json` (Google). */
  secretDir: string;
  requestTimeoutMs?: number;
  refreshFraction?: number;
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

export interface RelayUpstream {
  host: string;
  port: number;
  tls: 'starttls' | 'implicit' | 'none-insecure';
  /** Directory with `username` and `password` (password login). Not with `auth`. */
  credentialsDir?: string;
  /** Directory with `ca.crt`. */
  caDir?: string;
  /** SNI / certificate name to verify; defaults to host. */
  servername?: string;
  poolSize?: number;
  connectTimeoutMs?: number;
  /** Per-transaction timeout. */
  timeoutMs?: number;
  /** OAuth2 login (XOAUTH2) instead of credentialsDir. */
  auth?: OAuth2UpstreamAuth;
}

export interface RelayNamedUpstream extends RelayUpstream {
  /** Unique; DNS-label-like (letters, digits, -), used in metrics labels and GET /queue. */
  name: string;
}

export interface RelayRoute {
  /** Envelope sender domains (exact, lowercase); unset: any sender. */
  senderDomains?: string[];
  /** Authenticated users; unset: any user, and unauthenticated clients (relay listener). */
  users?: string[];
  /** Upstream names, tried in order (failover). */
  upstreams: string[];
  /** Opt-in: envelope sender and header From: become this mailbox; the original From: goes to Reply-To. */
  rewriteFrom?: string;
}

export const CIRCUIT_BREAKER_DEFAULTS = { failureThreshold: 3, openMs: 5_000, maxOpenMs: 300_000 } as const;

export interface RelayConfig {
  hostname: string;
  listeners: RelayListenerConfig[];
  tls: {
    /** Directory with tls.crt and tls.key. */
    dir: string;
    minVersion: 'TLSv1.2' | 'TLSv1.3';
    profile: 'intermediate' | 'modern';
    /**
     * A second key pair (spec.tls.internalCertificate) for the in-cluster Service names, which a
     * public certificate cannot carry. Served when the client's SNI is one of serverNames (exact,
     * lowercase); no SNI or any other name gets the key pair in `dir`. Hot-reloaded like it.
     */
    internal?: { dir: string; serverNames: string[] };
  };
  /** Directory with one file per user; absent means no authenticated submission. */
  usersDir?: string;
  /**
   * Directory the operator fills for SmtpUsers (hot-reloaded, never rolls pods): one file per
   * user, name = user name, content = JSON {hashes: [{hash, notAfter?}], senders: [...]}. The
   * senders bind that user like policy.senderLogins (which wins for a name in both).
   */
  managedUsersDir?: string;
  /**
   * Today's single upstream: shorthand for `upstreams: [{ name: 'default', ...upstream }]` and
   * `routes: [{ upstreams: ['default'] }]` (one catch-all route). Exactly one of `upstream` and
   * `upstreams` is set.
   */
  upstream?: RelayUpstream;
  /** Named upstreams; routes refer to them by name. */
  upstreams?: RelayNamedUpstream[];
  /**
   * Ordered: the first route that matches the envelope sender's domain (senderDomains, if set)
   * and the authenticated user (users, if set) carries the message; a route with neither is a
   * catch-all. No route matches: 550 5.7.1 at MAIL FROM. Required with `upstreams`.
   */
  routes?: RelayRoute[];
  /** Per-upstream circuit breaker (defaults: CIRCUIT_BREAKER_DEFAULTS). */
  circuitBreaker?: { failureThreshold?: number; openMs?: number; maxOpenMs?: number };
  policy: {
    allowedSenderDomains: string[];
    maxMessageBytes: number;
    maxRecipients: number;
    rateLimit?: { messagesPerMinute: number; burst: number };
    /**
     * Login-to-sender binding (Postfix smtpd_sender_login_maps): user name -> the envelope and
     * header From: senders that user may use, each a full address (billing@example.com) or a
     * whole domain ('@invoices.example.com'). A user not listed may use allowedSenderDomains.
     */
    senderLogins?: Record<string, string[]>;
  };
  /**
   * DKIM keys, one per signing domain (d=). A message is signed with the key whose domain
   * aligns with its header From: (relaxed, see src/relay/dkim-keys.ts), else sent unsigned.
   * relay.json may still hold the older single object; validation normalises it to a list.
   */
  dkim?: RelayDkimKey[];
  limits: {
    maxConnections: number;
    socketTimeoutMs: number;
    closeTimeoutMs: number;
    /** AUTH failures allowed per window, per client address (IPv6: per /64) and per user name. */
    authFailuresPerMinute: number;
    // The fields below are optional in relay.json; resolveLimits() fills RELAY_LIMIT_DEFAULTS.
    /** Length of the AUTH-failure window (ms). */
    authFailureWindowMs?: number;
    /** Concurrent connections per client (IPv4 address or IPv6 /64), per listener. */
    maxConnectionsPerClient?: number;
    /** New connections per client (IPv4 address or IPv6 /64) per minute, per listener. */
    connectionRatePerMinute?: number;
    /** Commands a client may send before it has authenticated (before TLS included). */
    preAuthCommands?: number;
    /** Idle timeout before TLS (ms). */
    preTlsTimeoutMs?: number;
    /** Idle timeout after TLS and before AUTH (ms). */
    preAuthTimeoutMs?: number;
    /** DATA transactions in flight per pod; more wait for a slot or get 451. */
    maxConcurrentData?: number;
    /** A DKIM-signed message above this many bytes is buffered in spoolDir, not in memory. */
    dkimSpillBytes?: number;
    /** Upstream pool slots one user (or one client address, unauthenticated) may hold at once. */
    upstreamPerUserConcurrency?: number;
    /** Longest wait for an upstream pool slot before 451 (ms). */
    upstreamAcquireTimeoutMs?: number;
  };
  /**
   * Durable mode (spec.queue.mode: Durable): the relay answers 250 only once the message and its
   * envelope are fsynced in `dir` (the pod's PersistentVolumeClaim at MOUNTS.queue) and delivers
   * from there. Absent: pass-through (the client's answer is the upstream's).
   */
  queue?: { dir: string; maxAgeMs: number; minBackoffMs: number; maxBackoffMs: number };
  /** Scratch directory (the pod's emptyDir at MOUNTS.spool): never the only copy of an acknowledged message. */
  spoolDir?: string;
  /** Port for /metrics, /healthz, /readyz. */
  metricsPort: number;
}

export type ResolvedLimits = Required<RelayConfig['limits']>;

/** Defaults of the optional limits; conservative for a submission relay (Postfix anvil-like). */
export const RELAY_LIMIT_DEFAULTS: Omit<ResolvedLimits, keyof Pick<ResolvedLimits, 'maxConnections' | 'socketTimeoutMs' | 'closeTimeoutMs' | 'authFailuresPerMinute' | 'upstreamPerUserConcurrency' | 'maxConcurrentData'>> = {
  authFailureWindowMs: 60_000,
  maxConnectionsPerClient: 20,
  connectionRatePerMinute: 120,
  preAuthCommands: 20,
  preTlsTimeoutMs: 20_000,
  preAuthTimeoutMs: 60_000,
  dkimSpillBytes: 1024 * 1024,
  upstreamAcquireTimeoutMs: 10_000,
};

/** Every limit with its default filled in. Pure. */
export function resolveLimits(cfg: Pick<RelayConfig, 'limits' | 'upstream' | 'upstreams'>): ResolvedLimits {
  const l = cfg.limits;
  // One transaction holds one upstream connection at a time: the largest pool bounds the defaults.
  const pool = Math.max(...[cfg.upstream, ...(cfg.upstreams ?? [])].map((u) => (u ? (u.poolSize ?? 10) : 0)), 1); // 10: UpstreamPool's default
  return {
    ...RELAY_LIMIT_DEFAULTS,
    ...Object.fromEntries(Object.entries(l).filter(([, v]) => v !== undefined)),
    // One user may hold at most half the pool (at least one slot), so nobody can starve the rest.
    upstreamPerUserConcurrency: l.upstreamPerUserConcurrency ?? Math.max(1, Math.floor(pool / 2)),
    // Enough DATA slots for every pool connection twice over, bounded by connections.
    maxConcurrentData: l.maxConcurrentData ?? Math.min(l.maxConnections, Math.max(4, pool * 2)),
  } as ResolvedLimits;
}
