// Stable CamelCase condition reasons. Users alert on these: never rename one.
import { MailAuthReasons } from './mail-auth/condition.js';

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
  // The operator's allow-lists refuse what the spec asks for (src/controller/tenancy.ts)
  ImageNotAllowed: 'ImageNotAllowed',
  IssuerNotAllowed: 'IssuerNotAllowed',
  UpstreamHostNotAllowed: 'UpstreamHostNotAllowed',
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
  /** TLSHealthy=Unknown: the operator could not probe the endpoints on time; the last results are kept (docs/reliability.md). Also an Event. */
  ProbeDelayed: 'ProbeDelayed',
  /** TLSHealthy and Ready: an endpoint accepted an outside recipient from an outside sender without AUTH (probe code open-relay). */
  OpenRelay: 'OpenRelay',
  // Delivering (the relays' GET /queue, src/controller/queue/)
  UpstreamAccepting: 'UpstreamAccepting',
  /** The last delivery attempt could not reach the upstream (connection, TLS, timeout). */
  UpstreamUnavailable: 'UpstreamUnavailable',
  /** The upstream answered the last attempt with a 4xx or 5xx reply. */
  UpstreamRejecting: 'UpstreamRejecting',
  /** Mail waits longer than the backlog threshold although no attempt failed (a slow upstream). */
  QueueBacklog: 'QueueBacklog',
  /** A drain timed out and left mail on a PersistentVolumeClaim (status.queue.strandedClaims). */
  QueueStranded: 'QueueStranded',
  QueueNotObserved: 'QueueNotObserved',
  // UpstreamsHealthy (each upstream's circuit breaker in the relays' GET /queue; UpstreamUnavailable and UpstreamRejecting as above)
  UpstreamsAvailable: 'UpstreamsAvailable',
  /** The upstream refused the login, or the OAuth2 token endpoint refused the token request (the message names its error code). */
  UpstreamAuthFailed: 'UpstreamAuthFailed',
  UpstreamsNotObserved: 'UpstreamsNotObserved',
  // Reconciling while replicas deliver their queues before removal; Events of a drain
  QueueDraining: 'QueueDraining',
  DrainStarted: 'DrainStarted',
  DrainCompleted: 'DrainCompleted',
  DrainTimedOut: 'DrainTimedOut',
  // MailAuthentication (advice, never Ready; DNS of the sender domains, src/controller/mail-auth/)
  ...MailAuthReasons,
} as const;

export type ReasonValue = (typeof Reason)[keyof typeof Reason];
