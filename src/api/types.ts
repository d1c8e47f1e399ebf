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

/** metav1.LabelSelector */
export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; values?: string[] }[];
}

export interface IssuerRef {
  name: string;
  /** Issuer or ClusterIssuer. Default Issuer. */
  kind?: 'Issuer' | 'ClusterIssuer';
  /** Default cert-manager.io. */
  group?: string;
}

export interface ProxyProtocolSpec {
  /** CIDRs of the load balancers allowed to send a PROXY protocol v2 header. */
  trustedProxies: string[];
}

export interface ListenerSpec {
  enabled?: boolean;
  port?: number;
  /** PROXY protocol v2 opt-in (public listeners only). */
  proxyProtocol?: ProxyProtocolSpec;
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

/** spec.tls.internalCertificate: a second certificate for the in-cluster Service names, chosen by SNI. */
export interface InternalCertificateSpec {
  /** An in-cluster issuer (e.g. a CA ClusterIssuer): ACME issuers refuse .svc names. */
  issuerRef: IssuerRef;
}

export interface TlsSpec {
  issuerRef?: IssuerRef;
  secretName?: string;
  additionalDNSNames?: string[];
  /** Go duration, e.g. 2160h. Only with issuerRef. */
  duration?: string;
  renewBefore?: string;
  minVersion?: TlsMinVersion;
  profile?: TlsProfile;
  internalCertificate?: InternalCertificateSpec;
}

export interface SenderBinding {
  /** A user name (a key of the auth Secret). */
  user: string;
  /** Full addresses (billing@example.com) or whole domains (@invoices.example.com). */
  allowed: string[];
}

export interface AuthSpec {
  /** Secret whose keys are usernames and values are passwords or bcrypt hashes. */
  secretRef: ObjectRef;
  /** Per-user sender binding; a user not listed may use policy.allowedSenderDomains. */
  senders?: SenderBinding[];
}

/** A Secret with a username and a password (default keys `username`, `password`). */
export interface PasswordSecretRef {
  name: string;
  usernameKey?: string;
  passwordKey?: string;
}

/** A Secret with an extra CA (default key `ca.crt`). */
export interface CaSecretRef {
  name: string;
  caKey?: string;
}

/** The connection to one upstream: the same in spec.upstream and spec.upstreams[]. */
export interface UpstreamConnection {
  host: string;
  port?: number;
  tls?: UpstreamTlsMode;
  /** Extra CA trusted for the upstream, on top of system roots. */
  caSecretRef?: CaSecretRef;
  /** Certificate name (and SNI) when it differs from host. */
  serverName?: string;
  /** Loud opt-in needed for tls: none-insecure. */
  allowInsecurePlaintext?: boolean;
}

/** spec.upstream: shorthand for spec.upstreams [{name: default, ...}] with one catch-all route. */
export interface UpstreamSpec extends UpstreamConnection {
  /** Username and password for AUTH at the upstream. */
  passwordSecretRef?: PasswordSecretRef;
}

export type OAuth2ProviderName = 'Microsoft365' | 'GoogleWorkspace' | 'Generic';

export interface OAuth2Spec {
  provider: OAuth2ProviderName;
  /** The mailbox the relay logs in as. */
  user: string;
  /** Microsoft365: tenant id or domain. */
  tenant?: string;
  clientID?: string;
  tokenEndpoint?: string;
  scope?: string;
  /** Default key `client-secret`. */
  clientSecretRef?: { name: string; clientSecretKey?: string };
  /** private_key_jwt; default keys `tls.crt`, `tls.key`. */
  certificateSecretRef?: { name: string; certificateKey?: string; privateKeyKey?: string };
  /** GoogleWorkspace: the JSON key file (default key `service-account.json`); clientSecretKey only with clientID. */
  serviceAccountSecretRef?: { name: string; serviceAccountKey?: string; clientSecretKey?: string };
}

export interface NamedUpstreamSpec extends UpstreamConnection {
  name: string;
  passwordSecretRef?: PasswordSecretRef;
  oauth2?: OAuth2Spec;
}

export interface RouteSpec {
  senderDomains?: string[];
  users?: string[];
  /** Upstream names, tried in order. */
  upstreams: string[];
  /** Opt-in: envelope sender and header From: become this mailbox; From: moves to Reply-To. */
  rewriteFrom?: string;
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

/** A DKIM private key (PEM) in a Secret, at key privateKeyKey (default `private.key`). */
export interface DkimKeySecretRef {
  name: string;
  privateKeyKey?: string;
}

export interface DkimKeySpec {
  domain: string;
  selector: string;
  keySecretRef: DkimKeySecretRef;
}

/** Either `keys` or the single key (selector, domain, keySecretRef); the CRD admits one shape. */
export interface DkimSpec {
  selector?: string;
  domain?: string;
  keySecretRef?: DkimKeySecretRef;
  keys?: DkimKeySpec[];
}

export interface LimitsSpec {
  maxConnectionsPerClient?: number;
  connectionRatePerMinute?: number;
  authFailuresPerMinute?: number;
  /** Go duration, default 1m. */
  authFailureWindow?: string;
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

export type QueueMode = 'Durable' | 'PassThrough';

export interface QueueSpec {
  /** Durable (default): a StatefulSet whose pods queue on their own PersistentVolumeClaim. PassThrough: a Deployment, the client's answer is the upstream's. */
  mode?: QueueMode;
  storage?: { size?: string; storageClassName?: string };
  /** Go duration: how long a message is retried before it bounces. Default 120h (5 days). */
  maxAge?: string;
  retry?: { minBackoff?: string; maxBackoff?: string };
}

export interface SmtpRelaySpec {
  hostname: string;
  replicas?: number;
  image?: string;
  listeners?: ListenersSpec;
  tls: TlsSpec;
  auth?: AuthSpec;
  /** SmtpUsers from other namespaces: unset selector, none may attach. */
  users?: { namespaceSelector?: LabelSelector };
  /** Exactly one of upstream and upstreams. */
  upstream?: UpstreamSpec;
  upstreams?: NamedUpstreamSpec[];
  /** Only with upstreams; unset: one catch-all route through every upstream in order. */
  routes?: RouteSpec[];
  policy?: PolicySpec;
  dkim?: DkimSpec;
  limits?: LimitsSpec;
  service?: ServiceSpec;
  healthCheck?: HealthCheckSpec;
  pod?: PodSpecOverrides;
  queue?: QueueSpec;
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
  /** The SNI name probed and checked: spec.hostname, or the in-cluster Service name (<listener>-in-cluster entries). */
  serverName?: string;
  latencyMilliseconds?: number;
  lastProbeTime?: string;
  lastDeepScanTime?: string;
}

/** Printer column Queue: a bucket, never a live depth. */
export type QueueState = 'Empty' | 'Backlog' | 'Stuck' | 'Draining' | 'Stranded' | 'PassThrough' | 'Unknown';

export interface StrandedClaim {
  /** The PersistentVolumeClaim still holding mail. */
  claim: string;
  /** Messages it held when the drain gave up (frozen: not a live number); absent when its pod could not be read. */
  messages?: number;
  /** When the drain gave up and left the claim holding mail. */
  strandedTime: string;
}

export interface QueueStatus {
  state: QueueState;
  /** A drain in progress: pods asked to deliver everything before the workload shrinks or is replaced. */
  drain?: { reason: 'ScaleDown' | 'ModeSwitch'; pods: string[]; startTime: string };
  /** Claims a timed-out drain left holding mail. */
  strandedClaims?: StrandedClaim[];
}

export interface SmtpRelayStatus {
  observedGeneration?: number;
  conditions?: Condition[];
  replicas?: number;
  readyReplicas?: number;
  /** The relay pods' label selector as a string (the scale subresource's labelSelectorPath: HPA and KEDA find the pods by it). */
  selector?: string;
  certificate?: CertificateStatus;
  endpoints?: EndpointStatus[];
  /** Short summary for the TLS printer column: Healthy | Degraded | Unhealthy | Unknown. */
  tlsHealth?: string;
  queue?: QueueStatus;
  /** DNS health of mail authentication per sender domain (MailAuthentication), sorted by domain. */
  senderDomains?: SenderDomainStatus[];
}

/** What a sender domain publishes for SPF, DKIM and DMARC (controller/mail-auth). */
export interface SenderDomainStatus {
  domain: string;
  dkim: { state: string; selector?: string; lookupError?: string };
  dmarc: { state: string; policy?: string; subdomainPolicy?: string; percentage?: number; lookupError?: string };
  spf: { state: string; record?: string; lookupError?: string };
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
  Delivering: 'Delivering',
  UpstreamsHealthy: 'UpstreamsHealthy',
  /** Advice: SPF, DKIM and DMARC of the sender domains in DNS. Never part of Ready. */
  MailAuthentication: 'MailAuthentication',
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
  maxRecipients: 50,
  healthInterval: '1m',
  expiryWarning: '336h',
  serviceType: 'ClusterIP' as const,
  // spec.limits; equal to the relay's RELAY_LIMIT_DEFAULTS (a unit test checks).
  maxConnectionsPerClient: 20,
  connectionRatePerMinute: 120,
  authFailuresPerMinute: 10,
  authFailureWindow: '1m',
  // spec.queue: Postfix's maximal_queue_lifetime, minimal_backoff_time, maximal_backoff_time.
  queueMode: 'Durable' as QueueMode,
  queueStorageSize: '1Gi',
  queueMaxAge: '120h',
  queueMinBackoff: '300s',
  queueMaxBackoff: '4000s',
};
