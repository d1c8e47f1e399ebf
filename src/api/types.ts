// The SmtpRelay API (smtprelay.dev/v1alpha1) as TypeScript types.
// The OpenAPI schema in ./schema.ts is the single source for crds/; these
// types mirror it for the code. test/unit/api/* checks that they agree.

export const GROUP = 'smtprelay.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const KIND = 'SmtpRelay';
export const PLURAL = 'smtprelays';
export const SINGULAR = 'smtprelay';
export const SHORT_NAMES = ['smtpr'];

export type TlsMinVersion = 'TLSv1.2' | 'TLSv1.3';
export type TlsProfile = 'intermediate' | 'modern';
export type UpstreamTlsMode = 'starttls' | 'implicit' | 'none-insecure';

export interface ObjectRef {
  name: string;
}

export interface KeyedSecretRef {
  name: string;
  /** Key inside the Secret. */
  key?: string;
}

export interface IssuerRef {
  name: string;
  /** Issuer or ClusterIssuer. Default Issuer. */
  kind?: 'Issuer' | 'ClusterIssuer';
  /** Default cert-manager.io. */
  group?: string;
}

export interface ListenerSpec {
  enabled?: boolean;
  port?: number;
}

export interface RelayListenerSpec {
  enabled?: boolean;
  port?: number;
  /** CIDRs allowed to use the unauthenticated relay listener. Never 0.0.0.0/0 or ::/0. */
  allowedNetworks: string[];
  /** Sender domains the relay listener accepts. Required: never an open relay. */
  allowedSenderDomains: string[];
}

export interface ListenersSpec {
  submission?: ListenerSpec;
  submissions?: ListenerSpec;
  relay?: RelayListenerSpec;
}

export interface TlsSpec {
  issuerRef?: IssuerRef;
  secretName?: string;
  additionalDnsNames?: string[];
  /** Go duration, e.g. 2160h. Only with issuerRef. */
  duration?: string;
  renewBefore?: string;
  minVersion?: TlsMinVersion;
  profile?: TlsProfile;
}

export interface AuthSpec {
  /** Secret whose keys are usernames and values are passwords or bcrypt hashes. */
  secretRef: ObjectRef;
}

export interface UpstreamSpec {
  host: string;
  port?: number;
  tls?: UpstreamTlsMode;
  /** Secret with keys `username` and `password`. */
  credentialsSecretRef?: ObjectRef;
  /** Secret with key `ca.crt`: extra CA trusted for the upstream, on top of system roots. */
  caSecretRef?: ObjectRef;
  /** Loud opt-in needed for tls: none-insecure. */
  allowInsecurePlaintext?: boolean;
}

export interface RateLimitSpec {
  /** Messages per user per minute. */
  messagesPerMinute: number;
  burst?: number;
}

export interface PolicySpec {
  allowedSenderDomains?: string[];
  maxMessageBytes?: number;
  maxRecipients?: number;
  rateLimit?: RateLimitSpec;
}

export interface DkimSpec {
  selector: string;
  domain: string;
  /** Secret with key `private.key` (PEM). */
  keySecretRef: ObjectRef;
}

export interface ServiceSpec {
  type?: 'ClusterIP' | 'NodePort' | 'LoadBalancer';
  annotations?: Record<string, string>;
  externalTrafficPolicy?: 'Cluster' | 'Local';
  ipFamilyPolicy?: 'SingleStack' | 'PreferDualStack' | 'RequireDualStack';
}

export interface HealthCheckSpec {
  enabled?: boolean;
  /** Go duration, default 1m. */
  interval?: string;
  /** Go duration, default 336h (14 days). */
  expiryWarning?: string;
}

export interface PodSpecOverrides {
  resources?: Record<string, unknown>;
  nodeSelector?: Record<string, string>;
  tolerations?: Record<string, unknown>[];
  affinity?: Record<string, unknown>;
  topologySpreadConstraints?: Record<string, unknown>[];
  annotations?: Record<string, string>;
  priorityClassName?: string;
}

export interface SmtpRelaySpec {
  hostname: string;
  replicas?: number;
  image?: string;
  listeners?: ListenersSpec;
  tls: TlsSpec;
  auth?: AuthSpec;
  upstream: UpstreamSpec;
  policy?: PolicySpec;
  dkim?: DkimSpec;
  service?: ServiceSpec;
  healthCheck?: HealthCheckSpec;
  pod?: PodSpecOverrides;
}

export type ConditionStatus = 'True' | 'False' | 'Unknown';

/** metav1.Condition */
export interface Condition {
  type: string;
  status: ConditionStatus;
  observedGeneration?: number;
  lastTransitionTime: string;
  reason: string;
  message: string;
}

export interface CertificateStatus {
  secretName?: string;
  notBefore?: string;
  notAfter?: string;
  renewalTime?: string;
  /** SHA-256 of the leaf certificate DER, hex, colon-free lower case. */
  fingerprint?: string;
}

export interface EndpointCheckFailure {
  check: string;
  result: 'warn' | 'fail';
  reason: string;
  message?: string;
}

export interface EndpointStatus {
  name: string;
  port: number;
  mode: 'starttls' | 'implicit';
  healthy: boolean;
  tlsVersion?: string;
  cipher?: string;
  group?: string;
  notAfter?: string;
  fingerprint?: string;
  matchesSecret?: boolean;
  hostnameVerified?: boolean;
  chainVerified?: boolean;
  authBeforeTLS?: boolean;
  legacyProtocolsRefused?: boolean;
  failures?: EndpointCheckFailure[];
  latencyMs?: number;
  lastProbeTime?: string;
  lastDeepScanTime?: string;
}

export interface SmtpRelayStatus {
  observedGeneration?: number;
  conditions?: Condition[];
  replicas?: number;
  readyReplicas?: number;
  certificate?: CertificateStatus;
  endpoints?: EndpointStatus[];
  /** Short summary for the TLS printer column: Healthy | Degraded | Unhealthy | Unknown. */
  tlsHealth?: string;
}

export interface ObjectMeta {
  name: string;
  namespace: string;
  uid?: string;
  generation?: number;
  resourceVersion?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  creationTimestamp?: string;
  deletionTimestamp?: string;
}

export interface SmtpRelay {
  apiVersion: typeof API_VERSION;
  kind: typeof KIND;
  metadata: ObjectMeta;
  spec: SmtpRelaySpec;
  status?: SmtpRelayStatus;
}

// Condition types and the stable reasons users alert on.
export const ConditionType = {
  Ready: 'Ready',
  Reconciling: 'Reconciling',
  Stalled: 'Stalled',
  CertificateReady: 'CertificateReady',
  Available: 'Available',
  TLSHealthy: 'TLSHealthy',
} as const;

// Defaults applied by the schema and, for safety, by the code that reads a spec.
export const DEFAULTS = {
  replicas: 1,
  submissionPort: 587,
  submissionsPort: 465,
  relayPort: 2525,
  upstreamPort: 587,
  upstreamTls: 'starttls' as UpstreamTlsMode,
  minVersion: 'TLSv1.2' as TlsMinVersion,
  profile: 'intermediate' as TlsProfile,
  maxMessageBytes: 26214400,
  maxRecipients: 100,
  healthInterval: '1m',
  expiryWarning: '336h',
  serviceType: 'ClusterIP' as const,
};
