// Per-relay probe metrics. prom-client removes series only by their full label
// set, so the label sets written for each relay are remembered: a listener that
// goes away, or a relay that is deleted, leaves no stale series behind.
import { Counter, Gauge, type Registry } from 'prom-client';
import type { EndpointStatus } from '../../api/types.js';

type EndpointLabels = 'namespace' | 'name' | 'endpoint';
type VersionLabels = EndpointLabels | 'version' | 'cipher' | 'group';

export interface ProbeSample {
  endpoint: EndpointStatus;
  /** Seconds the fast probe took. */
  durationSeconds: number;
}

export class ProbeMetrics {
  readonly success: Gauge<EndpointLabels>;
  readonly notAfter: Gauge<EndpointLabels>;
  readonly versionInfo: Gauge<VersionLabels>;
  readonly duration: Gauge<EndpointLabels>;
  readonly stale: Gauge<EndpointLabels>;
  readonly replicasDesired: Gauge<'namespace' | 'name'>;
  readonly replicasAvailable: Gauge<'namespace' | 'name'>;
  /** Endpoint probes run, over all relays (no per-relay labels: a counter that outlives relays). */
  readonly probesTotal: Counter<'result'>;
  /** Probes and deep scans waiting for a slot, read when scraped. */
  readonly waiting: Gauge;
  private waitingNow: () => number = () => 0;
  /** relay key -> label sets written, per gauge. */
  private readonly written = new Map<string, { gauge: Gauge<string>; labels: Record<string, string> }[]>();

  constructor(registry: Registry) {
    const registers = [registry];
    const endpointLabels: EndpointLabels[] = ['namespace', 'name', 'endpoint'];
    this.success = new Gauge({ name: 'smtp_relay_probe_success', help: '1 when the last TLS probe of the endpoint passed (warnings allowed), else 0.', labelNames: endpointLabels, registers });
    this.notAfter = new Gauge({ name: 'smtp_relay_tls_cert_not_after_seconds', help: 'notAfter of the leaf certificate the endpoint serves, as a Unix time.', labelNames: endpointLabels, registers });
    this.versionInfo = new Gauge({ name: 'smtp_relay_tls_version_info', help: 'Always 1: the TLS version, cipher and key-exchange group the last probe negotiated.', labelNames: [...endpointLabels, 'version', 'cipher', 'group'], registers });
    this.duration = new Gauge({ name: 'smtp_relay_probe_duration_seconds', help: 'How long the last fast TLS probe of the endpoint took.', labelNames: endpointLabels, registers });
    this.stale = new Gauge({ name: 'smtp_relay_tls_stale_certificate', help: '1 when the endpoint serves a different certificate than its TLS Secret holds, else 0.', labelNames: endpointLabels, registers });
    this.replicasDesired = new Gauge({ name: 'smtp_relay_replicas_desired', help: 'spec.replicas of the SmtpRelay.', labelNames: ['namespace', 'name'], registers });
    this.probesTotal = new Counter({ name: 'smtp_relay_operator_probes_total', help: 'Fast TLS probes of relay endpoints, by result: healthy or unhealthy.', labelNames: ['result'], registers });
    this.waiting = new Gauge({
      name: 'smtp_relay_operator_probes_waiting',
      help: 'Endpoint probes waiting for a slot (--probe-concurrency). A queue that does not drain within a probe interval ends in TLSHealthy=Unknown/ProbeDelayed.',
      registers,
      collect: () => {
        this.waiting.set(this.waitingNow());
      },
    });
    this.replicasAvailable = new Gauge({ name: 'smtp_relay_replicas_available', help: 'Available replicas of the relay Deployment.', labelNames: ['namespace', 'name'], registers });
  }

  /** Where the waiting-probes gauge reads its value (the scheduler's semaphore). */
  trackWaiting(read: () => number): void {
    this.waitingNow = read;
  }

  /** Replaces the relay's probe series with these samples. */
  setProbes(namespace: string, name: string, samples: ProbeSample[]): void {
    this.removeProbes(namespace, name);
    const written: { gauge: Gauge<string>; labels: Record<string, string> }[] = [];
    const set = (gauge: Gauge<string>, labels: Record<string, string>, value: number) => {
      gauge.set(labels, value);
      written.push({ gauge, labels });
    };
    for (const { endpoint: e, durationSeconds } of samples) {
      this.probesTotal.inc({ result: e.healthy ? 'healthy' : 'unhealthy' });
      const labels = { namespace, name, endpoint: e.name };
      set(this.success as Gauge<string>, labels, e.healthy ? 1 : 0);
      set(this.duration as Gauge<string>, labels, durationSeconds);
      if (e.notAfter) set(this.notAfter as Gauge<string>, labels, Math.floor(Date.parse(e.notAfter) / 1000));
      if (e.matchesSecret !== undefined) set(this.stale as Gauge<string>, labels, e.matchesSecret ? 0 : 1);
      if (e.tlsVersion) set(this.versionInfo as Gauge<string>, { ...labels, version: e.tlsVersion, cipher: e.cipher ?? '', group: e.group ?? '' }, 1);
    }
    this.written.set(`${namespace}/${name}`, written);
  }

  removeProbes(namespace: string, name: string): void {
    for (const { gauge, labels } of this.written.get(`${namespace}/${name}`) ?? []) gauge.remove(labels);
    this.written.delete(`${namespace}/${name}`);
  }

  setReplicas(namespace: string, name: string, desired: number, available: number): void {
    this.replicasDesired.set({ namespace, name }, desired);
    this.replicasAvailable.set({ namespace, name }, available);
  }

  /** The relay was deleted: drop every series it had. */
  removeRelay(namespace: string, name: string): void {
    this.removeProbes(namespace, name);
    this.replicasDesired.remove({ namespace, name });
    this.replicasAvailable.remove({ namespace, name });
  }
}
