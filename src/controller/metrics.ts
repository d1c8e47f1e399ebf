// The operator's Prometheus metrics, in their own registry.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { ProbeMetrics } from './tls-health/metrics.js';

export interface OperatorMetrics {
  registry: Registry;
  reconcileTotal: Counter<'result'>;
  reconcileDuration: Histogram<string>;
  queueDepth: Gauge<string>;
  relayReady: Gauge<'namespace' | 'name'>;
  /** Status writes by why: changed (the outcome changed) or heartbeat (probe times refreshed). */
  statusWrites: Counter<'why'>;
  /** Per-relay probe and replica series (smtp_relay_probe_success, ...). */
  probes: ProbeMetrics;
  /** Messages held in each relay's queues (sum over its pods), from GET /queue: a number for dashboards, never status. */
  relayQueueDepth: Gauge<'namespace' | 'name'>;
}

export function createOperatorMetrics(): OperatorMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    reconcileTotal: new Counter({
      name: 'smtp_relay_operator_reconcile_total',
      help: 'Reconciles by result: success, requeue (success with a scheduled rerun), error (retried with backoff).',
      labelNames: ['result'],
      registers: [registry],
    }),
    reconcileDuration: new Histogram({
      name: 'smtp_relay_operator_reconcile_duration_seconds',
      help: 'Time one reconcile took.',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    queueDepth: new Gauge({ name: 'smtp_relay_operator_queue_depth', help: 'Keys waiting in the work queue.', registers: [registry] }),
    relayReady: new Gauge({
      name: 'smtp_relay_ready',
      help: '1 when the SmtpRelay is Ready, else 0.',
      labelNames: ['namespace', 'name'],
      registers: [registry],
    }),
    statusWrites: new Counter({
      name: 'smtp_relay_operator_status_writes_total',
      help: 'SmtpRelay status writes by why: changed (the outcome changed) or heartbeat (probe times refreshed, at most every 10 minutes).',
      labelNames: ['why'],
      registers: [registry],
    }),
    probes: new ProbeMetrics(registry),
    relayQueueDepth: new Gauge({
      name: 'smtp_relay_queued_messages',
      help: 'Messages held in the SmtpRelay\'s durable queues (sum over its pods), as the operator last read them (GET /queue).',
      labelNames: ['namespace', 'name'],
      registers: [registry],
    }),
  };
}
