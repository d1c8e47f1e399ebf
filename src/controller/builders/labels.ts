// Names, labels and owner references shared by every child of an SmtpRelay.
import { API_VERSION, KIND, type SmtpRelay } from '../../api/types.js';
import type { KubeObject, OwnerReference } from '../../kube/types.js';

export const FIELD_MANAGER = 'smtp-relay-operator';
export const MANAGED_BY = 'smtp-relay-operator';

export const LABEL_NAME = 'app.kubernetes.io/name';
export const LABEL_INSTANCE = 'app.kubernetes.io/instance';
export const LABEL_MANAGED_BY = 'app.kubernetes.io/managed-by';
export const LABEL_COMPONENT = 'app.kubernetes.io/component';

/** Selects every object this operator manages (informers and pruning use it). */
export const MANAGED_SELECTOR = `${LABEL_MANAGED_BY}=${MANAGED_BY}`;

/** Pod-template annotation that changes whenever the config or a referenced Secret changes. */
export const CHECKSUM_ANNOTATION = 'smtprelay.dev/config-checksum';

/** The stable subset used in selectors: never add to it (Deployment selectors are immutable). */
export function selectorLabels(relay: SmtpRelay): Record<string, string> {
  return { [LABEL_NAME]: 'smtp-relay', [LABEL_INSTANCE]: relay.metadata.name };
}

/**
 * selectorLabels as a label-selector string (status.selector, the scale subresource's labelSelectorPath).
 * Keys sorted, so the string never changes for a relay and its status never churns.
 */
export function selectorString(relay: SmtpRelay): string {
  return Object.entries(selectorLabels(relay))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

export function childLabels(relay: SmtpRelay): Record<string, string> {
  return { ...selectorLabels(relay), [LABEL_MANAGED_BY]: MANAGED_BY, [LABEL_COMPONENT]: 'relay' };
}

export function ownerReference(relay: SmtpRelay): OwnerReference {
  return {
    apiVersion: API_VERSION,
    kind: KIND,
    name: relay.metadata.name,
    uid: relay.metadata.uid ?? '',
    controller: true,
    blockOwnerDeletion: true,
  };
}

/** metadata for a child object: same namespace, our labels, controller owner reference. */
export function childMeta(relay: SmtpRelay, name: string): KubeObject['metadata'] {
  return {
    name,
    namespace: relay.metadata.namespace,
    labels: childLabels(relay),
    ownerReferences: [ownerReference(relay)],
  };
}

// Child names. One place, so the reconciler, builders and tests agree.
export const names = {
  deployment: (relay: SmtpRelay) => relay.metadata.name,
  /** The Service for submission/submissions (type from spec.service). */
  service: (relay: SmtpRelay) => relay.metadata.name,
  /** The relay listener's own ClusterIP Service: never a load balancer. metadata.name is at most 50, so this is at most 59 (DNS-1035 allows 63). */
  relayService: (relay: SmtpRelay) => `${relay.metadata.name}-internal`,
  networkPolicy: (relay: SmtpRelay) => relay.metadata.name,
  /** relay.json of the PassThrough Deployment. */
  configMap: (relay: SmtpRelay) => `${relay.metadata.name}-config`,
  /**
   * relay.json of the Durable StatefulSet: its own ConfigMap, so that during a mode switch the
   * draining pods keep (and, if restarted, re-read) the config that names their queue.
   */
  queueConfigMap: (relay: SmtpRelay) => `${relay.metadata.name}-queue-config`,
  /** The Durable workload. Same name as the Deployment (another kind): pods are <name>-<ordinal>. */
  statefulSet: (relay: SmtpRelay) => relay.metadata.name,
  /** The StatefulSet's volumeClaimTemplate; claims are named <template>-<statefulset>-<ordinal>. */
  queueClaimTemplate: 'queue',
  queueClaim: (relay: SmtpRelay, ordinal: number) => `queue-${relay.metadata.name}-${ordinal}`,
  certificate: (relay: SmtpRelay) => relay.metadata.name,
  /** The SmtpUsers' hashes and senders (controller/users): written by the operator, hot-reloaded by the relay. */
  managedUsers: (relay: SmtpRelay) => `${relay.metadata.name}-smtpusers`,
  pdb: (relay: SmtpRelay) => relay.metadata.name,
  /** The Secret the relay serves TLS from: the user's own, or the one cert-manager writes. */
  tlsSecret: (relay: SmtpRelay) => relay.spec.tls.secretName ?? `${relay.metadata.name}-tls`,
  /** spec.tls.internalCertificate: the Certificate for the in-cluster names and the Secret cert-manager writes (same name). */
  internalCertificate: (relay: SmtpRelay) => `${relay.metadata.name}-internal-tls`,
  internalTlsSecret: (relay: SmtpRelay) => `${relay.metadata.name}-internal-tls`,
};

/** In-cluster DNS names of the relay's Service. */
export function serviceDnsNames(relay: SmtpRelay): string[] {
  const svc = names.service(relay);
  const ns = relay.metadata.namespace;
  return [`${svc}.${ns}.svc`, `${svc}.${ns}.svc.cluster.local`];
}

/** A client-node model typed as a plain KubeObject (our metadata shape, JSON-ready). */
export type Built<T> = Omit<T, 'metadata' | 'apiVersion' | 'kind' | 'status'> & KubeObject;
