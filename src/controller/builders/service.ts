// The relay's Services. The authenticated listeners (587/465) sit on the Service whose
// type spec.service chooses; the unauthenticated relay listener gets its own ClusterIP
// Service, so a LoadBalancer or NodePort never exposes it outside the cluster.
import type { V1Service, V1ServicePort } from '@kubernetes/client-node';
import { DEFAULTS, type SmtpRelay } from '../../api/types.js';
import { childMeta, names, selectorLabels, type Built } from './labels.js';
import { publicListeners, relayListener, type ListenerDefaults } from './spec.js';

export type ServiceObject = Built<V1Service>;

function servicePort(l: ListenerDefaults): V1ServicePort {
  return {
    name: l.name,
    port: l.port,
    targetPort: l.name, // the named container port
    protocol: 'TCP',
    appProtocol: 'smtp',
  };
}

/** The submission/submissions Service; undefined when both are disabled (a Service needs a port). */
export function buildService(relay: SmtpRelay): ServiceObject | undefined {
  const listeners = publicListeners(relay);
  if (listeners.length === 0) return undefined;
  const svc = relay.spec.service ?? {};
  const type = svc.type ?? DEFAULTS.serviceType;
  const metadata = childMeta(relay, names.service(relay));
  if (svc.annotations && Object.keys(svc.annotations).length > 0) metadata.annotations = { ...svc.annotations };
  const spec: V1Service['spec'] = { type, selector: selectorLabels(relay), ports: listeners.map(servicePort) };
  // externalTrafficPolicy is only valid for NodePort and LoadBalancer Services.
  if (svc.externalTrafficPolicy && type !== 'ClusterIP') spec.externalTrafficPolicy = svc.externalTrafficPolicy;
  if (svc.ipFamilyPolicy) spec.ipFamilyPolicy = svc.ipFamilyPolicy;
  return { apiVersion: 'v1', kind: 'Service', metadata, spec };
}

/**
 * The relay listener's Service: always ClusterIP, only the relay port, whatever spec.service
 * says. Its annotations (cloud load-balancer settings) are not copied; its IP families are.
 */
export function buildRelayService(relay: SmtpRelay): ServiceObject | undefined {
  const listener = relayListener(relay);
  if (!listener) return undefined;
  const spec: V1Service['spec'] = { type: 'ClusterIP', selector: selectorLabels(relay), ports: [servicePort(listener)] };
  if (relay.spec.service?.ipFamilyPolicy) spec.ipFamilyPolicy = relay.spec.service.ipFamilyPolicy;
  return { apiVersion: 'v1', kind: 'Service', metadata: childMeta(relay, names.relayService(relay)), spec };
}

/** Which Service a listener is reached through. */
export function serviceNameFor(relay: SmtpRelay, listener: ListenerDefaults['name']): string {
  return listener === 'relay' ? names.relayService(relay) : names.service(relay);
}

/**
 * The Service the development-only local runtime annotates with every listener's local
 * address: the main one, or the relay one when the relay runs only the relay listener.
 */
export function primaryServiceName(relay: SmtpRelay): string {
  return publicListeners(relay).length > 0 ? names.service(relay) : names.relayService(relay);
}
