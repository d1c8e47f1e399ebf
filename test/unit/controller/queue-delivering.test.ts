// The Delivering condition, the Queue printer column, queue Events, and the churn rule:
// a queue whose numbers merely move writes no status.
import { describe, expect, test } from '@jest/globals';
import type { QueueSummary } from '../../../src/common/queue-summary.js';
import { ageBucket, deliveringCondition, queueEvents, queueState, type QueueObservation } from '../../../src/controller/queue/index.js';
import { Reason } from '../../../src/controller/reasons.js';
import { computeStatus, type Observed } from '../../../src/controller/status.js';
import { statusWriteDecision } from '../../../src/controller/tls-health/churn.js';
import { relay } from './fixtures.js';

function summary(over: Partial<QueueSummary> = {}): QueueSummary {
  return { mode: 'durable', accepting: true, draining: false, depth: 0, deferred: 0, oldestAgeSeconds: 0, bytes: 0, ...over };
}
function obs(summaries: QueueSummary[], over: Partial<QueueObservation> = {}): QueueObservation {
  return { durable: true, pods: summaries.map((s, i) => ({ name: `mail-${i}`, ordinal: i, summary: s })), stranded: [], desiredReplicas: summaries.length, ...over };
}
const refused = { upstream: 'smtp.example.net:587', message: 'connect ECONNREFUSED 10.0.0.9:587', at: '2026-12-01T12:00:00Z', temporary: true };
const throttled = { upstream: 'smtp.example.net:587', code: 451, message: '451 4.7.1 Rate limit exceeded, try again later', at: '2026-12-01T12:00:00Z', temporary: true };

describe('Delivering', () => {
  test('Unknown until a queue has been read', () => {
    expect(deliveringCondition(obs([]))).toMatchObject({ type: 'Delivering', status: 'Unknown', reason: Reason.QueueNotObserved });
  });

  test('True while mail flows', () => {
    expect(deliveringCondition(obs([summary({ depth: 3, oldestAgeSeconds: 2 }), summary()]))).toMatchObject({ status: 'True', reason: Reason.UpstreamAccepting });
  });

  test('UpstreamUnavailable names the last error when deferred mail waits for an upstream that cannot be reached', () => {
    const c = deliveringCondition(obs([summary(), summary({ depth: 40, deferred: 40, oldestAgeSeconds: 400, lastError: refused })]));
    expect(c).toMatchObject({ status: 'False', reason: Reason.UpstreamUnavailable });
    expect(c.message).toContain('smtp.example.net:587 could not be reached: connect ECONNREFUSED 10.0.0.9:587');
    expect(c.message).toContain('oldest over 5 minutes');
  });

  test('UpstreamRejecting when the upstream answered 4xx/5xx', () => {
    const c = deliveringCondition(obs([summary({ depth: 2, deferred: 2, oldestAgeSeconds: 30, lastError: throttled })]));
    expect(c).toMatchObject({ status: 'False', reason: Reason.UpstreamRejecting });
    expect(c.message).toContain('answered: 451 4.7.1 Rate limit exceeded');
  });

  test('a failed attempt with nothing deferred any more (durable) is not a delivery problem', () => {
    expect(deliveringCondition(obs([summary({ lastError: { ...throttled, code: 550, message: '550 5.1.1 no such user', temporary: false } })])).status).toBe('True');
  });

  test('QueueBacklog when mail is old although no attempt failed', () => {
    expect(deliveringCondition(obs([summary({ depth: 500, oldestAgeSeconds: 20 * 60 })]))).toMatchObject({ status: 'False', reason: Reason.QueueBacklog });
  });

  test('PassThrough shows upstream trouble too: the clients got 451', () => {
    const c = deliveringCondition(obs([summary({ mode: 'pass-through', lastError: refused })], { durable: false }));
    expect(c).toMatchObject({ status: 'False', reason: Reason.UpstreamUnavailable });
    expect(c.message).toContain('451');
    expect(deliveringCondition(obs([summary({ mode: 'pass-through' })], { durable: false })).status).toBe('True');
  });

  test('QueueStranded names the claims and what to do', () => {
    const c = deliveringCondition(obs([summary()], { stranded: [{ claim: 'queue-mail-2', messages: 12, strandedTime: '2026-12-01T12:00:00Z' }] }));
    expect(c).toMatchObject({ status: 'False', reason: Reason.QueueStranded });
    expect(c.message).toContain('queue-mail-2 (12 messages');
    expect(c.message).toContain('spec.replicas to at least 3');
  });
});

describe('Queue printer column', () => {
  test('buckets, never a depth', () => {
    expect(queueState(obs([]))).toBe('Unknown');
    expect(queueState(obs([summary({ depth: 5, oldestAgeSeconds: 3 })]))).toBe('Empty');
    expect(queueState(obs([summary({ depth: 5, oldestAgeSeconds: 90 })]))).toBe('Backlog');
    expect(queueState(obs([summary({ depth: 5, deferred: 1, oldestAgeSeconds: 30 })]))).toBe('Backlog');
    expect(queueState(obs([summary({ depth: 5, deferred: 5, oldestAgeSeconds: 600 })]))).toBe('Stuck');
    expect(queueState(obs([summary({ depth: 5, oldestAgeSeconds: 7200 })]))).toBe('Stuck');
    expect(queueState(obs([summary()], { durable: false }))).toBe('PassThrough');
    expect(queueState(obs([summary()], { drain: { reason: 'ScaleDown', pods: ['mail-1'], startTime: '2026-12-01T12:00:00Z' } }))).toBe('Draining');
    expect(queueState(obs([summary()], { stranded: [{ claim: 'queue-mail-1', strandedTime: '2026-12-01T12:00:00Z' }] }))).toBe('Stranded');
  });

  test('ages in buckets', () => {
    expect([30, 61, 301, 901, 3601, 86_401].map(ageBucket)).toEqual(['under 1 minute', 'over 1 minute', 'over 5 minutes', 'over 15 minutes', 'over 1 hour', 'over 1 day']);
  });
});

describe('status', () => {
  const tlsSecret = { notBefore: '2026-01-01T00:00:00Z', notAfter: '2027-06-01T00:00:00Z', fingerprint: 'ab'.repeat(32) };
  const observed = (queue: QueueObservation): Observed => ({ problems: [], probe: { enabled: false }, tlsSecret, queue });
  const r = relay({ tls: { secretName: 'own-cert' }, queue: { mode: 'Durable' } });
  const now = new Date('2026-12-01T12:00:00Z');

  test('carries Delivering, status.queue and, while draining, Reconciling QueueDraining', () => {
    const drain = { reason: 'ScaleDown' as const, pods: ['mail-2'], startTime: '2026-12-01T11:59:00Z' };
    const s = computeStatus(r, observed(obs([summary(), summary({ draining: true, accepting: false, depth: 4 })], { drain })), now);
    expect(s.queue).toEqual({ state: 'Draining', drain });
    expect(s.conditions?.find((c) => c.type === 'Reconciling')).toMatchObject({ status: 'True', reason: Reason.QueueDraining });
    expect(s.conditions?.find((c) => c.type === 'Delivering')).toMatchObject({ status: 'True' });
  });

  test('a queue whose depth and age merely move (same buckets) writes nothing', () => {
    const before = computeStatus(r, observed(obs([summary({ depth: 3, oldestAgeSeconds: 2 })])), now);
    const after = computeStatus({ ...r, status: before }, observed(obs([summary({ depth: 17, oldestAgeSeconds: 9, bytes: 99_000 })])), new Date(now.getTime() + 60_000));
    expect(statusWriteDecision(before, after)).toEqual({ write: false });
    const stuck = computeStatus({ ...r, status: before }, observed(obs([summary({ depth: 17, deferred: 17, oldestAgeSeconds: 400, lastError: refused })])), now);
    expect(statusWriteDecision(before, stuck)).toEqual({ write: true, why: 'changed' });
  });
});

describe('Events', () => {
  const base = { conditions: [] };
  test('drain started, timed out (once per claim), completed; Delivering False is a Warning with its reason', () => {
    const drain = { reason: 'ScaleDown' as const, pods: ['mail-1', 'mail-2'], startTime: '2026-12-01T12:00:00Z' };
    expect(queueEvents(base, { queue: { state: 'Draining', drain } }).map((e) => e.reason)).toEqual(['DrainStarted']);
    const stranded = [{ claim: 'queue-mail-2', messages: 3, strandedTime: '2026-12-01T12:10:00Z' }];
    const timedOut = queueEvents({ queue: { state: 'Draining', drain } }, { queue: { state: 'Draining', drain, strandedClaims: stranded } });
    expect(timedOut).toEqual([expect.objectContaining({ type: 'Warning', reason: 'DrainTimedOut' })]);
    expect(timedOut[0]!.message).toContain('queue-mail-2 keeps 3 undelivered messages');
    expect(queueEvents({ queue: { state: 'Draining', drain } }, { queue: { state: 'Empty' } }).map((e) => e.reason)).toEqual(['DrainCompleted']);
    const delivering = (status: 'True' | 'False', reason: string) => ({ conditions: [{ type: 'Delivering', status, reason, message: 'm', lastTransitionTime: '2026-12-01T12:00:00Z' }] });
    expect(queueEvents(delivering('True', 'UpstreamAccepting'), delivering('False', 'UpstreamUnavailable'))).toEqual([{ type: 'Warning', reason: 'UpstreamUnavailable', message: 'm' }]);
    expect(queueEvents(delivering('False', 'UpstreamUnavailable'), delivering('True', 'UpstreamAccepting'))).toEqual([{ type: 'Normal', reason: 'UpstreamAccepting', message: 'm' }]);
  });
});
