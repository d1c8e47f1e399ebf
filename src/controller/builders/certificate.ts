// The cert-manager Certificate, only when spec.tls.issuerRef is set.
import type { ICertificate } from '@kubernetes-models/cert-manager/cert-manager.io/v1/Certificate';
import type { SmtpRelay } from '../../api/types.js';
import { childMeta, names, selectorLabels, type Built } from './labels.js';

export type CertificateObject = Built<ICertificate>;

export const CERT_MANAGER_GROUP = 'cert-manager.io';

/** Undefined when the relay brings its own Secret (spec.tls.secretName). */
export function buildCertificate(relay: SmtpRelay): CertificateObject | undefined {
  const { tls, hostname } = relay.spec;
  if (!tls.issuerRef) return undefined;
  // Only public names: ACME issuers refuse Service DNS names (.svc, .cluster.local).
  // The prober connects to the Service but checks SNI/hostname against spec.hostname.
  const dnsNames = [...new Set([hostname, ...(tls.additionalDnsNames ?? [])])];
  const spec: NonNullable<ICertificate['spec']> = {
    secretName: names.tlsSecret(relay),
    dnsNames,
    issuerRef: { name: tls.issuerRef.name, kind: tls.issuerRef.kind ?? 'Issuer', group: tls.issuerRef.group ?? CERT_MANAGER_GROUP },
    privateKey: { algorithm: 'ECDSA', size: 256, rotationPolicy: 'Always' },
    // ECDSA keys sign; they do not encipher keys.
    usages: ['server auth', 'digital signature'],
    // Labels that find the Secret by relay; not managed-by: cert-manager owns the Secret.
    secretTemplate: { labels: selectorLabels(relay) },
  };
  // X.509 limits the CN to 64 characters; the SAN (dnsNames) is what clients check anyway.
  if (hostname.length <= 64) spec.commonName = hostname;
  if (tls.duration) spec.duration = tls.duration;
  if (tls.renewBefore) spec.renewBefore = tls.renewBefore;
  return {
    apiVersion: 'cert-manager.io/v1',
    kind: 'Certificate',
    metadata: childMeta(relay, names.certificate(relay)),
    spec,
  };
}
