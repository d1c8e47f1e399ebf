// The queue poller: reads each pod's GET /queue in the background, sends POST /drain to a pod
// that must drain until it reports draining, DELETE /drain to one that must serve again, and
// requeues the relay when a read finishes. The HTTP side is injected (a recorder); the real
// one is exercised in test/integration/operator/queue-drain.test.ts against real relays.
import { describe, expect, test } from '@jest/globals';
import type { QueueSummary } from '../../../src/common/queue-summary.js';
import { createLogger } from '../../../src/common/logger.js';
import { QueuePoller, type QueueRequest } from '../../../src/controller/queue/poller.js';
import { LOCAL_PODS_ANNOTATION, ordinalOf, queueTargets, type QueueTarget } from '../../../src/controller/queue/targets.js';

const targets: QueueTarget[] = [0, 1, 2].map((o) => ({ pod: `mail-${o}`, host: '127.0.0.1', port: 9000 + o, ordinal: o }));

function harness() {
  const calls: string[] = [];
  const draining = new Set<string>();
  let mail2Down = true; // mail-2 is unreachable for its first read only
  const request: QueueRequest = async (method, t, path) => {
    calls.push(`${method} ${t.pod} ${path}`);
    if (t.pod === 'mail-2' && method === 'GET' && mail2Down) {
      mail2Down = false;
      throw new Error('connect ECONNREFUSED');
    }
    if (method === 'POST') draining.add(t.pod);
    if (method === 'DELETE') draining.delete(t.pod);
    const d = draining.has(t.pod);
    return { mode: 'durable', accepting: !d, draining: d, depth: 3, deferred: 0, oldestAgeSeconds: 1, bytes: 10 } satisfies QueueSummary;
  };
  let clock = 1_000_000;
  let polled: () => void = () => undefined;
  const depths: (number | undefined)[] = [];
  const poller = new QueuePoller({ concurrency: 2, request, logger: createLogger('test', 'error'), now: () => clock, onPolled: () => polled(), onDepth: (_k, d) => depths.push(d) });
  const next = () => new Promise<void>((r) => (polled = r));
  return { poller, calls, next, depths, advance: (ms: number) => (clock += ms) };
}

describe('QueuePoller', () => {
  test('reads every pod, reports unreachable ones as errors, and requeues the relay when done', async () => {
    const h = harness();
    const done = h.next();
    h.poller.observe({ key: 'ns/mail', targets, intervalMs: 60_000, drain: [], resume: [] });
    await done;
    expect(h.calls.sort()).toEqual(['GET mail-0 /queue', 'GET mail-1 /queue', 'GET mail-2 /queue']);
    const latest = h.poller.latest('ns/mail', targets);
    expect(latest.map((p) => [p.name, p.summary?.depth, p.error])).toEqual([
      ['mail-0', 3, undefined],
      ['mail-1', 3, undefined],
      ['mail-2', undefined, 'connect ECONNREFUSED'],
    ]);
    expect(h.depths).toEqual([6]);
    // Not due again within the interval: no new reads.
    expect(h.poller.observe({ key: 'ns/mail', targets, intervalMs: 60_000, drain: [], resume: [] }).nextPollInMs).toBe(60_000);
    expect(h.calls).toHaveLength(3);
  });

  test('a pod that must drain gets POST /drain until it reports draining; one that must serve again gets DELETE /drain', async () => {
    const h = harness();
    let done = h.next();
    h.poller.observe({ key: 'ns/mail', targets, intervalMs: 60_000, drain: [], resume: [] });
    await done;
    h.calls.length = 0;
    // A drain is asked for: polled early (after the 1 s gap), POST only to the pods that must drain.
    h.advance(1_000);
    done = h.next();
    h.poller.observe({ key: 'ns/mail', targets, intervalMs: 2_000, drain: ['mail-1', 'mail-2'], resume: [] });
    await done;
    expect(h.calls.filter((c) => !c.startsWith('GET')).sort()).toEqual(['POST mail-1 /drain', 'POST mail-2 /drain']);
    expect(h.poller.latest('ns/mail', targets).map((p) => p.summary?.draining)).toEqual([false, true, true]);
    // Reflected: no second POST on the next poll.
    h.calls.length = 0;
    h.advance(2_000);
    done = h.next();
    h.poller.observe({ key: 'ns/mail', targets, intervalMs: 2_000, drain: ['mail-1', 'mail-2'], resume: [] });
    await done;
    expect(h.calls.filter((c) => !c.startsWith('GET'))).toEqual([]);
    // Scaled back up: mail-1 must serve again.
    h.calls.length = 0;
    h.advance(1_000);
    done = h.next();
    h.poller.observe({ key: 'ns/mail', targets, intervalMs: 2_000, drain: ['mail-2'], resume: ['mail-1'] });
    await done;
    expect(h.calls.filter((c) => !c.startsWith('GET'))).toEqual(['DELETE mail-1 /drain']);
    expect(h.poller.latest('ns/mail', targets).map((p) => p.summary?.accepting)).toEqual([true, true, false]);
  });

  test('forget drops a relay (its depth series too); pods no longer targeted are dropped', async () => {
    const h = harness();
    const done = h.next();
    h.poller.observe({ key: 'ns/mail', targets, intervalMs: 60_000, drain: [], resume: [] });
    await done;
    h.poller.observe({ key: 'ns/mail', targets: targets.slice(0, 1), intervalMs: 60_000, drain: [], resume: [] });
    expect(h.poller.latest('ns/mail', targets).filter((p) => p.summary).map((p) => p.name)).toEqual(['mail-0']);
    h.poller.forget('ns/mail');
    expect(h.depths.at(-1)).toBeUndefined();
    expect(h.poller.latest('ns/mail', targets).every((p) => !p.summary && !p.error)).toBe(true);
  });
});

describe('queueTargets', () => {
  const sts = (annotations: Record<string, string> = {}) => ({ apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'mail', namespace: 'ns', annotations } });
  const pod = (name: string, ip: string | undefined, owner: string, phase = 'Running') => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'ns', ownerReferences: [{ apiVersion: 'apps/v1', kind: owner, name: 'x', uid: 'u', controller: true }] },
    status: { podIP: ip, phase },
  });

  test('in a cluster: running pods of the StatefulSet with an IP, port 9090, by ordinal', () => {
    const pods = [pod('mail-1', '10.0.0.2', 'StatefulSet'), pod('mail-0', '10.0.0.1', 'StatefulSet'), pod('mail-2', undefined, 'StatefulSet'), pod('mail-abc12', '10.0.0.9', 'ReplicaSet'), pod('mail-3', '10.0.0.4', 'StatefulSet', 'Pending')];
    expect(queueTargets(sts(), pods, false)).toEqual([
      { pod: 'mail-0', host: '10.0.0.1', port: 9090, ordinal: 0 },
      { pod: 'mail-1', host: '10.0.0.2', port: 9090, ordinal: 1 },
    ]);
    expect(queueTargets({ ...sts(), kind: 'Deployment' }, pods, false)).toEqual([{ pod: 'mail-abc12', host: '10.0.0.9', port: 9090 }]);
    expect(queueTargets(undefined, pods, false)).toEqual([]);
  });

  test('with --probe-local-endpoints: the local runtime\'s annotation', () => {
    expect(queueTargets(sts({ [LOCAL_PODS_ANNOTATION]: '{"mail-1":"127.0.0.1:4002","mail-0":"127.0.0.1:4001","bad":"nope"}' }), [], true)).toEqual([
      { pod: 'mail-0', host: '127.0.0.1', port: 4001, ordinal: 0 },
      { pod: 'mail-1', host: '127.0.0.1', port: 4002, ordinal: 1 },
    ]);
    expect(queueTargets(sts({ [LOCAL_PODS_ANNOTATION]: 'not json' }), [], true)).toEqual([]);
    expect(ordinalOf('mail', 'mail-12')).toBe(12);
    expect(ordinalOf('mail', 'mailer-1')).toBeUndefined();
  });
});
