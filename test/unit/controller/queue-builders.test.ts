// spec.queue in the builders: Durable (the API default) is a StatefulSet with a claim per pod
// mounted at MOUNTS.queue and relay.json `queue`; PassThrough is the Deployment without either.
import { describe, expect, test } from '@jest/globals';
import { MOUNTS, RELAY_CONFIG_KEY, type RelayConfig } from '../../../src/common/relay-config.js';
import { validateRelayConfig } from '../../../src/relay/config.js';
import {
  buildDeployment,
  buildPodDisruptionBudget,
  buildService,
  buildStatefulSet,
  CHILD_KINDS,
  CLAIM_RETENTION,
  desiredChildren,
  renderRelayConfig,
  selectorLabels,
} from '../../../src/controller/builders/index.js';
import { ctx, relay } from './fixtures.js';

const durable = (spec: Parameters<typeof relay>[0] = {}) => relay({ queue: { mode: 'Durable' }, ...spec });
/** An object stored before spec.queue existed, or written without it: the schema default is Durable. */
const unset = () => {
  const r = relay();
  delete r.spec.queue;
  return r;
};

describe('spec.queue.mode picks the workload', () => {
  test('Durable (and an unset queue: the default) is a StatefulSet with its own ConfigMap; no Deployment', () => {
    for (const r of [durable(), unset()]) {
      const kinds = desiredChildren(r, ctx).map((c) => `${c.kind}/${c.metadata.name}`);
      expect(kinds).toEqual(expect.arrayContaining(['StatefulSet/mail', 'ConfigMap/mail-queue-config']));
      expect(kinds.some((k) => k.startsWith('Deployment/') || k === 'ConfigMap/mail-config')).toBe(false);
    }
  });

  test('PassThrough is the Deployment, and its ConfigMap keeps the old name', () => {
    const kinds = desiredChildren(relay({ queue: { mode: 'PassThrough' } }), ctx).map((c) => `${c.kind}/${c.metadata.name}`);
    expect(kinds).toEqual(expect.arrayContaining(['Deployment/mail', 'ConfigMap/mail-config']));
    expect(kinds.some((k) => k.startsWith('StatefulSet/'))).toBe(false);
  });

  test('StatefulSet is informed and pruned like every child', () => {
    expect(CHILD_KINDS.find((k) => k.kind === 'StatefulSet')).toEqual({ apiVersion: 'apps/v1', kind: 'StatefulSet', plural: 'statefulsets', group: 'apps' });
  });
});

describe('relay.json queue', () => {
  test('Durable renders the claim mount and Postfix\'s timing by default, and the relay accepts it', () => {
    const config = renderRelayConfig(unset());
    expect(config.queue).toEqual({ dir: MOUNTS.queue, maxAgeMs: 120 * 3_600_000, minBackoffMs: 300_000, maxBackoffMs: 4_000_000 });
    expect(() => validateRelayConfig(JSON.parse(JSON.stringify(config)) as RelayConfig)).not.toThrow();
  });

  test('maxAge and retry come from the spec', () => {
    const config = renderRelayConfig(durable({ queue: { mode: 'Durable', maxAge: '72h', retry: { minBackoff: '1m', maxBackoff: '1h30m' } } }));
    expect(config.queue).toEqual({ dir: MOUNTS.queue, maxAgeMs: 72 * 3_600_000, minBackoffMs: 60_000, maxBackoffMs: 90 * 60_000 });
  });

  test('PassThrough renders no queue: the relay passes mail through', () => {
    expect(renderRelayConfig(relay({ queue: { mode: 'PassThrough' } })).queue).toBeUndefined();
  });
});

describe('StatefulSet', () => {
  const set = buildStatefulSet(durable({ replicas: 3, queue: { mode: 'Durable', storage: { size: '5Gi', storageClassName: 'fast-ssd' } } }), ctx);

  test('has one ReadWriteOnce claim template per pod, sized and classed by spec.queue.storage, mounted at MOUNTS.queue', () => {
    expect(set.spec!.volumeClaimTemplates).toEqual([
      {
        metadata: { name: 'queue', labels: expect.objectContaining({ 'app.kubernetes.io/managed-by': 'smtp-relay-operator', 'app.kubernetes.io/instance': 'mail' }) },
        spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '5Gi' } }, storageClassName: 'fast-ssd' },
      },
    ]);
    const mounts = set.spec!.template.spec!.containers[0]!.volumeMounts!;
    expect(mounts).toContainEqual({ name: 'queue', mountPath: MOUNTS.queue });
    // The claim is not a pod volume: the StatefulSet controller adds it per pod.
    expect(set.spec!.template.spec!.volumes!.some((v) => v.name === 'queue')).toBe(false);
  });

  test('defaults to 1Gi and the cluster\'s default StorageClass', () => {
    const claim = buildStatefulSet(unset(), ctx).spec!.volumeClaimTemplates![0]!;
    expect(claim.spec).toEqual({ accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } });
  });

  test('retains claims on scale-down and deletion (a timed-out drain leaves mail on them)', () => {
    expect(set.spec!.persistentVolumeClaimRetentionPolicy).toEqual({ whenScaled: 'Retain', whenDeleted: 'Retain' });
    expect(CLAIM_RETENTION).toEqual({ whenScaled: 'Retain', whenDeleted: 'Retain' });
  });

  test('runs the Deployment\'s pod template (restricted Pod Security, same config mount) plus the queue mount', () => {
    const r = durable({ replicas: 3 });
    const fromSet = buildStatefulSet(r, ctx).spec!.template;
    const fromDeployment = buildDeployment(r, ctx).spec!.template;
    const { volumeMounts: setMounts, ...setContainer } = fromSet.spec!.containers[0]!;
    const { volumeMounts: depMounts, ...depContainer } = fromDeployment.spec!.containers[0]!;
    expect(setContainer).toEqual(depContainer);
    expect(setMounts).toEqual([...depMounts!, { name: 'queue', mountPath: MOUNTS.queue }]);
    expect({ ...fromSet.spec, containers: [] }).toEqual({ ...fromDeployment.spec, containers: [] });
    expect(fromSet.spec!.containers[0]!.securityContext).toMatchObject({ runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
    expect(fromSet.spec!.volumes!.find((v) => v.name === 'config')!.configMap!.name).toBe('mail-queue-config');
    expect(fromSet.spec!.volumes!.find((v) => (v.configMap?.items ?? []).some((i) => i.key === RELAY_CONFIG_KEY))).toBeDefined();
  });

  test('scaling never changes the pod template (that would roll every pod, the draining ones too)', () => {
    const template = (replicas: number, ctxReplicas?: number) => buildStatefulSet(durable({ replicas }), { ...ctx, ...(ctxReplicas !== undefined ? { statefulSetReplicas: ctxReplicas } : {}) }).spec!.template;
    expect(template(1)).toEqual(template(3));
    expect(template(1, 3)).toEqual(template(0));
    expect(template(1).spec!.topologySpreadConstraints).toHaveLength(1);
  });

  test('follows spec.replicas, or the drain plan\'s replicas while a scale-down drains', () => {
    expect(set.spec!.replicas).toBe(3);
    expect(buildStatefulSet(durable({ replicas: 1 }), { ...ctx, statefulSetReplicas: 3 }).spec!.replicas).toBe(3);
  });

  test('starts pods in parallel, and the Services and PDB select its pods as they do the Deployment\'s', () => {
    expect(set.spec!.podManagementPolicy).toBe('Parallel');
    const r = durable({ replicas: 3 });
    expect(set.spec!.selector).toEqual({ matchLabels: selectorLabels(r) });
    expect(buildService(r)!.spec!.selector).toEqual(selectorLabels(r));
    expect(buildPodDisruptionBudget(r)!.spec!.selector).toEqual({ matchLabels: selectorLabels(r) });
    expect(set.spec!.template.metadata!.labels).toMatchObject(selectorLabels(r));
  });
});
