// The relay's configuration (RelayConfig JSON) in a ConfigMap, key relay.json.
import { renderDkim } from './dkim.js';
import type { V1ConfigMap } from '@kubernetes/client-node';
import { DEFAULTS, type SmtpRelay } from '../../api/types.js';
import { MOUNTS, RELAY_CONFIG_KEY, type RelayConfig, type RelayListenerConfig } from '../../common/relay-config.js';
import { childMeta, names, type Built } from './labels.js';
import { inClusterNames } from './certificate.js';
import { effectiveUpstreams, renderRoutes, renderUpstream } from './upstreams.js';
import { containerPort, enabledListeners, isDurable, METRICS_PORT, parseDuration, type BuildContext } from './spec.js';

export type ConfigMapObject = Built<V1ConfigMap>;

// Limits the spec does not expose; conservative values for a submission relay.
const FIXED_LIMITS = {
  maxConnections: 200,
  socketTimeoutMs: 5 * 60_000,
  closeTimeoutMs: 30_000,
} as const;

/** spec.limits with defaults, every value explicit so relay.json says what the pods enforce. */
function renderLimits(relay: SmtpRelay): RelayConfig['limits'] {
  const l = relay.spec.limits ?? {};
  return {
    ...FIXED_LIMITS,
    authFailuresPerMinute: l.authFailuresPerMinute ?? DEFAULTS.authFailuresPerMinute,
    // The CRD admits only Go durations of 10s to 24h; the default covers objects stored before the field existed.
    authFailureWindowMs: parseDuration(l.authFailureWindow) ?? (parseDuration(DEFAULTS.authFailureWindow) as number),
    maxConnectionsPerClient: l.maxConnectionsPerClient ?? DEFAULTS.maxConnectionsPerClient,
    connectionRatePerMinute: l.connectionRatePerMinute ?? DEFAULTS.connectionRatePerMinute,
  };
}

/** spec.upstream as relay.json `upstream` (the relay names it `default`), or spec.upstreams with their routes. */
function renderUpstreams(relay: SmtpRelay): Pick<RelayConfig, 'upstream' | 'upstreams' | 'routes'> {
  const ups = effectiveUpstreams(relay);
  if (ups.length === 1 && ups[0]!.shorthand) return { upstream: renderUpstream(ups[0]!) };
  return { upstreams: ups.map((u) => ({ name: u.name, ...renderUpstream(u) })), routes: renderRoutes(relay, ups) };
}

export function renderRelayConfig(relay: SmtpRelay): RelayConfig {
  const { spec } = relay;
  const listeners: RelayListenerConfig[] = enabledListeners(relay).map((l) => {
    const out: RelayListenerConfig = { name: l.name, port: containerPort(l.port), mode: l.mode };
    if (l.name === 'relay' && spec.listeners?.relay) {
      out.allowedNetworks = [...spec.listeners.relay.allowedNetworks];
      out.allowedSenderDomains = [...spec.listeners.relay.allowedSenderDomains];
    }
    const trustedProxies = l.name === 'relay' ? undefined : spec.listeners?.[l.name]?.proxyProtocol?.trustedProxies;
    if (trustedProxies && trustedProxies.length > 0) out.proxyProtocol = { trustedProxies: [...trustedProxies] };
    return out;
  });
  const config: RelayConfig = {
    hostname: spec.hostname,
    listeners,
    tls: { dir: MOUNTS.tls, minVersion: spec.tls.minVersion ?? DEFAULTS.minVersion, profile: spec.tls.profile ?? DEFAULTS.profile },
    ...renderUpstreams(relay),
    policy: {
      allowedSenderDomains: [...(spec.policy?.allowedSenderDomains ?? [])],
      maxMessageBytes: spec.policy?.maxMessageBytes ?? DEFAULTS.maxMessageBytes,
      maxRecipients: spec.policy?.maxRecipients ?? DEFAULTS.maxRecipients,
    },
    limits: renderLimits(relay),
    spoolDir: MOUNTS.spool,
    metricsPort: METRICS_PORT,
  };
  if (spec.auth?.secretRef?.name) config.usersDir = MOUNTS.users;
  // The in-cluster names get their own certificate by SNI (the Secret is mounted at MOUNTS.internalTls).
  if (spec.tls.internalCertificate) config.tls.internal = { dir: MOUNTS.internalTls, serverNames: inClusterNames(relay) };
  if (managesUsers(relay)) config.managedUsersDir = MOUNTS.managedUsers;
  if (spec.policy?.rateLimit) {
    const { messagesPerMinute, burst } = spec.policy.rateLimit;
    config.policy.rateLimit = { messagesPerMinute, burst: burst ?? messagesPerMinute };
  }
  const senders = spec.auth?.senders ?? [];
  if (senders.length > 0) config.policy.senderLogins = Object.fromEntries(senders.map((b) => [b.user, [...b.allowed]]));
  const dkim = renderDkim(relay);
  if (dkim) config.dkim = dkim;
  if (isDurable(relay)) config.queue = renderQueue(relay);
  return config;
}

/** SmtpUsers may attach (spec.users.namespaceSelector set): the pods mount the managed users Secret. */
export function managesUsers(relay: SmtpRelay): boolean {
  return relay.spec.users?.namespaceSelector !== undefined;
}

const ms = (value: string | undefined, dflt: string): number => parseDuration(value) ?? (parseDuration(dflt) as number);

/** Durable mode: the claim at MOUNTS.queue and the retry timing (the CRD admits only valid Go durations). */
function renderQueue(relay: SmtpRelay): NonNullable<RelayConfig['queue']> {
  const q = relay.spec.queue ?? {};
  return {
    dir: MOUNTS.queue,
    maxAgeMs: ms(q.maxAge, DEFAULTS.queueMaxAge),
    minBackoffMs: ms(q.retry?.minBackoff, DEFAULTS.queueMinBackoff),
    maxBackoffMs: ms(q.retry?.maxBackoff, DEFAULTS.queueMaxBackoff),
  };
}

/** The ConfigMap the relay's pods mount: one per mode, so a mode switch never rewrites the config of pods still draining. */
export function configMapName(relay: SmtpRelay): string {
  return isDurable(relay) ? names.queueConfigMap(relay) : names.configMap(relay);
}

/** Rendered deterministically (fixed key order from renderRelayConfig), so its checksum is stable. */
export function renderRelayConfigJson(relay: SmtpRelay): string {
  return `${JSON.stringify(renderRelayConfig(relay), null, 2)}\n`;
}

export function buildConfigMap(relay: SmtpRelay, _ctx?: BuildContext): ConfigMapObject {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: childMeta(relay, configMapName(relay)),
    data: { [RELAY_CONFIG_KEY]: renderRelayConfigJson(relay) },
  };
}
