// The cert-manager Certificates: the public one when spec.tls.issuerRef is set, and the one
// for the in-cluster Service names when spec.tls.internalCertificate is set.
import type { ICertificate } from '@kubernetes-models/cert-manager/cert-manager.io/v1/Certificate';
import type { IssuerRef, SmtpRelay } from '../../api/types.js';
import { childMeta, names, selectorLabels, type Built } from './labels.js';
import { relayListener } from './spec.js';

export type CertificateObject = Built<ICertificate>;

export const CERT_MANAGER_GROUP = 'cert-manager.io';

function certificateSpec(relay: SmtpRelay, secretName: string, dnsNames: string[], issuerRef: IssuerRef): NonNullable<ICertificate['spec']> {
  return {
    secretName,
    dnsNames,
    issuerRef: { name: issuerRef.name, kind: issuerRef.kind ?? 'Issuer', group: issuerRef.group ?? CERT_MANAGER_GROUP },
    privateKey: { algorithm: 'ECDSA', size: 256, rotationPolicy: 'Always' },
    // ECDSA keys sign; they do not encipher keys.
    usages: ['server auth', 'digital signature'],
    // Labels that find the Secret by relay; not managed-by: cert-manager owns the Secret.
    secretTemplate: { labels: selectorLabels(relay) },
  };
}

/** Undefined when the relay brings its own Secret (spec.tls.secretName). */
export function buildCertificate(relay: SmtpRelay): CertificateObject | undefined {
  const { tls, hostname } = relay.spec;
  if (!tls.issuerRef) return undefined;
  // Only public names: ACME issuers refuse Service DNS names (.svc, .cluster.local).
  // The prober connects to the Service but checks SNI/hostname against spec.hostname.
  const dnsNames = [...new Set([hostname, ...(tls.additionalDNSNames ?? [])])];
  const spec = certificateSpec(relay, names.tlsSecret(relay), dnsNames, tls.issuerRef);
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

/**
 * The in-cluster names of the relay's Services: what in-cluster clients dial and verify.
 * The main Service always (it exists while 587/465 are on; its names cost nothing otherwise),
 * the relay listener's <name>-internal Service while that listener is on. Never spec.hostname.
 */
export function inClusterNames(relay: SmtpRelay): string[] {
  const ns = relay.metadata.namespace;
  const services = [names.service(relay), ...(relayListener(relay) ? [names.relayService(relay)] : [])];
  const all = services.flatMap((svc) => [`${svc}.${ns}.svc`, `${svc}.${ns}.svc.cluster.local`, `${svc}.${ns}`, svc]);
  return [...new Set(all)].filter((n) => n !== relay.spec.hostname);
}

/**
 * spec.tls.internalCertificate: a Certificate for the in-cluster names from an in-cluster
 * issuer (ACME refuses them). Undefined when unset, so the reconciler prunes it.
 */
export function buildInternalCertificate(relay: SmtpRelay): CertificateObject | undefined {
  const internal = relay.spec.tls.internalCertificate;
  if (!internal) return undefined;
  // No commonName: the short names do not fit one, and clients check the SAN. Lifetime: the issuer's default.
  const spec = certificateSpec(relay, names.internalTlsSecret(relay), inClusterNames(relay), internal.issuerRef);
  return {
    apiVersion: 'cert-manager.io/v1',
    kind: 'Certificate',
    metadata: childMeta(relay, names.internalCertificate(relay)),
    spec,
  };
}
