// Where to probe a relay: one target per enabled listener. Pure.
// In a cluster: the Service DNS name `<service>.<namespace>.svc` and the Service port (the relay
// listener's Service is `<name>-internal`).
// With --probe-local-endpoints (development only): the address the local runtime wrote
// into the Service annotation local.smtprelay.dev/endpoints ({listener: "127.0.0.1:PORT"}) of the
// relay's primary Service (builders primaryServiceName).
import type { SmtpRelay } from '../../api/types.js';
import type { KubeObject } from '../../kube/types.js';
import { enabledListeners, serviceNameFor, type ListenerDefaults } from '../builders/index.js';

export const LOCAL_ENDPOINTS_ANNOTATION = 'local.smtprelay.dev/endpoints';

export interface ProbeTarget {
  /** Listener name: submission, submissions, relay. */
  name: string;
  host: string;
  /** The port probed (the Service port, or the local port with --probe-local-endpoints). */
  port: number;
  /** The Service port of the listener: what status.endpoints[].port reports. */
  servicePort: number;
  mode: 'starttls' | 'implicit';
  /**
   * Set on the `<listener>-in-cluster` targets (spec.tls.internalCertificate): the Service name
   * sent by SNI and checked against the in-cluster certificate. Unset: spec.hostname and the
   * public certificate.
   */
  inClusterName?: string;
}

/** The status.endpoints[] name of a listener probed under its in-cluster Service name. */
export function inClusterEndpointName(listener: string): string {
  return `${listener}-in-cluster`;
}

/** With spec.tls.internalCertificate, every target again under the Service name it is reached by. */
function withInClusterTargets(relay: SmtpRelay, targets: ProbeTarget[]): ProbeTarget[] {
  if (!relay.spec.tls.internalCertificate) return targets;
  const inCluster = targets.map((t) => ({
    ...t,
    name: inClusterEndpointName(t.name),
    inClusterName: `${serviceNameFor(relay, t.name as ListenerDefaults['name'])}.${relay.metadata.namespace}.svc`,
  }));
  return [...targets, ...inCluster];
}

export type TargetsResult = { ok: true; targets: ProbeTarget[] } | { ok: false; why: string };

/** Parses "host:port" or "[v6]:port". */
export function parseAddress(value: unknown): { host: string; port: number } | undefined {
  if (typeof value !== 'string') return undefined;
  const m = /^(?:\[([^\]]+)\]|([^:\s]+)):(\d{1,5})$/.exec(value.trim());
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port < 1 || port > 65535) return undefined;
  return { host: (m[1] ?? m[2])!, port };
}

export function probeTargets(relay: SmtpRelay, service: KubeObject | undefined, localEndpoints: boolean): TargetsResult {
  const listeners = enabledListeners(relay);
  if (listeners.length === 0) return { ok: true, targets: [] };
  if (!localEndpoints) {
    // The relay listener has its own ClusterIP Service (<name>-internal); the others share the main one.
    const host = (l: (typeof listeners)[number]) => `${serviceNameFor(relay, l.name)}.${relay.metadata.namespace}.svc`;
    return { ok: true, targets: withInClusterTargets(relay, listeners.map((l) => ({ name: l.name, host: host(l), port: l.port, servicePort: l.port, mode: l.mode }))) };
  }
  const raw = service?.metadata.annotations?.[LOCAL_ENDPOINTS_ANNOTATION];
  if (!raw) return { ok: false, why: `the Service has no ${LOCAL_ENDPOINTS_ANNOTATION} annotation yet (--probe-local-endpoints)` };
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return { ok: false, why: `the Service annotation ${LOCAL_ENDPOINTS_ANNOTATION} is not JSON` };
  }
  const map = (parsed && typeof parsed === 'object' ? parsed : {}) as Record<string, unknown>;
  const targets: ProbeTarget[] = [];
  for (const l of listeners) {
    const addr = parseAddress(map[l.name]);
    if (!addr) return { ok: false, why: `the Service annotation ${LOCAL_ENDPOINTS_ANNOTATION} has no usable address for listener ${l.name}` };
    targets.push({ name: l.name, host: addr.host, port: addr.port, servicePort: l.port, mode: l.mode });
  }
  return { ok: true, targets: withInClusterTargets(relay, targets) };
}
