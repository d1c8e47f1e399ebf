// Reading an SmtpRelay spec with defaults applied, and the Secrets it references.
// The CRD schema applies the same defaults; applying them here too keeps the
// builders correct for objects written before a default existed.
import { effectiveDkimKeys } from './dkim.js';
import { DEFAULTS, type IssuerRef, type SmtpRelay } from '../../api/types.js';
import { names } from './labels.js';
import { effectiveUpstreams } from './upstreams.js';

export interface BuildContext {
  /** Image used when spec.image is empty (the operator's --default-relay-image). */
  defaultImage: string;
  /**
   * resourceVersion of each referenced Secret by name (from the metadata-only
   * Secret cache). Part of the pod-template checksum, so a changed Secret rolls the
   * pods, without the operator ever holding the Secret's bytes.
   */
  secretVersions: Record<string, string>;
  /** Namespace allowed to scrape the relays' metrics port (--monitoring-namespace). Default DEFAULT_MONITORING_NAMESPACE. */
  monitoringNamespace?: string;
  /** The operator's namespace (--operator-namespace): its pods read GET /queue and /dkim and POST /drain. Default DEFAULT_OPERATOR_NAMESPACE. */
  operatorNamespace?: string;
  /**
   * Durable: the StatefulSet's replicas while a scale-down drains (controller/queue/drain.ts).
   * Higher than spec.replicas until the pods above it have delivered their queues. Unset: spec.replicas.
   */
  statefulSetReplicas?: number;
}

export const DEFAULT_MONITORING_NAMESPACE = 'monitoring';
export const DEFAULT_OPERATOR_NAMESPACE = 'smtp-relay-system';
/** The labels of the operator's own pods (deploy/base/deployment.yaml, the Helm chart). */
export const OPERATOR_POD_LABELS = { 'app.kubernetes.io/name': 'smtp-relay-operator', 'app.kubernetes.io/component': 'operator' } as const;

export type SecretRole = 'tls' | 'internalTls' | 'users' | 'upstreamCredentials' | 'upstreamCa' | 'upstreamOAuth2' | 'dkim';

export interface SecretReference {
  role: SecretRole;
  name: string;
  /** Keys the Secret must hold for the relay to work. */
  requiredKeys: string[];
  /** false for the cert-manager-written TLS Secret, which appears only once issued. */
  userProvided: boolean;
  /** spec.upstreams: the upstream this Secret belongs to, its volume, mount path and key projection (builders/upstreams.ts). */
  upstream?: string;
  volumeName?: string;
  mountPath?: string;
  items?: { key: string; path: string }[];
}

const UPSTREAM_ROLES = { credentials: 'upstreamCredentials', ca: 'upstreamCa', oauth2: 'upstreamOAuth2' } as const;

/** The Secrets of spec.upstream / spec.upstreams, with where and how they are mounted. */
function upstreamSecrets(relay: SmtpRelay): SecretReference[] {
  return effectiveUpstreams(relay).flatMap((u) =>
    u.secrets.map((m) => ({
      role: UPSTREAM_ROLES[m.purpose],
      name: m.secret,
      requiredKeys: m.items ? m.items.map((i) => i.key) : m.purpose === 'credentials' ? ['username', 'password'] : ['ca.crt'],
      userProvided: true,
      ...(u.shorthand ? {} : { upstream: u.name }),
      volumeName: m.volumeName,
      mountPath: m.mountPath,
      ...(m.items ? { items: m.items } : {}),
    })),
  );
}

/** Every Secret the relay pods mount, in a stable order. */
export function referencedSecrets(relay: SmtpRelay): SecretReference[] {
  const { spec } = relay;
  const refs: SecretReference[] = [
    { role: 'tls', name: names.tlsSecret(relay), requiredKeys: ['tls.crt', 'tls.key'], userProvided: !spec.tls.issuerRef },
  ];
  // Written by cert-manager once issued, like the main one: the pods wait for it the same way.
  if (spec.tls.internalCertificate) refs.push({ role: 'internalTls', name: names.internalTlsSecret(relay), requiredKeys: ['tls.crt', 'tls.key'], userProvided: false });
  if (spec.auth?.secretRef?.name) refs.push({ role: 'users', name: spec.auth.secretRef.name, requiredKeys: [], userProvided: true });
  refs.push(...upstreamSecrets(relay));
  for (const k of effectiveDkimKeys(relay)) {
    refs.push({ role: 'dkim', name: k.secret, requiredKeys: [k.secretKey], userProvided: true, volumeName: k.volumeName, mountPath: k.mountPath, ...(k.items ? { items: k.items } : {}) });
  }
  return refs;
}

/** Every cert-manager issuer the relay's Certificates use, with the field that names it. */
export function issuerRefs(relay: SmtpRelay): { field: string; ref: IssuerRef }[] {
  const tls = relay.spec?.tls;
  const out: { field: string; ref: IssuerRef }[] = [];
  if (tls?.issuerRef) out.push({ field: 'spec.tls.issuerRef', ref: tls.issuerRef });
  if (tls?.internalCertificate?.issuerRef) out.push({ field: 'spec.tls.internalCertificate.issuerRef', ref: tls.internalCertificate.issuerRef });
  return out;
}

export function replicas(relay: SmtpRelay): number {
  return relay.spec.replicas ?? DEFAULTS.replicas;
}

/** spec.queue.mode with its default: Durable runs a StatefulSet with a queue claim per pod, PassThrough a Deployment. */
export function isDurable(relay: SmtpRelay): boolean {
  return (relay.spec.queue?.mode ?? DEFAULTS.queueMode) === 'Durable';
}

export interface ListenerDefaults {
  name: 'submission' | 'submissions' | 'relay';
  /** The port clients use (the Service port). */
  port: number;
  mode: 'starttls' | 'implicit';
}

/** Enabled listeners with defaults: submission and submissions on unless disabled; relay only when asked. */
export function enabledListeners(relay: SmtpRelay): ListenerDefaults[] {
  const l = relay.spec.listeners ?? {};
  const out: ListenerDefaults[] = [];
  if (l.submission?.enabled !== false) out.push({ name: 'submission', port: l.submission?.port ?? DEFAULTS.submissionPort, mode: 'starttls' });
  if (l.submissions?.enabled !== false) out.push({ name: 'submissions', port: l.submissions?.port ?? DEFAULTS.submissionsPort, mode: 'implicit' });
  if (l.relay && l.relay.enabled !== false) out.push({ name: 'relay', port: l.relay.port ?? DEFAULTS.relayPort, mode: 'starttls' });
  return out;
}

/** The authenticated listeners (submission, submissions): the only ones a public Service may carry. */
export function publicListeners(relay: SmtpRelay): ListenerDefaults[] {
  return enabledListeners(relay).filter((l) => l.name !== 'relay');
}

/** The unauthenticated relay listener, when enabled. */
export function relayListener(relay: SmtpRelay): ListenerDefaults | undefined {
  return enabledListeners(relay).find((l) => l.name === 'relay');
}

/**
 * The port the container binds for a client-facing port. The pod runs as non-root
 * with every capability dropped, so it cannot bind below 1024: privileged ports
 * are shifted by 8000 (587 -> 8587, 465 -> 8465) and the Service maps them back.
 */
export function containerPort(servicePort: number): number {
  return servicePort < 1024 ? servicePort + 8000 : servicePort;
}

export const METRICS_PORT = 9090;

const DURATION_UNIT_MS = { ns: 1e-6, us: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;

/** Parse a Go-style duration ("1m", "336h", "1h30m", "90s", "1500ms", "10us") to ms; undefined if malformed. */
export function parseDuration(value: string | undefined): number | undefined {
  if (!value) return undefined;
  const re = /(\d+(?:\.\d+)?)(ns|us|ms|h|m|s)/g;
  let total = 0;
  let consumed = 0;
  for (const m of value.matchAll(re)) {
    if (m.index !== consumed) return undefined;
    consumed += m[0].length;
    const n = Number(m[1]);
    total += n * DURATION_UNIT_MS[m[2] as keyof typeof DURATION_UNIT_MS];
  }
  return consumed === value.length && consumed > 0 ? total : undefined;
}
