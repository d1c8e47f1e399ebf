// Everything the operator wants to exist for one SmtpRelay. Pure: no I/O, no clock.
import type { SmtpRelay } from '../../api/types.js';
import type { KubeObject } from '../../kube/types.js';
import { buildCertificate } from './certificate.js';
import { buildConfigMap } from './configmap.js';
import { buildDeployment } from './deployment.js';
import { buildPodDisruptionBudget } from './pdb.js';
import { buildService } from './service.js';
import type { BuildContext } from './spec.js';

export * from './labels.js';
export * from './spec.js';
export { buildConfigMap, renderRelayConfig, renderRelayConfigJson } from './configmap.js';
export { buildDeployment, configChecksum } from './deployment.js';
export { buildService } from './service.js';
export { buildCertificate } from './certificate.js';
export { buildPodDisruptionBudget } from './pdb.js';

/** The kinds of child the operator creates and prunes, in apply order (config before the pods that mount it). */
export const CHILD_KINDS = [
  { apiVersion: 'v1', kind: 'ConfigMap', plural: 'configmaps', group: '' },
  { apiVersion: 'cert-manager.io/v1', kind: 'Certificate', plural: 'certificates', group: 'cert-manager.io' },
  { apiVersion: 'v1', kind: 'Service', plural: 'services', group: '' },
  { apiVersion: 'apps/v1', kind: 'Deployment', plural: 'deployments', group: 'apps' },
  { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', plural: 'poddisruptionbudgets', group: 'policy' },
] as const;

export type ChildKind = (typeof CHILD_KINDS)[number]['kind'];

export function desiredChildren(relay: SmtpRelay, ctx: BuildContext): KubeObject[] {
  const children: (KubeObject | undefined)[] = [
    buildConfigMap(relay, ctx),
    buildCertificate(relay),
    buildService(relay),
    buildDeployment(relay, ctx),
    buildPodDisruptionBudget(relay),
  ];
  return children.filter((c): c is KubeObject => c !== undefined);
}
