// metav1.Condition helpers. lastTransitionTime moves only when the status flips,
// so "Ready since" stays meaningful across reconciles that change nothing.
import type { Condition, ConditionStatus } from '../api/types.js';

/** RFC 3339 with second precision, as metav1.Time serialises. */
export function kubeTime(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export interface ConditionInput {
  type: string;
  status: ConditionStatus;
  reason: string;
  message: string;
  observedGeneration?: number;
}

export function getCondition(conditions: readonly Condition[] | undefined, type: string): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

export function isConditionTrue(conditions: readonly Condition[] | undefined, type: string): boolean {
  return getCondition(conditions, type)?.status === 'True';
}

/** Returns a new list with `next` set; keeps the previous lastTransitionTime unless the status changed. */
export function setCondition(conditions: readonly Condition[] | undefined, next: ConditionInput, now: Date): Condition[] {
  const list = [...(conditions ?? [])];
  const index = list.findIndex((c) => c.type === next.type);
  const previous = index >= 0 ? list[index] : undefined;
  const lastTransitionTime = previous && previous.status === next.status ? previous.lastTransitionTime : kubeTime(now);
  const condition: Condition = {
    type: next.type,
    status: next.status,
    ...(next.observedGeneration !== undefined ? { observedGeneration: next.observedGeneration } : {}),
    lastTransitionTime,
    reason: next.reason,
    message: next.message,
  };
  if (index >= 0) list[index] = condition;
  else list.push(condition);
  return list;
}

export interface ConditionTransition {
  type: string;
  from: ConditionStatus | undefined;
  to: Condition;
}

/** Conditions whose status or reason changed between two lists (for Events). */
export function conditionTransitions(before: readonly Condition[] | undefined, after: readonly Condition[]): ConditionTransition[] {
  const out: ConditionTransition[] = [];
  for (const c of after) {
    const prev = getCondition(before, c.type);
    if (!prev || prev.status !== c.status || prev.reason !== c.reason) out.push({ type: c.type, from: prev?.status, to: c });
  }
  return out;
}
