// The contract between the operator and the relay process.
// The operator renders RelayConfig as JSON into the relay's ConfigMap (key
// `relay.json`); Kubernetes mounts it and the Secrets at the paths below.
// The relay knows nothing of Kubernetes: it only reads these files.

export const RELAY_CONFIG_KEY = 'relay.json';

/** Where the relay pod mounts things. The local runtime uses the same layout under a temp dir. */
export const MOUNTS = {
  config: '/etc/smtp-relay/config', // relay.json
  tls: '/etc/smtp-relay/tls', // tls.crt, tls.key (kubernetes.io/tls Secret)
  users: '/etc/smtp-relay/users', // one file per user: name = username, content = password or bcrypt hash
  upstreamCredentials: '/etc/smtp-relay/upstream-credentials', // username, password
  upstreamCa: '/etc/smtp-relay/upstream-ca', // ca.crt
  dkim: '/etc/smtp-relay/dkim', // private.key
  spool: '/var/spool/smtp-relay', // emptyDir: scratch space only, never the only copy of an acknowledged message
} as const;

export interface RelayListenerConfig {
  name: 'submission' | 'submissions' | 'relay';
  port: number;
  /** starttls: plaintext greeting, TLS required before AUTH/MAIL. implicit: TLS from the first byte. */
  mode: 'starttls' | 'implicit';
  /** Only for the relay listener: no AUTH, client IP must be in allowedNetworks. */
  allowedNetworks?: string[];
  /** Only for the relay listener. */
  allowedSenderDomains?: string[];
}

export interface RelayConfig {
  hostname: string;
  listeners: RelayListenerConfig[];
  tls: {
    /** Directory with tls.crt and tls.key. */
    dir: string;
    minVersion: 'TLSv1.2' | 'TLSv1.3';
    profile: 'intermediate' | 'modern';
  };
  /** Directory with one file per user; absent means no authenticated submission. */
  usersDir?: string;
  upstream: {
    host: string;
    port: number;
    tls: 'starttls' | 'implicit' | 'none-insecure';
    /** Directory with `username` and `password`. */
    credentialsDir?: string;
    /** Directory with `ca.crt`. */
    caDir?: string;
    /** SNI / certificate name to verify; defaults to host. */
    servername?: string;
    poolSize?: number;
    connectTimeoutMs?: number;
    /** Per-transaction timeout. */
    timeoutMs?: number;
  };
  policy: {
    allowedSenderDomains: string[];
    maxMessageBytes: number;
    maxRecipients: number;
    rateLimit?: { messagesPerMinute: number; burst: number };
  };
  dkim?: { selector: string; domain: string; keyDir: string };
  limits: {
    maxConnections: number;
    socketTimeoutMs: number;
    closeTimeoutMs: number;
    authFailuresPerMinute: number;
  };
  /** Port for /metrics, /healthz, /readyz. */
  metricsPort: number;
}
