// Command-line flags of `smtp-relay-operator operator`. Pure: parse or explain.
import { parseDuration } from './builders/spec.js';
import { parseDnsServers } from './mail-auth/lookup.js';

export interface OperatorOptions {
  kubeconfig?: string;
  /** Watch these namespaces only (--namespace a,b); undefined = all namespaces. */
  namespaces?: string[];
  metricsPort: number;
  healthPort: number;
  leaderElect: boolean;
  leaderElectionNamespace: string;
  leaderElectionId: string;
  concurrency: number;
  defaultRelayImage: string;
  tlsProbe: boolean;
  /** Endpoints probed at once over all relays. */
  probeConcurrency: number;
  /** Development only: probe the addresses in the Service annotation local.smtprelay.dev/endpoints. */
  probeLocalEndpoints: boolean;
  /** Tests only: replaces every relay's spec.healthCheck.interval. */
  probeIntervalOverrideMs?: number;
  /** Fast probes resume TLS sessions; certificate verdicts come from a full handshake at most this old. 0: no resumption. */
  probeFullHandshakeEveryMs: number;
  resyncMs: number;
  /** Longest a pod may take to deliver its queue before a scale-down or mode switch goes ahead anyway (reported). */
  drainTimeoutMs: number;
  /** Host the metrics/health servers bind. */
  bindAddress: string;
  /** Namespace (by its kubernetes.io/metadata.name label) each relay's NetworkPolicy lets scrape the metrics port. */
  monitoringNamespace: string;
  /** The operator's own namespace: its pods may read the relays' metrics port (GET /queue, /dkim; POST /drain). */
  operatorNamespace: string;
  /** spec.image must match one (exact, or a prefix ending in *); the default relay image is always allowed. */
  allowedRelayImages: string[];
  /** ClusterIssuers a relay may name; ['*'] = any. */
  allowedClusterIssuers: string[];
  /** Every upstream host (spec.upstream, spec.upstreams[]) and every OAuth2 tokenEndpoint a spec sets must match one (host, *.suffix); ['*'] = any. */
  allowedUpstreamHosts: string[];
  /** Look up SPF, DKIM and DMARC of every relay's sender domains daily (MailAuthentication). */
  mailAuthCheck: boolean;
  /** DNS servers for those lookups ("ip", "ip:port", "[ipv6]:port"); empty: the system's resolvers. */
  dnsServers: string[];
}

/** The relay image when neither --default-relay-image nor $RELAY_IMAGE is set (fully qualified: no registry guessing). */
export const DEFAULT_RELAY_IMAGE = 'ghcr.io/smtp-relay-operator/smtp-relay-operator:0.1.0';

export const OPERATOR_USAGE = `smtp-relay-operator operator [options]

Runs the SmtpRelay controller: reconciles SmtpRelay objects into a StatefulSet (Durable) or Deployment,
Services, ConfigMap, NetworkPolicy, cert-manager Certificate and PodDisruptionBudget, and
reports their state (and the TLS each relay serves) in the SmtpRelay status.

Options:
  --kubeconfig PATH                 kubeconfig file (default: in-cluster, then $KUBECONFIG, then ~/.kube/config)
  --namespace NS[,NS...]            watch only these namespaces (default: all namespaces); with
                                    deploy/overlays/namespaced, a Role per namespace is enough
  --metrics-port N                  port for /metrics (default 8080; 0 = any free port)
  --health-port N                   port for /healthz and /readyz (default 8081; may equal --metrics-port)
  --bind-address ADDR               address the HTTP servers bind (default 0.0.0.0)
  --monitoring-namespace NS         namespace allowed to scrape relay metrics through each relay's NetworkPolicy (default monitoring)
  --operator-namespace NS           the operator's own namespace, whose operator pods each relay's NetworkPolicy lets read the
                                    relay's queue and drain it on the metrics port (default $POD_NAMESPACE or smtp-relay-system)
  --leader-elect=true|false         take a Lease before reconciling (default true)
  --leader-election-namespace NS    namespace of the Lease (default $POD_NAMESPACE or smtp-relay-system)
  --leader-election-id NAME         name of the Lease (default smtp-relay-operator)
  --concurrency N                   relays reconciled in parallel (default 4)
  --default-relay-image IMAGE       relay image when spec.image is empty (default $RELAY_IMAGE or ${DEFAULT_RELAY_IMAGE})
  --allowed-relay-images LIST       comma-separated images a relay may set in spec.image: exact references, or
                                    prefixes ending in * (registry.example.com/smtp-relay-operator:*), * = any.
                                    The default relay image is always allowed. Default: none (spec.image refused)
  --allowed-cluster-issuers LIST    comma-separated ClusterIssuer names a relay may use, * = any (default *);
                                    empty = none (relays must use an Issuer in their own namespace)
  --allowed-upstream-hosts LIST     comma-separated hosts a relay may send mail and credentials to (every upstream, and an OAuth2 tokenEndpoint a spec sets):
                                    exact names or *.example.com (hosts below it), * = any (default *)
  --tls-probe=on|off                probe the TLS each relay serves; off: TLSHealthy stays Unknown and does not gate Ready (default on)
  --probe-concurrency N             endpoints probed at once, over all relays (default 10)
  --probe-local-endpoints           DEVELOPMENT ONLY: probe the addresses in the Service annotation
                                    local.smtprelay.dev/endpoints (written by the local runtime) instead of Service DNS,
                                    and read queues at local.smtprelay.dev/pods on the workload instead of pod IPs
  --probe-interval-override DURATION
                                    TESTS ONLY: probe every relay this often, ignoring spec.healthCheck.interval (min 1s)
  --probe-full-handshake-every DURATION
                                    fast probes resume TLS sessions (less CPU per probe); the certificate checks (trust,
                                    hostname, fingerprint) then come from a full handshake at most this old, and a new
                                    certificate in the Secret gets one at once; 0s turns resumption off (default 10m)
  --mail-auth-check=on|off          look up SPF, DKIM and DMARC of each relay's sender domains once a day and report them
                                    in status.senderDomains and the MailAuthentication condition (advice, never Ready) (default on)
  --dns-servers LIST                comma-separated DNS servers for those lookups: 10.96.0.10, 127.0.0.1:5353, [::1]:53
                                    (default: the system's resolvers)
  --resync DURATION                 reconcile every relay at least this often (default 10m)
  --drain-timeout DURATION          before removing a Durable replica (scale-down, switch to PassThrough) the operator
                                    lets it deliver its queue for at most this long; then it goes ahead, keeps the claim
                                    and reports the mail left on it (default 10m)
  --help                            show this help
`;

export class FlagError extends Error {}

/** A comma-separated list: items trimmed, empty items dropped, so "" is the empty list. */
export function parseList(value: string): string[] {
  return value.split(',').map((v) => v.trim()).filter(Boolean);
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** "" or "*": all namespaces (undefined); otherwise DNS labels, deduplicated. */
export function parseNamespaces(value: string): string[] | undefined {
  const list = parseList(value);
  if (list.length === 0 || (list.length === 1 && list[0] === '*')) return undefined;
  for (const ns of list) if (!DNS_LABEL.test(ns)) throw new FlagError(`--namespace: "${ns}" is not a namespace name (a DNS label); use a comma-separated list like team-a,team-b`);
  return [...new Set(list)];
}

/** Exact image references, or prefixes ending in a single trailing *. */
export function parseImagePatterns(value: string): string[] {
  const list = parseList(value);
  for (const p of list) {
    if (/\s/.test(p) || p.slice(0, -1).includes('*')) {
      throw new FlagError(`--allowed-relay-images: "${p}" must be an image reference or a prefix ending in * (registry.example.com/smtp-relay-operator:*)`);
    }
  }
  return list;
}

/** Host names, *.suffix, or * alone. */
export function parseHostPatterns(value: string): string[] {
  const list = parseList(value);
  for (const p of list) {
    const host = p.startsWith('*.') ? p.slice(2) : p;
    if (p !== '*' && !/^[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?\.?$/.test(host)) {
      throw new FlagError(`--allowed-upstream-hosts: "${p}" must be a host name, *.example.com or *`);
    }
  }
  return list;
}

const BOOLEAN: Record<string, boolean> = { true: true, false: false, on: true, off: false, yes: true, no: false, '1': true, '0': false };

function parsePort(flag: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new FlagError(`${flag} must be a port number 0-65535, got "${value}"`);
  return n;
}

export function parseOperatorFlags(args: string[], env: NodeJS.ProcessEnv = process.env): OperatorOptions | 'help' {
  const opts: OperatorOptions = {
    metricsPort: 8080,
    healthPort: 8081,
    leaderElect: true,
    leaderElectionNamespace: env.POD_NAMESPACE || 'smtp-relay-system',
    leaderElectionId: 'smtp-relay-operator',
    concurrency: 4,
    defaultRelayImage: env.RELAY_IMAGE || DEFAULT_RELAY_IMAGE,
    tlsProbe: true,
    probeConcurrency: 10,
    probeLocalEndpoints: false,
    probeFullHandshakeEveryMs: 10 * 60_000,
    resyncMs: 10 * 60_000,
    drainTimeoutMs: 10 * 60_000,
    bindAddress: '0.0.0.0',
    monitoringNamespace: 'monitoring',
    operatorNamespace: env.POD_NAMESPACE || 'smtp-relay-system',
    allowedRelayImages: [],
    allowedClusterIssuers: ['*'],
    allowedUpstreamHosts: ['*'],
    mailAuthCheck: true,
    dnsServers: [],
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--help' || arg === '-h') return 'help';
    if (!arg.startsWith('--')) throw new FlagError(`unexpected argument "${arg}"`);
    const eq = arg.indexOf('=');
    const flag = eq >= 0 ? arg.slice(0, eq) : arg;
    const inline = eq >= 0 ? arg.slice(eq + 1) : undefined;
    const value = (): string => {
      if (inline !== undefined) return inline;
      const next = args[i + 1];
      if (next === undefined || next.startsWith('--')) throw new FlagError(`${flag} needs a value`);
      i++;
      return next;
    };
    const bool = (): boolean => {
      if (inline === undefined) {
        // `--leader-elect` alone means true; `--leader-elect false` is also accepted.
        const next = args[i + 1];
        if (next !== undefined && next in BOOLEAN) {
          i++;
          return BOOLEAN[next]!;
        }
        return true;
      }
      const b = BOOLEAN[inline.toLowerCase()];
      if (b === undefined) throw new FlagError(`${flag} must be true/false or on/off, got "${inline}"`);
      return b;
    };
    switch (flag) {
      case '--kubeconfig': opts.kubeconfig = value(); break;
      case '--namespace': opts.namespaces = parseNamespaces(value()); break;
      case '--allowed-relay-images': opts.allowedRelayImages = parseImagePatterns(value()); break;
      case '--allowed-cluster-issuers': opts.allowedClusterIssuers = parseList(value()); break;
      case '--allowed-upstream-hosts': opts.allowedUpstreamHosts = parseHostPatterns(value()); break;
      case '--metrics-port': opts.metricsPort = parsePort(flag, value()); break;
      case '--health-port': opts.healthPort = parsePort(flag, value()); break;
      case '--bind-address': opts.bindAddress = value(); break;
      case '--monitoring-namespace': {
        const v = value();
        if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(v)) throw new FlagError(`--monitoring-namespace must be a namespace name (DNS-1123 label), got "${v}"`);
        opts.monitoringNamespace = v;
        break;
      }
      case '--operator-namespace': {
        const v = value();
        if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(v)) throw new FlagError(`--operator-namespace must be a namespace name (DNS-1123 label), got "${v}"`);
        opts.operatorNamespace = v;
        break;
      }
      case '--leader-elect': opts.leaderElect = bool(); break;
      case '--leader-election-namespace': opts.leaderElectionNamespace = value(); break;
      case '--leader-election-id': opts.leaderElectionId = value(); break;
      case '--concurrency': {
        const v = value();
        const n = Number(v);
        if (!Number.isInteger(n) || n < 1 || n > 64) throw new FlagError(`--concurrency must be an integer 1-64, got "${v}"`);
        opts.concurrency = n;
        break;
      }
      case '--default-relay-image': {
        const v = value();
        if (!v.trim()) throw new FlagError('--default-relay-image must not be empty');
        opts.defaultRelayImage = v;
        break;
      }
      case '--tls-probe': opts.tlsProbe = bool(); break;
      case '--mail-auth-check': opts.mailAuthCheck = bool(); break;
      case '--dns-servers':
        try {
          opts.dnsServers = parseDnsServers(value());
        } catch (err) {
          throw new FlagError((err as Error).message);
        }
        break;
      case '--probe-local-endpoints': opts.probeLocalEndpoints = bool(); break;
      case '--probe-concurrency': {
        const v = value();
        const n = Number(v);
        if (!Number.isInteger(n) || n < 1 || n > 256) throw new FlagError(`--probe-concurrency must be an integer 1-256, got "${v}"`);
        opts.probeConcurrency = n;
        break;
      }
      case '--probe-interval-override': {
        const v = value();
        const ms = parseDuration(v);
        if (ms === undefined || ms < 1000) throw new FlagError(`--probe-interval-override must be a duration of at least 1s like 5s, got "${v}"`);
        opts.probeIntervalOverrideMs = ms;
        break;
      }
      case '--probe-full-handshake-every': {
        const v = value();
        const ms = parseDuration(v);
        if (ms === undefined || (ms !== 0 && ms < 1000)) throw new FlagError(`--probe-full-handshake-every must be 0s (no TLS session resumption) or a duration of at least 1s like 10m, got "${v}"`);
        opts.probeFullHandshakeEveryMs = ms;
        break;
      }
      case '--resync': {
        const v = value();
        const ms = parseDuration(v);
        if (ms === undefined || ms < 1000) throw new FlagError(`--resync must be a duration of at least 1s like 10m, got "${v}"`);
        opts.resyncMs = ms;
        break;
      }
      case '--drain-timeout': {
        const v = value();
        const ms = parseDuration(v);
        if (ms === undefined || ms < 1000) throw new FlagError(`--drain-timeout must be a duration of at least 1s like 10m, got "${v}"`);
        opts.drainTimeoutMs = ms;
        break;
      }
      default:
        throw new FlagError(`unknown option ${flag}`);
    }
  }
  return opts;
}
