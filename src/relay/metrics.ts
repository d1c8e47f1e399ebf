// The relay's Prometheus metrics, on a registry of its own (several relays can share a test process).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export type MessageResult = 'delivered' | 'temp_failure' | 'perm_failure' | 'too_big' | 'aborted';

export interface RelayMetrics {
  registry: Registry;
  sessions: Counter<'listener' | 'tls_version'>;
  messages: Counter<'result'>;
  upstreamDuration: Histogram<'result'>;
  authFailures: Counter<'listener'>;
  certNotAfter: Gauge;
  reloadFailures: Counter<'source'>;
  reloads: Counter<'source'>;
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
    certNotAfter: new Gauge({ name: 'smtp_relay_served_cert_not_after_seconds', help: 'Expiry (unix seconds) of the certificate this relay process serves (the operator exports smtp_relay_tls_cert_not_after_seconds per probed endpoint).', registers }),
    reloadFailures: new Counter({ name: 'smtp_relay_tls_reload_failures_total', help: 'Reloads of a mounted Secret that were refused; the previous content keeps serving.', labelNames: ['source'], registers }),
    reloads: new Counter({ name: 'smtp_relay_reloads_total', help: 'Successful reloads of a mounted Secret.', labelNames: ['source'], registers }),
  };
}
