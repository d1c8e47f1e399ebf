// Durable mode: the relay as a StatefulSet, each pod with its own ReadWriteOnce claim at
// MOUNTS.queue (one relay process per queue directory). The pod template is the
// Deployment's (buildPodTemplate) plus that mount.
//
// Claim retention is Retain both ways, on purpose. The operator drains a replica before it
// lowers the replica count, so a claim left behind by a scale-down is normally empty; but a
// drain that timed out leaves mail on it, and Delete would destroy that mail with no one
// asked. Retained, the claim is reattached to the same ordinal on the next scale-up and its
// mail is delivered; the operator reports it (status.queue.strandedClaims) until then. On
// deletion of the SmtpRelay the claims stay too: deleting mail is a human's decision.
import type { V1StatefulSet } from '@kubernetes/client-node';
import { DEFAULTS, type SmtpRelay } from '../../api/types.js';
import { MOUNTS } from '../../common/relay-config.js';
import { buildPodTemplate } from './deployment.js';
import { childLabels, childMeta, names, selectorLabels, type Built } from './labels.js';
import { primaryServiceName } from './service.js';
import { replicas, type BuildContext } from './spec.js';

export type StatefulSetObject = Built<V1StatefulSet>;

export const CLAIM_RETENTION = { whenScaled: 'Retain', whenDeleted: 'Retain' } as const;

export function buildStatefulSet(relay: SmtpRelay, ctx: BuildContext): StatefulSetObject {
  const storage = relay.spec.queue?.storage ?? {};
  const template = buildPodTemplate(relay, ctx, [{ name: names.queueClaimTemplate, mountPath: MOUNTS.queue }]);
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: childMeta(relay, names.statefulSet(relay)),
    spec: {
      replicas: ctx.statefulSetReplicas ?? replicas(relay),
      revisionHistoryLimit: 5,
      selector: { matchLabels: selectorLabels(relay) },
      // Only for pod DNS names; clients use the Services.
      serviceName: primaryServiceName(relay),
      // Relays do not depend on each other: start and replace them together.
      podManagementPolicy: 'Parallel',
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 0 } },
      persistentVolumeClaimRetentionPolicy: { ...CLAIM_RETENTION },
      template,
      volumeClaimTemplates: [
        {
          metadata: { name: names.queueClaimTemplate, labels: childLabels(relay) },
          spec: {
            accessModes: ['ReadWriteOnce'],
            resources: { requests: { storage: storage.size ?? DEFAULTS.queueStorageSize } },
            ...(storage.storageClassName ? { storageClassName: storage.storageClassName } : {}),
          },
        },
      ],
    },
  };
}
