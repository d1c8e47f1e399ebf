// A reimplementation of sigs.k8s.io/cli-utils/pkg/kstatus status computation
// (status.Compute) for custom resources, which is what Flux's `wait: true`,
// kpt and Config Sync use when a kind has no built-in rules:
//   1. metadata.deletionTimestamp set                      -> Terminating
//   2. status.observedGeneration present and != generation -> InProgress
//   3. first of Reconciling=True / Stalled=True in list order:
//        Reconciling=True -> InProgress, Stalled=True -> Failed
//   4. a Ready condition: True -> Current, False/Unknown -> InProgress
//   5. otherwise -> Current ("absence of any known conditions")
// Rule 5 is why an operator must write a status (Reconciling=True or
// observedGeneration) from its first reconcile: a bare object counts as Current.
// test/integration/deploy/kstatus-reference.test.ts checks this file against the
// Go library itself (cli-utils v0.37.2).

export type KStatus = 'InProgress' | 'Failed' | 'Current' | 'Terminating';

export interface KStatusResult {
  status: KStatus;
  message: string;
}

interface ConditionLike {
  type?: unknown;
  status?: unknown;
  reason?: unknown;
  message?: unknown;
}

export interface ObjectLike {
  kind?: string;
  metadata?: { generation?: number; deletionTimestamp?: string };
  status?: { observedGeneration?: number; conditions?: ConditionLike[] };
}

export function kstatus(obj: ObjectLike): KStatusResult {
  if (obj.metadata?.deletionTimestamp) return { status: 'Terminating', message: 'Resource scheduled for deletion' };
  const generation = obj.metadata?.generation;
  const observed = obj.status?.observedGeneration;
  if (observed !== undefined && generation !== undefined && observed !== generation) {
    return { status: 'InProgress', message: `${obj.kind ?? ''} generation is ${generation}, but latest observed generation is ${observed}` };
  }
  const conditions = obj.status?.conditions ?? [];
  for (const c of conditions) {
    if (c.type === 'Reconciling' && c.status === 'True') return { status: 'InProgress', message: String(c.message ?? '') };
    if (c.type === 'Stalled' && c.status === 'True') return { status: 'Failed', message: String(c.message ?? '') };
  }
  for (const c of conditions) {
    if (c.type !== 'Ready') continue;
    if (c.status === 'True') return { status: 'Current', message: 'Resource is Ready' };
    if (c.status === 'False' || c.status === 'Unknown') return { status: 'InProgress', message: String(c.message ?? '') };
  }
  return { status: 'Current', message: 'Resource is current' };
}

/**
 * The Flux 2.5+ healthCheckExprs from docs/flux.md, evaluated the way Flux
 * does: inProgress, then failed, then current; none true -> InProgress.
 *   inProgress: status.conditions.exists(e, e.type == 'Reconciling' && e.status == 'True')
 *   failed:     status.conditions.exists(e, e.type == 'Stalled' && e.status == 'True')
 *   current:    status.observedGeneration == metadata.generation &&
 *               status.conditions.exists(e, e.type == 'Ready' && e.status == 'True')
 * each guarded with has(...) so a missing status means "not yet", not an error.
 */
export function fluxCelHealth(obj: ObjectLike): 'Current' | 'Failed' | 'InProgress' {
  const conditions = obj.status?.conditions ?? [];
  const exists = (type: string) => conditions.some((e) => e.type === type && e.status === 'True');
  if (exists('Reconciling')) return 'InProgress';
  if (exists('Stalled')) return 'Failed';
  const observed = obj.status?.observedGeneration;
  if (observed !== undefined && observed === obj.metadata?.generation && exists('Ready')) return 'Current';
  return 'InProgress';
}
