// Per-relay NetworkPolicy: the relay pods accept only what they serve and reach only
// what they need. Ingress: the authenticated listeners from anywhere, the unauthenticated
// relay listener only from its allowedNetworks, the metrics port only from the monitoring
// namespace. Egress: every upstream's port (and 443 for OAuth2 token endpoints) and DNS. Kubelet probes come from the node, which
// NetworkPolicy implementations allow.
import type { V1NetworkPolicy, V1NetworkPolicyPort } from '@kubernetes/client-node';
import type { SmtpRelay } from '../../api/types.js';
import type { KubeObject } from '../../kube/types.js';
import { childMeta, names, selectorLabels } from './labels.js';
import { egressPorts } from './upstreams.js';
import { containerPort, DEFAULT_MONITORING_NAMESPACE, DEFAULT_OPERATOR_NAMESPACE, METRICS_PORT, OPERATOR_POD_LABELS, publicListeners, relayListener, type BuildContext } from './spec.js';

// client-node spells `from` as `_from` in its model; these are the wire shapes.
interface IngressRule {
  from?: ({ ipBlock: { cidr: string } } | { namespaceSelector: { matchLabels: Record<string, string> }; podSelector?: { matchLabels: Record<string, string> } })[];
  ports: V1NetworkPolicyPort[];
}

export type NetworkPolicyObject = KubeObject & {
  spec: Omit<NonNullable<V1NetworkPolicy['spec']>, 'ingress'> & { ingress: IngressRule[] };
};

/** The namespace label every namespace carries (Kubernetes 1.22+). */
export const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';

const tcp = (port: number): V1NetworkPolicyPort => ({ protocol: 'TCP', port });

export function buildNetworkPolicy(relay: SmtpRelay, ctx: BuildContext): NetworkPolicyObject {
  // NetworkPolicy sees the pod's port (after the Service's DNAT): the container ports.
  const ingress: IngressRule[] = [];
  const open = publicListeners(relay);
  if (open.length > 0) ingress.push({ ports: open.map((l) => tcp(containerPort(l.port))) });
  const relayL = relayListener(relay);
  const networks = relay.spec.listeners?.relay?.allowedNetworks ?? [];
  // No networks, no rule: an empty `from` would mean "from anywhere".
  if (relayL && networks.length > 0) {
    ingress.push({ from: networks.map((cidr) => ({ ipBlock: { cidr } })), ports: [tcp(containerPort(relayL.port))] });
  }
  ingress.push({
    from: [
      { namespaceSelector: { matchLabels: { [NAMESPACE_NAME_LABEL]: ctx.monitoringNamespace ?? DEFAULT_MONITORING_NAMESPACE } } },
      // The operator reads the queue (GET /queue, /dkim) and drains it (POST /drain) here: its pods only.
      { namespaceSelector: { matchLabels: { [NAMESPACE_NAME_LABEL]: ctx.operatorNamespace ?? DEFAULT_OPERATOR_NAMESPACE } }, podSelector: { matchLabels: { ...OPERATOR_POD_LABELS } } },
    ],
    ports: [tcp(METRICS_PORT)],
  });
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: childMeta(relay, names.networkPolicy(relay)),
    spec: {
      podSelector: { matchLabels: selectorLabels(relay) },
      policyTypes: ['Ingress', 'Egress'],
      ingress,
      egress: [
        // The smarthosts: DNS names or addresses outside the cluster, so any destination on their ports;
        // with an OAuth2 upstream also its token endpoint's port (443: login.microsoftonline.com, oauth2.googleapis.com).
        { ports: egressPorts(relay).map(tcp) },
        // Resolving the upstream's name: cluster DNS or a node-local cache, UDP and TCP.
        { ports: [{ protocol: 'UDP', port: 53 }, tcp(53)] },
      ],
    },
  };
}
