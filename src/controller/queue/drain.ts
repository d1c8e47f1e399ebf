// The drain decision: which relay workload runs, with how many StatefulSet replicas, and
// which pods must first deliver their queues. Pure and level-based: everything it needs is
// observed state (the StatefulSet and Deployment in the caches, each pod's GET /queue, and
// the drain start and stranded claims the last status recorded), so any reconcile, after
// any restart, comes to the same answer.
//
// Rules:
// - Scale-down (Durable): the pods at ordinals [spec.replicas, current) drain (POST /drain:
//   no new mail, everything due now). Replicas go down to just above the highest pod that
//   still holds mail, so an emptied pod is removed at once; to spec.replicas when all are empty.
// - Durable -> PassThrough: the Deployment must serve first; then every StatefulSet pod
//   drains, and the StatefulSet (and its ConfigMap) is removed only once all are empty.
// - PassThrough -> Durable: the Deployment stays until a StatefulSet pod is available.
// - A drain that outlasts the drain timeout gives up, but only after the status has recorded
//   the claims still holding mail (first reconcile: record, second: lower), so a crash between
//   the two never abandons mail silently.
// - A pod above spec.replicas that is no longer needed to drain (scaled back up) is resumed.
import type { QueueStatus, StrandedClaim } from '../../api/types.js';
import type { QueueSummary } from '../../common/queue-summary.js';
import { kubeTime } from '../conditions.js';

/** One relay pod and what its GET /queue last said. */
export interface ObservedQueuePod {
  name: string;
  /** StatefulSet pods only. */
  ordinal?: number;
  summary?: QueueSummary;
  /** Why there is no summary (unreachable, not running). */
  error?: string;
}

export interface WorkloadPlanInput {
  durable: boolean;
  /** spec.replicas. */
  desiredReplicas: number;
  /** The StatefulSet in the cache: spec.replicas as last applied, and how many of its pods are available. */
  statefulSet?: { replicas: number; availableReplicas: number };
  /** The Deployment in the cache. */
  deployment?: { availableReplicas: number };
  /** The StatefulSet's pods with their latest queue summaries. */
  pods: ObservedQueuePod[];
  /** status.queue.drain as last written. */
  previousDrain?: QueueStatus['drain'];
  /** status.queue.strandedClaims as last written. */
  recordedStranded: StrandedClaim[];
  /** Names of the relay's PersistentVolumeClaims that exist; undefined when unknown (a stranded claim is then kept). */
  claims?: ReadonlySet<string>;
  podName(ordinal: number): string;
  claimName(ordinal: number): string;
  now: Date;
  drainTimeoutMs: number;
}

export interface WorkloadPlan {
  /** Durable: the StatefulSet's replicas to apply. */
  statefulSetReplicas?: number;
  /** The other mode's workload, kept (not pruned) for now. */
  keep: ('StatefulSet' | 'Deployment')[];
  /** status.queue.drain: undefined when nothing drains. */
  drain?: NonNullable<QueueStatus['drain']>;
  /** Pods that must be draining (POST /drain unless their summary says so). */
  drainPods: string[];
  /** Pods that must accept again (DELETE /drain if their summary says draining). */
  resumePods: string[];
  /** status.queue.strandedClaims. */
  stranded: StrandedClaim[];
  /** Claims given up on in this reconcile (a Warning Event names them). */
  gaveUp: StrandedClaim[];
  /** Look again this soon (while draining). */
  requeueAfterMs?: number;
}

/** How often a draining relay is looked at: the drain is short, and the replicas wait on it. */
export const DRAIN_POLL_MS = 2_000;

/** Empty means: the pod has stopped accepting and holds nothing. */
export function drained(pod: ObservedQueuePod | undefined): boolean {
  const s = pod?.summary;
  return s !== undefined && s.draining && !s.accepting && s.depth === 0;
}

function ordinalOfClaim(claim: string): number | undefined {
  const m = /-(\d+)$/.exec(claim);
  return m ? Number(m[1]) : undefined;
}

export function planWorkload(input: WorkloadPlanInput): WorkloadPlan {
  const { durable, desiredReplicas: desired, statefulSet: sts, deployment } = input;
  const current = sts?.replicas ?? 0;
  let keep: WorkloadPlan['keep'] = [];
  const release = (kind: 'StatefulSet' | 'Deployment') => (keep = keep.filter((k) => k !== kind));
  const byOrdinal = new Map(input.pods.filter((p) => p.ordinal !== undefined).map((p) => [p.ordinal!, p]));
  // Pods below the target serve: any left draining by an abandoned scale-down accept again.
  const target = durable ? desired : 0;
  const resumePods = input.pods.filter((p) => p.ordinal !== undefined && p.ordinal < target && p.summary?.draining).map((p) => p.name);

  // Which ordinals must drain now.
  let from = current;
  if (sts && current > target) {
    // Durable -> PassThrough: take the queue's pods out of service only once the Deployment serves.
    const passThroughServes = desired === 0 || (deployment?.availableReplicas ?? 0) >= 1;
    if (durable || passThroughServes) from = target;
  }
  if (!durable && sts) keep.push('StatefulSet');
  // PassThrough -> Durable: the Deployment serves until a queue pod is available.
  if (durable && deployment && desired > 0 && (sts?.availableReplicas ?? 0) < 1) keep.push('Deployment');

  const stillHolding = (ordinal: number) => !drained(byOrdinal.get(ordinal));
  const draining: number[] = [];
  for (let o = from; o < current; o++) draining.push(o);
  const full = draining.filter(stillHolding);
  // Replicas: just above the highest pod still holding mail (StatefulSets remove the highest first).
  const replicas = full.length > 0 ? Math.max(...full) + 1 : Math.max(target, from);
  const carried = carryStranded(input, target);

  if (draining.length === 0 || full.length === 0) {
    // Nothing (left) to drain. PassThrough: the StatefulSet goes once all its pods are empty.
    if (!durable && (draining.length > 0 || current === 0)) release('StatefulSet');
    return { statefulSetReplicas: durable ? Math.max(target, replicas) : undefined, keep, drainPods: [], resumePods, stranded: carried, gaveUp: [] };
  }

  const reason = durable ? 'ScaleDown' : 'ModeSwitch';
  const sameDrain = input.previousDrain && input.previousDrain.reason === reason;
  const startTime = sameDrain ? input.previousDrain!.startTime : kubeTime(input.now);
  const drainPods = draining.map((o) => input.podName(o));
  const drain = { reason, pods: drainPods, startTime } as const;
  const timedOut = input.now.getTime() - Date.parse(startTime) >= input.drainTimeoutMs;
  if (!timedOut) {
    return { statefulSetReplicas: durable ? replicas : undefined, keep, drain: { ...drain, pods: [...drainPods] }, drainPods, resumePods, stranded: carried, gaveUp: [] };
  }

  // Timed out: record the claims still holding mail, then (next reconcile) let go.
  const strandedTime = kubeTime(input.now);
  const holding: StrandedClaim[] = full.map((o) => {
    const depth = byOrdinal.get(o)?.summary?.depth;
    return { claim: input.claimName(o), ...(depth !== undefined ? { messages: depth } : {}), strandedTime };
  });
  const recorded = new Set(input.recordedStranded.map((c) => c.claim));
  const newlyHolding = holding.filter((c) => !recorded.has(c.claim));
  if (newlyHolding.length > 0) {
    return {
      statefulSetReplicas: durable ? replicas : undefined,
      keep,
      drain: { ...drain, pods: [...drainPods] },
      drainPods,
      resumePods,
      stranded: [...carried, ...newlyHolding],
      gaveUp: newlyHolding,
      requeueAfterMs: 1_000,
    };
  }
  // Recorded: lower the replicas (Durable) or let the StatefulSet go (PassThrough).
  if (!durable) release('StatefulSet');
  return { statefulSetReplicas: durable ? target : undefined, keep, drainPods: [], resumePods, stranded: carried, gaveUp: [] };
}

/**
 * Stranded claims stay reported until their pod is back (ordinal below the replicas: the relay
 * delivers what the claim holds on start) or the claim is deleted (a human discarded the mail).
 */
function carryStranded(input: WorkloadPlanInput, serving: number): StrandedClaim[] {
  return input.recordedStranded.filter((c) => {
    const ordinal = ordinalOfClaim(c.claim);
    if (ordinal !== undefined && ordinal < serving) return false;
    return input.claims?.has(c.claim) ?? true;
  });
}
