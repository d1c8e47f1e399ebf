// The relay's Prometheus metrics, on a registry of its own (several relays can share a test process).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { UpstreamHealth } from '../common/queue-summary.js';

export type MessageResult = 'delivered' | 'queued' | 'temp_failure' | 'perm_failure' | 'too_big' | 'aborted';

export interface RelayMetrics {
  registry: Registry;
  sessions: Counter<'listener' | 'tls_version'>;
  messages: Counter<'result'>;
  upstreamDuration: Histogram<'result'>;
  authFailures: Counter<'listener'>;
  authThrottled: Counter<'listener' | 'scope'>;
  senderLoginMismatch: Counter<'where'>;
  dkimUnsigned: Counter;
  connectionsRefused: Counter<'listener' | 'reason'>;
  upstreamAcquireTimeouts: Counter<'scope'>;
  dataRefusedBusy: Counter;
  certNotAfter: Gauge;
  reloadFailures: Counter<'source'>;
  reloads: Counter<'source'>;
  queue: QueueMetrics;
  upstreamHealth: UpstreamHealthMetrics;
  upstreamFailovers: Counter<'upstream'>;
  noRoute: Counter;
}

/** Per-upstream health gauges, read at scrape time from the relay's upstreams. */
export interface UpstreamHealthMetrics {
  source: (() => UpstreamHealth[]) | null;
  up: Gauge<'upstream'>;
  breaker: Gauge<'upstream' | 'state'>;
  lastErrorCode: Gauge<'upstream'>;
}

const BREAKER_STATES = ['closed', 'half-open', 'open'] as const;

function createUpstreamHealthMetrics(registers: Registry[]): UpstreamHealthMetrics {
  const m = { source: null } as UpstreamHealthMetrics;
  const read = () => m.source?.() ?? [];
  m.up = new Gauge({
    name: 'smtp_relay_upstream_up',
    help: 'Per upstream: 1 while its circuit breaker is closed (in use), 0 while open or half-open.',
    labelNames: ['upstream'],
    registers,
    collect() {
      for (const u of read()) this.set({ upstream: u.name }, u.state === 'closed' ? 1 : 0);
    },
  });
  m.breaker = new Gauge({
    name: 'smtp_relay_upstream_breaker_state',
    help: 'Per upstream: 1 for the state its circuit breaker is in (closed, half-open, open), 0 for the others.',
    labelNames: ['upstream', 'state'],
    registers,
    collect() {
      for (const u of read()) for (const state of BREAKER_STATES) this.set({ upstream: u.name, state }, u.state === state ? 1 : 0);
    },
  });
  m.lastErrorCode = new Gauge({
    name: 'smtp_relay_upstream_last_error_code',
    help: "Per upstream: the SMTP code of its last failure since its last success (a 4xx reply), 1 for a failure without a reply (connection error, timeout, login refused), 0 for none.",
    labelNames: ['upstream'],
    registers,
    collect() {
      for (const u of read()) this.set({ upstream: u.name }, u.lastError ? (u.lastError.code ?? 1) : 0);
    },
  });
  return m;
}

/** The durable queue's metrics (queue/delivery.ts); zero in pass-through mode. */
export interface QueueMetrics {
  /** Read by the gauges at scrape time; set by the relay in durable mode. */
  source: (() => { depth: number; oldestAgeSeconds: number; bytes: number }) | null;
  depth: Gauge;
  oldestAge: Gauge;
  bytes: Gauge;
  deferred: Counter;
  bounced: Counter;
  delivered: Counter;
  expired: Counter;
  quarantined: Counter;
  bouncesDropped: Counter;
  fsyncSeconds: Histogram<'what'>;
  duplicateWindow: Histogram;
}

function createQueueMetrics(registers: Registry[]): QueueMetrics {
  const q = { source: null } as QueueMetrics;
  const read = () => q.source?.() ?? { depth: 0, oldestAgeSeconds: 0, bytes: 0 };
  q.depth = new Gauge({ name: 'smtp_relay_queue_depth', help: 'Messages in the durable queue (each once, whatever its recipients).', registers, collect() { this.set(read().depth); } });
  q.oldestAge = new Gauge({ name: 'smtp_relay_queue_oldest_age_seconds', help: 'Age of the oldest message in the durable queue; 0 when empty.', registers, collect() { this.set(read().oldestAgeSeconds); } });
  q.bytes = new Gauge({ name: 'smtp_relay_queue_bytes', help: 'Bytes of queued message files on the queue volume.', registers, collect() { this.set(read().bytes); } });
  q.deferred = new Counter({ name: 'smtp_relay_queue_deferred_total', help: 'Delivery attempts deferred (4xx, connection error or timeout for at least one recipient): retried with backoff.', registers });
  q.bounced = new Counter({ name: 'smtp_relay_queue_bounced_total', help: 'Recipients refused permanently (5xx) by the upstream: a DSN goes to the sender.', registers });
  q.delivered = new Counter({ name: 'smtp_relay_queue_delivered_total', help: 'Recipients the upstream accepted from the durable queue.', registers });
  q.expired = new Counter({ name: 'smtp_relay_queue_expired_total', help: 'Recipients still undelivered at maxAge: a DSN with Status 4.4.7 goes to the sender.', registers });
  q.quarantined = new Counter({ name: 'smtp_relay_queue_quarantined_total', help: 'Partial or corrupt queue entries moved to quarantine/ (at start, or unreadable later).', registers });
  q.bouncesDropped = new Counter({ name: 'smtp_relay_queue_bounces_dropped_total', help: 'Bounced or expired recipients of a message with a null sender (a DSN): dropped without a DSN, so bounces never loop.', registers });
  q.fsyncSeconds = new Histogram({
    name: 'smtp_relay_queue_fsync_duration_seconds',
    help: 'One fsync in the durable queue: what file (a message or state file) or dir (the msg directory, shared by concurrent commits).',
    labelNames: ['what'],
    buckets: [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers,
  });
  q.duplicateWindow = new Histogram({
    name: 'smtp_relay_queue_duplicate_window_seconds',
    help: "From the upstream's final answer to the removal of the message file: a crash inside this window delivers the message again (at least once).",
    buckets: [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5],
    registers,
  });
  return q;
}

export function createRelayMetrics(withDefaults = true): RelayMetrics {
  const registry = new Registry();
  if (withDefaults) collectDefaultMetrics({ register: registry });
  const registers = [registry];
  return {
    registry,
    sessions: new Counter({ name: 'smtp_relay_sessions_total', help: 'SMTP sessions by listener and negotiated TLS version (none = never upgraded).', labelNames: ['listener', 'tls_version'], registers }),
    messages: new Counter({ name: 'smtp_relay_messages_total', help: 'Messages by final result given to the client.', labelNames: ['result'], registers }),
    upstreamDuration: new Histogram({
      name: 'smtp_relay_upstream_duration_seconds',
      help: 'Time of one upstream transaction, from MAIL to the final reply.',
      labelNames: ['result'],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    }),
    authFailures: new Counter({ name: 'smtp_relay_auth_failures_total', help: 'Failed or throttled AUTH attempts.', labelNames: ['listener'], registers }),
    authThrottled: new Counter({
      name: 'smtp_relay_auth_throttled_total',
      help: 'AUTH attempts refused with 454 before the password was checked: scope address (IPv4), network6 (IPv6 /64), user, or busy (verification queue full).',
      labelNames: ['listener', 'scope'],
      registers,
    }),
    dkimUnsigned: new Counter({
      name: 'smtp_relay_dkim_unsigned_total',
      help: 'Messages relayed without a DKIM signature although DKIM is on: their header From: aligns with no signing domain (or is missing, or names several domains).',
      registers,
    }),
    senderLoginMismatch: new Counter({
      name: 'smtp_relay_sender_login_mismatch_total',
      help: 'Messages refused because the authenticated user does not own the sender: where envelope (MAIL FROM) or header (From:).',
      labelNames: ['where'],
      registers,
    }),
    connectionsRefused: new Counter({
      name: 'smtp_relay_connections_refused_total',
      help: 'Connections refused with 421 by a per-client limit (client_concurrency, client_rate); a client is an IPv4 address or an IPv6 /64.',
      labelNames: ['listener', 'reason'],
      registers,
    }),
    upstreamAcquireTimeouts: new Counter({
      name: 'smtp_relay_upstream_acquire_timeouts_total',
      help: 'DATA commands answered 451 4.4.5 because no upstream slot came free within upstreamAcquireTimeoutMs: scope owner (the user or client address had upstreamPerUserConcurrency in flight) or pool (every pool connection busy).',
      labelNames: ['scope'],
      registers,
    }),
    dataRefusedBusy: new Counter({
      name: 'smtp_relay_data_refused_busy_total',
      help: 'DATA commands answered 451 4.3.2 because maxConcurrentData transactions were in flight for the whole wait.',
      registers,
    }),
    certNotAfter: new Gauge({ name: 'smtp_relay_served_cert_not_after_seconds', help: 'Expiry (unix seconds) of the certificate this relay process serves (the operator exports smtp_relay_tls_cert_not_after_seconds per probed endpoint).', registers }),
    reloadFailures: new Counter({ name: 'smtp_relay_tls_reload_failures_total', help: 'Reloads of a mounted Secret that were refused; the previous content keeps serving.', labelNames: ['source'], registers }),
    reloads: new Counter({ name: 'smtp_relay_reloads_total', help: 'Successful reloads of a mounted Secret.', labelNames: ['source'], registers }),
    queue: createQueueMetrics(registers),
    upstreamHealth: createUpstreamHealthMetrics(registers),
    upstreamFailovers: new Counter({
      name: 'smtp_relay_upstream_failovers_total',
      help: 'Messages moved on to the next upstream of their route after a connection error, timeout or 4xx on this one.',
      labelNames: ['upstream'],
      registers,
    }),
    noRoute: new Counter({ name: 'smtp_relay_no_route_total', help: 'MAIL FROM refused with 550 5.7.1 because no route matches the sender and user.', registers }),
  };
}
