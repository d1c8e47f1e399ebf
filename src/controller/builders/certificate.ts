// The cert-manager Certificate, only when spec.tls.issuerRef is set.
import type { ICertificate } from '@kubernetes-models/cert-manager/cert-manager.io/v1/Certificate';
import type { SmtpRelay } from '../../api/types.js';
import { childMeta, names, serviceDnsNames, type Built } from './labels.js';

export type CertificateObject = Built<ICertificate>;

export const CERT_MANAGER_GROUP = 'cert-manager.io';

/** Undefined when the relay brings its own Secret (spec.tls.secretName). */
export function buildCertificate(relay: SmtpRelay): CertificateObject | undefined {
  const { tls, hostname } = relay.spec;
  if (!tls.issuerRef) return undefined;
  // The Service names are in the certificate so in-cluster probing by Service DNS verifies.
  const dnsNames = [...new Set([hostname, ...(tls.additionalDnsNames ?? []), ...serviceDnsNames(relay)])];
  const spec: NonNullable<ICertificate['spec']> = {
    secretName: names.tlsSecret(relay),
    commonName: hostname.length <= 64 ? hostname : undefined,
    dnsNames,
    issuerRef: { name: tls.issuerRef.name, kind: tls.issuerRef.kind ?? 'Issuer', group: tls.issuerRef.group ?? CERT_MANAGER_GROUP },
    privateKey: { algorithm: 'ECDSA', size: 256, rotationPolicy: 'Always' },
    usages: ['server auth', 'digital signature', 'key encipherment'],
    secretTemplate: { labels: childMetaLabels(relay) },
  };
  if (!spec.commonName) delete spec.commonName;
  if (tls.duration) spec.duration = tls.duration;
  if (tls.renewBefore) spec.renewBefore = tls.renewBefore;
  return {
    apiVersion: 'cert-manager.io/v1',
    kind: 'Certificate',
    metadata: childMeta(relay, names.certificate(relay)),
    spec,
  };
}

function childMetaLabels(relay: SmtpRelay): Record<string, string> {
  return { ...(childMeta(relay, '').labels ?? {}) };
}
