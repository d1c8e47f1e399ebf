// A PodDisruptionBudget keeps one relay serving through voluntary disruptions.
// Only with more than one replica: with one, minAvailable 1 would block node drains.
import type { V1PodDisruptionBudget } from '@kubernetes/client-node';
import type { SmtpRelay } from '../../api/types.js';
import { childMeta, names, selectorLabels, type Built } from './labels.js';
import { replicas } from './spec.js';

export type PdbObject = Built<V1PodDisruptionBudget>;

export function buildPodDisruptionBudget(relay: SmtpRelay): PdbObject | undefined {
  if (replicas(relay) <= 1) return undefined;
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: childMeta(relay, names.pdb(relay)),
    spec: { maxUnavailable: 1, selector: { matchLabels: selectorLabels(relay) } },
  };
}
