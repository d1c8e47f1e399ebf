// The relay's configuration (RelayConfig JSON) in a ConfigMap, key relay.json.
import type { V1ConfigMap } from '@kubernetes/client-node';
import { DEFAULTS, type SmtpRelay } from '../../api/types.js';
import { MOUNTS, RELAY_CONFIG_KEY, type RelayConfig, type RelayListenerConfig } from '../../common/relay-config.js';
import { childMeta, names, type Built } from './labels.js';
import { containerPort, enabledListeners, METRICS_PORT, type BuildContext } from './spec.js';

export type ConfigMapObject = Built<V1ConfigMap>;

// Limits the spec does not expose yet; conservative values for a submission relay.
const LIMITS: RelayConfig['limits'] = {
  maxConnections: 200,
  socketTimeoutMs: 5 * 60_000,
  closeTimeoutMs: 30_000,
  authFailuresPerMinute: 10,
};

export function renderRelayConfig(relay: SmtpRelay): RelayConfig {
  const { spec } = relay;
  const listeners: RelayListenerConfig[] = enabledListeners(relay).map((l) => {
    const out: RelayListenerConfig = { name: l.name, port: containerPort(l.port), mode: l.mode };
    if (l.name === 'relay' && spec.listeners?.relay) {
      out.allowedNetworks = [...spec.listeners.relay.allowedNetworks];
      out.allowedSenderDomains = [...spec.listeners.relay.allowedSenderDomains];
    }
    return out;
  });
  const config: RelayConfig = {
    hostname: spec.hostname,
    listeners,
    tls: { dir: MOUNTS.tls, minVersion: spec.tls.minVersion ?? DEFAULTS.minVersion, profile: spec.tls.profile ?? DEFAULTS.profile },
    upstream: {
      host: spec.upstream.host,
      port: spec.upstream.port ?? DEFAULTS.upstreamPort,
      tls: spec.upstream.tls ?? DEFAULTS.upstreamTls,
    },
    policy: {
      allowedSenderDomains: [...(spec.policy?.allowedSenderDomains ?? [])],
      maxMessageBytes: spec.policy?.maxMessageBytes ?? DEFAULTS.maxMessageBytes,
      maxRecipients: spec.policy?.maxRecipients ?? DEFAULTS.maxRecipients,
    },
    limits: { ...LIMITS },
    metricsPort: METRICS_PORT,
  };
  if (spec.auth?.secretRef?.name) config.usersDir = MOUNTS.users;
  if (spec.upstream.credentialsSecretRef?.name) config.upstream.credentialsDir = MOUNTS.upstreamCredentials;
  if (spec.upstream.caSecretRef?.name) config.upstream.caDir = MOUNTS.upstreamCa;
  if (spec.policy?.rateLimit) {
    const { messagesPerMinute, burst } = spec.policy.rateLimit;
    config.policy.rateLimit = { messagesPerMinute, burst: burst ?? messagesPerMinute };
  }
  if (spec.dkim) config.dkim = { selector: spec.dkim.selector, domain: spec.dkim.domain, keyDir: MOUNTS.dkim };
  return config;
}

/** Rendered deterministically (fixed key order from renderRelayConfig), so its checksum is stable. */
export function renderRelayConfigJson(relay: SmtpRelay): string {
  return `${JSON.stringify(renderRelayConfig(relay), null, 2)}\n`;
}

export function buildConfigMap(relay: SmtpRelay, _ctx?: BuildContext): ConfigMapObject {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: childMeta(relay, names.configMap(relay)),
    data: { [RELAY_CONFIG_KEY]: renderRelayConfigJson(relay) },
  };
}
