// Everything the operator wants to exist for one SmtpRelay. Pure: no I/O, no clock.
import type { SmtpRelay } from '../../api/types.js';
import type { KubeObject } from '../../kube/types.js';
import { buildCertificate, buildInternalCertificate } from './certificate.js';
import { buildConfigMap } from './configmap.js';
import { buildDeployment } from './deployment.js';
import { buildNetworkPolicy } from './networkpolicy.js';
import { buildPodDisruptionBudget } from './pdb.js';
import { buildRelayService, buildService } from './service.js';
import { isDurable, type BuildContext } from './spec.js';
import { buildStatefulSet } from './statefulset.js';

export * from './labels.js';
export * from './spec.js';
export { buildConfigMap, configMapName, renderRelayConfig, renderRelayConfigJson } from './configmap.js';
export { buildDeployment, buildPodTemplate, configChecksum } from './deployment.js';
export { buildStatefulSet, CLAIM_RETENTION } from './statefulset.js';
export { buildRelayService, buildService, primaryServiceName, serviceNameFor } from './service.js';
export { buildNetworkPolicy, NAMESPACE_NAME_LABEL } from './networkpolicy.js';
export { buildCertificate, buildInternalCertificate, inClusterNames } from './certificate.js';
export { buildPodDisruptionBudget } from './pdb.js';

/** The kinds of child the operator creates and prunes, in apply order (config before the pods that mount it). Deployment and StatefulSet are the two workloads (spec.queue.mode). */
export const CHILD_KINDS = [
  { apiVersion: 'v1', kind: 'ConfigMap', plural: 'configmaps', group: '' },
  // Before the pods: they start fenced.
  { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', plural: 'networkpolicies', group: 'networking.k8s.io' },
  { apiVersion: 'cert-manager.io/v1', kind: 'Certificate', plural: 'certificates', group: 'cert-manager.io' },
  { apiVersion: 'v1', kind: 'Service', plural: 'services', group: '' },
  { apiVersion: 'apps/v1', kind: 'Deployment', plural: 'deployments', group: 'apps' },
  { apiVersion: 'apps/v1', kind: 'StatefulSet', plural: 'statefulsets', group: 'apps' },
  { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', plural: 'poddisruptionbudgets', group: 'policy' },
] as const;

export type ChildKind = (typeof CHILD_KINDS)[number]['kind'];

export function desiredChildren(relay: SmtpRelay, ctx: BuildContext): KubeObject[] {
  const children: (KubeObject | undefined)[] = [
    buildConfigMap(relay, ctx),
    buildNetworkPolicy(relay, ctx),
    buildCertificate(relay),
    buildInternalCertificate(relay),
    buildService(relay),
    buildRelayService(relay),
    // One workload per mode; during a mode switch the reconciler keeps the other one until it is drained (controller/queue/drain.ts).
    isDurable(relay) ? buildStatefulSet(relay, ctx) : buildDeployment(relay, ctx),
    buildPodDisruptionBudget(relay),
  ];
  return children.filter((c): c is KubeObject => c !== undefined);
}
