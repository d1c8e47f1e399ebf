// An HorizontalPodAutoscaler drives an SmtpRelay on the real node: the HPA controller of
// kube-controller-manager reads the relay pods' memory from metrics-server (metrics.k8s.io, from
// the kubelet's /metrics/resource), finds the pods through the SmtpRelay's scale subresource
// (status.selector), and writes spec.replicas through /scale. The operator follows (Deployment,
// pods, status.replicas) and never writes spec.replicas back: no write fight.
// The target is memory per pod, 1 Mi on average: any relay pod uses more, so the HPA asks for
// its maximum; lowering maxReplicas then scales the relay back down.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { waitFor } from '../harness/kube.js';
import { run, startRelayEnv, type RelayEnv } from './relay-env.js';

const NS = 'node-hpa';
const RELAY = 'scaled';

interface Relay {
  metadata: { generation: number; managedFields?: { manager: string; operation: string; fieldsV1?: { 'f:spec'?: Record<string, unknown> } }[] };
  spec: { replicas?: number };
  status?: { replicas?: number; selector?: string };
}
interface Hpa {
  status?: { currentReplicas?: number; desiredReplicas?: number; currentMetrics?: { resource?: { name: string; current: { averageValue?: string } } }[]; conditions?: { type: string; status: string; reason?: string }[] };
}

let env: RelayEnv;
const get = async <T>(kind: string, name: string): Promise<T> => JSON.parse(await run(['-n', NS, 'get', kind, name, '-o', 'json', '--show-managed-fields'])) as T;
const relay = () => get<Relay>('smtprelay', RELAY);
const deploymentReplicas = async () => (await get<{ spec: { replicas: number }; metadata: { generation: number } }>('deployment', RELAY));

beforeAll(async () => {
  env = await startRelayEnv(NS, RELAY, { replicas: 1, queue: { mode: 'PassThrough' } });
});

afterAll(async () => {
  await env?.close();
});

describe('HorizontalPodAutoscaler on an SmtpRelay (real HPA controller, metrics-server)', () => {
  test('the HPA scales the relay 1 -> 2 -> 1 through /scale; the operator follows and writes nothing back', async () => {
    await env.settled();
    expect(await env.readyPods()).toHaveLength(1);
    const t0 = Date.now();
    const hpa = {
      apiVersion: 'autoscaling/v2',
      kind: 'HorizontalPodAutoscaler',
      metadata: { name: RELAY, namespace: NS },
      spec: {
        scaleTargetRef: { apiVersion: 'smtprelay.dev/v1alpha1', kind: 'SmtpRelay', name: RELAY },
        minReplicas: 1,
        maxReplicas: 2,
        metrics: [{ type: 'Resource', resource: { name: 'memory', target: { type: 'AverageValue', averageValue: '1Mi' } } }],
        behavior: { scaleUp: { stabilizationWindowSeconds: 0 }, scaleDown: { stabilizationWindowSeconds: 0 } },
      },
    };
    await run(['apply', '--server-side', '--field-manager=node-e2e', '-f', '-'], JSON.stringify(hpa));

    // The HPA read real metrics (ScalingActive) and set the SmtpRelay's replicas through /scale.
    const scaledUp = await waitFor(async () => {
      const r = await relay();
      return r.spec.replicas === 2 ? r : undefined;
    }, { description: 'the HPA to set SmtpRelay spec.replicas to 2', timeoutMs: 180_000, intervalMs: 1000 });
    const scaledMs = Date.now() - t0;
    const status = (await get<Hpa>('hpa', RELAY)).status!;
    expect(status.conditions?.find((c) => c.type === 'ScalingActive')).toMatchObject({ status: 'True' });
    const memory = status.currentMetrics?.find((m) => m.resource?.name === 'memory')?.resource?.current.averageValue;
    expect(memory).toMatch(/^\d+(k|Ki|M|Mi|G|Gi)?$/);
    // Who owns spec.replicas now: the HPA's writer of /scale, never the operator (it writes status only).
    const owners = (scaledUp.metadata.managedFields ?? []).filter((f) => f.fieldsV1?.['f:spec'] && 'f:replicas' in f.fieldsV1['f:spec']).map((f) => f.manager);
    expect(owners).toEqual(['kube-controller-manager']);
    expect(owners).not.toContain('smtp-relay-operator');

    // The operator follows: two Ready pods, status.replicas 2 (what /scale reports as current).
    await waitFor(async () => (await env.readyPods()).length === 2 && (await relay()).status?.replicas === 2, {
      description: 'two Ready relay pods and SmtpRelay status.replicas 2',
      timeoutMs: 180_000,
      intervalMs: 1000,
    });
    const followedMs = Date.now() - t0;

    // No write fight: over three HPA syncs (every 5 s on the test node) nothing moves.
    const before = { relay: (await relay()).metadata.generation, deployment: (await deploymentReplicas()).metadata.generation };
    await new Promise((r) => setTimeout(r, 16_000));
    const after = await relay();
    const dep = await deploymentReplicas();
    expect({ replicas: after.spec.replicas, relay: after.metadata.generation, deployment: dep.metadata.generation, deploymentReplicas: dep.spec.replicas }).toEqual({
      replicas: 2,
      relay: before.relay,
      deployment: before.deployment,
      deploymentReplicas: 2,
    });
    const rescales = (await run(['-n', NS, 'get', 'events', '--field-selector', `involvedObject.kind=HorizontalPodAutoscaler,involvedObject.name=${RELAY},reason=SuccessfulRescale`, '-o', 'name'])).split('\n').filter(Boolean);
    expect(rescales).toHaveLength(1);

    // And back: a lower maximum scales the relay down through the same path.
    const t1 = Date.now();
    await run(['-n', NS, 'patch', 'hpa', RELAY, '--type=merge', '-p', JSON.stringify({ spec: { maxReplicas: 1 } })]);
    await waitFor(async () => (await relay()).spec.replicas === 1 && (await env.readyPods()).length === 1 && (await deploymentReplicas()).spec.replicas === 1, {
      description: 'the HPA to scale the relay back to 1 (spec, Deployment, pods)',
      timeoutMs: 180_000,
      intervalMs: 1000,
    });
    const downMs = Date.now() - t1;
    process.stdout.write(`NODE hpa: spec.replicas 1 -> 2 by the HPA ${scaledMs} ms after it was created (pod memory ${memory}), 2 pods Ready ${followedMs} ms; generations unchanged over 16 s; back to 1 in ${downMs} ms\n`);
  });
});
