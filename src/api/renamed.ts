// Field names v1alpha1 changed in 2026-12 to follow the Kubernetes API conventions
// (initialisms in one case, units and `…Time` in names, `…Ref` for references). No
// conversion and no shim: v1alpha1 may break. Listed once here for the reference's
// note and for the test that proves no old name is left in the API, docs and samples.

export interface RenamedField {
  kind: 'SmtpRelay' | 'SmtpUser';
  /** Old path, as in the reference (spec.…, status.…). */
  from: string;
  to: string;
}

export const RENAMED_IN_V1ALPHA1: readonly RenamedField[] = [
  { kind: 'SmtpRelay', from: 'spec.tls.additionalDnsNames', to: 'spec.tls.additionalDNSNames' },
  { kind: 'SmtpRelay', from: 'spec.upstream.servername', to: 'spec.upstream.serverName' },
  { kind: 'SmtpRelay', from: 'spec.upstreams[].servername', to: 'spec.upstreams[].serverName' },
  { kind: 'SmtpRelay', from: 'spec.upstream.credentialsSecretRef', to: 'spec.upstream.passwordSecretRef' },
  { kind: 'SmtpRelay', from: 'spec.upstreams[].oauth2.clientId', to: 'spec.upstreams[].oauth2.clientID' },
  { kind: 'SmtpRelay', from: 'status.endpoints[].latencyMs', to: 'status.endpoints[].latencyMilliseconds' },
  { kind: 'SmtpRelay', from: 'status.queue.drain.startedAt', to: 'status.queue.drain.startTime' },
  { kind: 'SmtpRelay', from: 'status.queue.strandedClaims[].since', to: 'status.queue.strandedClaims[].strandedTime' },
  { kind: 'SmtpRelay', from: 'status.senderDomains[].dmarc.pct', to: 'status.senderDomains[].dmarc.percentage' },
  { kind: 'SmtpUser', from: 'spec.connectionSecret', to: 'spec.connectionSecretRef' },
  { kind: 'SmtpUser', from: 'status.passwordIssuedAt', to: 'status.passwordIssueTime' },
  { kind: 'SmtpUser', from: 'status.nextRotation', to: 'status.nextRotationTime' },
];

/** The last segment of a path: the field name itself (`clientId`). */
export const leafName = (path: string): string => path.slice(path.lastIndexOf('.') + 1);
