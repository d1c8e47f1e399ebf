// The relay Service: client ports (587/465, +relay) mapped to the container's named ports.
import type { V1Service, V1ServicePort } from '@kubernetes/client-node';
import { DEFAULTS, type SmtpRelay } from '../../api/types.js';
import { childMeta, names, selectorLabels, type Built } from './labels.js';
import { enabledListeners } from './spec.js';

export type ServiceObject = Built<V1Service>;

export function buildService(relay: SmtpRelay): ServiceObject {
  const svc = relay.spec.service ?? {};
  const type = svc.type ?? DEFAULTS.serviceType;
  const ports: V1ServicePort[] = enabledListeners(relay).map((l) => ({
    name: l.name,
    port: l.port,
    targetPort: l.name, // the named container port
    protocol: 'TCP',
    appProtocol: 'smtp',
  }));
  const metadata = childMeta(relay, names.service(relay));
  if (svc.annotations && Object.keys(svc.annotations).length > 0) metadata.annotations = { ...svc.annotations };
  const spec: V1Service['spec'] = { type, selector: selectorLabels(relay), ports };
  // externalTrafficPolicy is only valid for NodePort and LoadBalancer Services.
  if (svc.externalTrafficPolicy && type !== 'ClusterIP') spec.externalTrafficPolicy = svc.externalTrafficPolicy;
  if (svc.ipFamilyPolicy) spec.ipFamilyPolicy = svc.ipFamilyPolicy;
  return { apiVersion: 'v1', kind: 'Service', metadata, spec };
}
