// Where to read each relay pod's queue: GET /queue on its metrics port. Pure.
// In a cluster: the pod's IP (status.podIP) from the Pod cache, port METRICS_PORT.
// With --probe-local-endpoints (development only): the local runtime writes the annotation
// local.smtprelay.dev/pods ({pod: "127.0.0.1:PORT"}) on the workload it runs as processes.
import type { KubeObject } from '../../kube/types.js';
import { METRICS_PORT } from '../builders/index.js';
import { parseAddress } from '../tls-health/targets.js';

export const LOCAL_PODS_ANNOTATION = 'local.smtprelay.dev/pods';

export interface QueueTarget {
  pod: string;
  host: string;
  port: number;
  /** StatefulSet pods: the ordinal from the name. */
  ordinal?: number;
}

/** The ordinal of a StatefulSet pod `<set>-<n>`. */
export function ordinalOf(setName: string, podName: string): number | undefined {
  if (!podName.startsWith(`${setName}-`)) return undefined;
  const rest = podName.slice(setName.length + 1);
  return /^\d+$/.test(rest) ? Number(rest) : undefined;
}

function controllerKind(pod: KubeObject): string | undefined {
  return pod.metadata.ownerReferences?.find((o) => o.controller)?.kind;
}

/**
 * The queue endpoints of one workload's pods. `workload` is the StatefulSet or Deployment in
 * the cache; `pods` are the relay's pods from the Pod cache (ignored with local endpoints).
 */
export function queueTargets(workload: KubeObject | undefined, pods: KubeObject[], localEndpoints: boolean): QueueTarget[] {
  if (!workload) return [];
  const isSet = workload.kind === 'StatefulSet';
  const setName = workload.metadata.name;
  if (localEndpoints) {
    const raw = workload.metadata.annotations?.[LOCAL_PODS_ANNOTATION];
    if (!raw) return [];
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      return [];
    }
    const out: QueueTarget[] = [];
    for (const [pod, value] of Object.entries((parsed && typeof parsed === 'object' ? parsed : {}) as Record<string, unknown>)) {
      const addr = parseAddress(value);
      if (addr) out.push({ pod, host: addr.host, port: addr.port, ...(isSet ? { ordinal: ordinalOf(setName, pod) } : {}) });
    }
    return out.sort((a, b) => a.pod.localeCompare(b.pod));
  }
  const out: QueueTarget[] = [];
  for (const pod of pods) {
    const status = (pod.status ?? {}) as { podIP?: string; phase?: string };
    if (pod.metadata.deletionTimestamp && !isSet) continue;
    if (!status.podIP || status.phase !== 'Running') continue;
    if (isSet ? controllerKind(pod) !== 'StatefulSet' : controllerKind(pod) !== 'ReplicaSet') continue;
    const ordinal = isSet ? ordinalOf(setName, pod.metadata.name) : undefined;
    if (isSet && ordinal === undefined) continue;
    out.push({ pod: pod.metadata.name, host: status.podIP, port: METRICS_PORT, ...(isSet ? { ordinal } : {}) });
  }
  return out.sort((a, b) => a.pod.localeCompare(b.pod));
}
