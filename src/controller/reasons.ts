// Stable CamelCase condition reasons. Users alert on these: never rename one.
export const Reason = {
  // Ready / Reconciling / Stalled summary
  Ready: 'Ready',
  Reconciled: 'Reconciled',
  NotStalled: 'NotStalled',
  // Need a human (Stalled=True)
  SecretNotFound: 'SecretNotFound',
  SecretInvalid: 'SecretInvalid',
  IssuerNotFound: 'IssuerNotFound',
  CertManagerNotInstalled: 'CertManagerNotInstalled',
  InvalidSpec: 'InvalidSpec',
  ApplyForbidden: 'ApplyForbidden',
  ChildNotOwned: 'ChildNotOwned',
  CertificateExpired: 'CertificateExpired',
  CertificateNotYetValid: 'CertificateNotYetValid',
  // Work in progress (Reconciling=True)
  CertificateIssuing: 'CertificateIssuing',
  DeploymentRollingOut: 'DeploymentRollingOut',
  ReplicasUnavailable: 'ReplicasUnavailable',
  AwaitingTLSProbe: 'AwaitingTLSProbe',
  // CertificateReady
  CertificateValid: 'CertificateValid',
  CertificateExpiringSoon: 'CertificateExpiringSoon',
  CertificateNotReady: 'CertificateNotReady',
  // Available
  MinimumReplicasAvailable: 'MinimumReplicasAvailable',
  NoReplicasAvailable: 'NoReplicasAvailable',
  ScaledToZero: 'ScaledToZero',
  DeploymentNotObserved: 'DeploymentNotObserved',
  // TLSHealthy
  NotProbed: 'NotProbed',
  AllEndpointsHealthy: 'AllEndpointsHealthy',
  EndpointsHealthyWithWarnings: 'EndpointsHealthyWithWarnings',
  EndpointUnhealthy: 'EndpointUnhealthy',
  TLSUnhealthy: 'TLSUnhealthy',
} as const;

export type ReasonValue = (typeof Reason)[keyof typeof Reason];
