// The drain decision (controller/queue/drain.ts): observed workloads, pods and their GET /queue
// summaries -> the StatefulSet's replicas, which pods drain or resume, what is kept and reported.
import { describe, expect, test } from '@jest/globals';
import type { QueueSummary } from '../../../src/common/queue-summary.js';
import { planWorkload, type ObservedQueuePod, type WorkloadPlanInput } from '../../../src/controller/queue/drain.js';

const NOW = new Date('2026-12-01T12:00:00Z');
const MIN = 60_000;

function summary(over: Partial<QueueSummary> = {}): QueueSummary {
  return { mode: 'durable', accepting: true, draining: false, depth: 0, deferred: 0, oldestAgeSeconds: 0, bytes: 0, ...over };
}
const serving = (ordinal: number, depth = 0): ObservedQueuePod => ({ name: `mail-${ordinal}`, ordinal, summary: summary({ depth }) });
const draining = (ordinal: number, depth: number): ObservedQueuePod => ({ name: `mail-${ordinal}`, ordinal, summary: summary({ draining: true, accepting: false, depth }) });

function input(over: Partial<WorkloadPlanInput>): WorkloadPlanInput {
  return {
    durable: true,
    desiredReplicas: 1,
    pods: [],
    recordedStranded: [],
    podName: (o) => `mail-${o}`,
    claimName: (o) => `queue-mail-${o}`,
    now: NOW,
    drainTimeoutMs: 10 * MIN,
    ...over,
  };
}

describe('scale-down 3 -> 1 (Durable)', () => {
  const sts = { replicas: 3, availableReplicas: 3 };

  test('first: ordinals 1 and 2 must drain; replicas stay at 3 while both hold mail', () => {
    const plan = planWorkload(input({ statefulSet: sts, pods: [serving(0, 4), serving(1, 7), serving(2, 9)] }));
    expect(plan.statefulSetReplicas).toBe(3);
    expect(plan.drainPods).toEqual(['mail-1', 'mail-2']);
    expect(plan.drain).toEqual({ reason: 'ScaleDown', pods: ['mail-1', 'mail-2'], startTime: '2026-12-01T12:00:00Z' });
    expect(plan.resumePods).toEqual([]);
  });

  test('a pod that reports 0 messages but still accepts is not empty: it must have stopped accepting', () => {
    const plan = planWorkload(input({ statefulSet: sts, pods: [serving(0), serving(1, 0), serving(2, 0)] }));
    expect(plan.statefulSetReplicas).toBe(3);
  });

  test('the highest pod empty: it goes at once, the next one keeps draining', () => {
    const plan = planWorkload(input({ statefulSet: sts, pods: [serving(0), draining(1, 2), draining(2, 0)], previousDrain: { reason: 'ScaleDown', pods: ['mail-1', 'mail-2'], startTime: '2026-12-01T11:58:00Z' } }));
    expect(plan.statefulSetReplicas).toBe(2);
    expect(plan.drain?.startTime).toBe('2026-12-01T11:58:00Z');
  });

  test('a lower pod empty first does not let a higher one holding mail go (StatefulSets remove the highest first)', () => {
    const plan = planWorkload(input({ statefulSet: sts, pods: [serving(0), draining(1, 0), draining(2, 5)] }));
    expect(plan.statefulSetReplicas).toBe(3);
  });

  test('all empty: replicas go to spec.replicas and the drain ends', () => {
    const plan = planWorkload(input({ statefulSet: sts, pods: [serving(0), draining(1, 0), draining(2, 0)] }));
    expect(plan.statefulSetReplicas).toBe(1);
    expect(plan.drain).toBeUndefined();
    expect(plan.stranded).toEqual([]);
  });

  test('a pod that cannot be read counts as holding mail', () => {
    const plan = planWorkload(input({ statefulSet: sts, pods: [serving(0), draining(1, 0), { name: 'mail-2', ordinal: 2, error: 'connect ECONNREFUSED' }] }));
    expect(plan.statefulSetReplicas).toBe(3);
  });

  test('timeout: first the claims still holding mail are recorded (replicas unchanged), then the replicas go down', () => {
    const previousDrain = { reason: 'ScaleDown' as const, pods: ['mail-1', 'mail-2'], startTime: '2026-12-01T11:49:00Z' };
    const first = planWorkload(input({ statefulSet: sts, pods: [serving(0), draining(1, 0), draining(2, 12)], previousDrain }));
    expect(first.statefulSetReplicas).toBe(3);
    expect(first.stranded).toEqual([{ claim: 'queue-mail-2', messages: 12, strandedTime: '2026-12-01T12:00:00Z' }]);
    expect(first.gaveUp).toEqual(first.stranded);
    expect(first.requeueAfterMs).toBe(1000);

    const second = planWorkload(input({ statefulSet: sts, pods: [serving(0), draining(1, 0), draining(2, 12)], previousDrain, recordedStranded: first.stranded }));
    expect(second.statefulSetReplicas).toBe(1);
    expect(second.drain).toBeUndefined();
    expect(second.stranded).toEqual(first.stranded);
    expect(second.gaveUp).toEqual([]);
  });

  test('a stranded claim stays reported until its pod is back or the claim is deleted', () => {
    const recordedStranded = [{ claim: 'queue-mail-2', messages: 12, strandedTime: '2026-12-01T12:00:00Z' }];
    const after = { statefulSet: { replicas: 1, availableReplicas: 1 }, pods: [serving(0)], recordedStranded };
    expect(planWorkload(input(after)).stranded).toEqual(recordedStranded);
    expect(planWorkload(input({ ...after, claims: new Set(['queue-mail-0', 'queue-mail-2']) })).stranded).toEqual(recordedStranded);
    expect(planWorkload(input({ ...after, claims: new Set(['queue-mail-0']) })).stranded).toEqual([]);
    expect(planWorkload(input({ ...after, desiredReplicas: 3 })).stranded).toEqual([]);
  });

  test('scaled back up mid-drain: the draining pods accept again', () => {
    const plan = planWorkload(input({ desiredReplicas: 3, statefulSet: sts, pods: [serving(0), draining(1, 3), draining(2, 0)] }));
    expect(plan.statefulSetReplicas).toBe(3);
    expect(plan.drain).toBeUndefined();
    expect(plan.resumePods).toEqual(['mail-1', 'mail-2']);
  });

  test('scale to zero drains every pod', () => {
    const plan = planWorkload(input({ desiredReplicas: 0, statefulSet: { replicas: 2, availableReplicas: 2 }, pods: [serving(0, 1), serving(1)] }));
    expect(plan.drainPods).toEqual(['mail-0', 'mail-1']);
    expect(plan.statefulSetReplicas).toBe(2);
  });
});

describe('mode switches', () => {
  test('Durable -> PassThrough: the StatefulSet is kept untouched and not drained until the Deployment serves', () => {
    const plan = planWorkload(input({ durable: false, statefulSet: { replicas: 2, availableReplicas: 2 }, deployment: { availableReplicas: 0 }, pods: [serving(0, 3), serving(1, 1)] }));
    expect(plan.keep).toEqual(['StatefulSet']);
    expect(plan.drainPods).toEqual([]);
    expect(plan.statefulSetReplicas).toBeUndefined();
  });

  test('Durable -> PassThrough: once the Deployment serves, every StatefulSet pod drains; the set goes when all are empty', () => {
    const holding = planWorkload(input({ durable: false, statefulSet: { replicas: 2, availableReplicas: 2 }, deployment: { availableReplicas: 1 }, pods: [draining(0, 3), draining(1, 0)] }));
    expect(holding.keep).toEqual(['StatefulSet']);
    expect(holding.drain).toMatchObject({ reason: 'ModeSwitch', pods: ['mail-0', 'mail-1'] });
    const empty = planWorkload(input({ durable: false, statefulSet: { replicas: 2, availableReplicas: 2 }, deployment: { availableReplicas: 1 }, pods: [draining(0, 0), draining(1, 0)] }));
    expect(empty.keep).toEqual([]);
    expect(empty.drain).toBeUndefined();
  });

  test('Durable -> PassThrough timing out: recorded, then the StatefulSet is let go', () => {
    const base = { durable: false, statefulSet: { replicas: 1, availableReplicas: 1 }, deployment: { availableReplicas: 1 }, pods: [draining(0, 4)], previousDrain: { reason: 'ModeSwitch' as const, pods: ['mail-0'], startTime: '2026-12-01T11:00:00Z' } };
    const first = planWorkload(input(base));
    expect(first.keep).toEqual(['StatefulSet']);
    expect(first.stranded).toEqual([{ claim: 'queue-mail-0', messages: 4, strandedTime: '2026-12-01T12:00:00Z' }]);
    const second = planWorkload(input({ ...base, recordedStranded: first.stranded }));
    expect(second.keep).toEqual([]);
    expect(second.stranded).toEqual(first.stranded);
  });

  test('PassThrough -> Durable: the Deployment serves until a StatefulSet pod is available', () => {
    expect(planWorkload(input({ statefulSet: { replicas: 1, availableReplicas: 0 }, deployment: { availableReplicas: 1 } })).keep).toEqual(['Deployment']);
    expect(planWorkload(input({ deployment: { availableReplicas: 1 } })).keep).toEqual(['Deployment']);
    expect(planWorkload(input({ statefulSet: { replicas: 1, availableReplicas: 1 }, deployment: { availableReplicas: 1 } })).keep).toEqual([]);
  });
});
