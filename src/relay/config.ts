// Reads and checks the relay config JSON. validateRelayConfig is pure and names the
// offending field in every error, so a bad ConfigMap fails loudly at start.
import fs from 'node:fs/promises';
import { resolveLimits, type RelayConfig, type RelayListenerConfig, type RelayNamedUpstream, type RelayRoute, type RelayUpstream } from '../common/relay-config.js';
import type { RelayArgs } from './args.js';
import { ipv4EmbeddingOverlap, parseIp, type Network } from './networks.js';
import { validateOAuth2Auth } from './oauth2/settings.js';

export class ConfigError extends Error {}

/** Most message bytes DKIM signing may hold in memory over all DATA slots: half the default 256Mi pod limit. */
export const DKIM_MEMORY_BUDGET = 128 * 1024 * 1024;

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
function obj(v: unknown, path: string): Obj {
  if (!isObj(v)) throw new ConfigError(`${path} must be an object`);
  return v;
}
function str(v: unknown, path: string): string {
  if (typeof v !== 'string' || v === '') throw new ConfigError(`${path} must be a non-empty string`);
  return v;
}
function optStr(v: unknown, path: string): string | undefined {
  return v === undefined ? undefined : str(v, path);
}
function int(v: unknown, path: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw new ConfigError(`${path} must be an integer in [${min}, ${max}]`);
  return v;
}
function optInt(v: unknown, path: string, min: number, max: number): number | undefined {
  return v === undefined ? undefined : int(v, path, min, max);
}
function oneOf<T extends string>(v: unknown, path: string, values: readonly T[]): T {
  if (typeof v !== 'string' || !(values as readonly string[]).includes(v)) throw new ConfigError(`${path} must be one of ${values.join(', ')}`);
  return v as T;
}
function strList(v: unknown, path: string): string[] {
  if (!Array.isArray(v)) throw new ConfigError(`${path} must be an array of strings`);
  return v.map((s, i) => str(s, `${path}[${i}]`));
}

const DOMAIN_RE = /^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/i;

function domainList(v: unknown, path: string): string[] {
  return strList(v, path).map((d, i) => {
    if (!DOMAIN_RE.test(d)) throw new ConfigError(`${path}[${i}] '${d}' is not a domain name`);
    return d.toLowerCase();
  });
}

/**
 * Parses "10.0.0.0/8" or "2001:db8::/32"; refuses the whole Internet, and IPv6 entries
 * that cover IPv4 addresses (IPv4-mapped ::ffff:0:0/96, IPv4-compatible ::/96): IPv4
 * clients are matched against IPv4 entries only (networks.ts), so such an entry either
 * means nothing or was meant to let IPv4 clients in; either way it is refused.
 */
export function parseCidr(cidr: string, path: string): Network & { address: string } {
  const [address, prefixText, extra] = cidr.split('/');
  const ip = address ? parseIp(address) : null;
  if (!address || !ip || address.includes('%') || prefixText === undefined || extra !== undefined || !/^\d{1,3}$/.test(prefixText)) {
    throw new ConfigError(`${path} '${cidr}' is not a CIDR (address/prefix)`);
  }
  const prefix = Number(prefixText);
  const max = ip.family === 'ipv4' ? 32 : 128;
  if (prefix > max) throw new ConfigError(`${path} '${cidr}' has a prefix longer than ${max}`);
  if (prefix === 0) throw new ConfigError(`${path} '${cidr}' allows every address: an open relay is never allowed`);
  const network: Network & { address: string } = { address, family: ip.family, bytes: ip.bytes, prefix };
  const embedding = ipv4EmbeddingOverlap(network);
  if (embedding) {
    throw new ConfigError(
      `${path} '${cidr}' overlaps ${embedding}, IPv6 addresses that stand for IPv4 ones: IPv4 clients are matched against IPv4 entries only, so list IPv4 networks in IPv4 form (such as 10.0.0.0/8)`,
    );
  }
  return network;
}

/** Parses a list of CIDRs (errors name `path[i]`). */
export function parseNetworks(cidrs: readonly string[], path: string): Network[] {
  return cidrs.map((c, i) => parseCidr(c, `${path}[${i}]`));
}

function listener(v: unknown, path: string): RelayListenerConfig {
  const o = obj(v, path);
  const name = oneOf(o.name, `${path}.name`, ['submission', 'submissions', 'relay'] as const);
  const l: RelayListenerConfig = {
    name,
    port: int(o.port, `${path}.port`, 0, 65535),
    mode: oneOf(o.mode, `${path}.mode`, ['starttls', 'implicit'] as const),
  };
  if (name === 'relay') {
    l.allowedNetworks = strList(o.allowedNetworks, `${path}.allowedNetworks`);
    if (l.allowedNetworks.length === 0) throw new ConfigError(`${path}.allowedNetworks must list at least one network`);
    parseNetworks(l.allowedNetworks, `${path}.allowedNetworks`);
    l.allowedSenderDomains = domainList(o.allowedSenderDomains, `${path}.allowedSenderDomains`);
    if (l.allowedSenderDomains.length === 0) throw new ConfigError(`${path}.allowedSenderDomains must list at least one domain: the relay listener is never an open relay`);
  }
  if (o.proxyProtocol !== undefined) {
    // The relay listener's allowedNetworks must see the real TCP peer; PROXY is for the public listeners behind a load balancer.
    if (name === 'relay') throw new ConfigError(`${path}.proxyProtocol is only for the submission and submissions listeners`);
    const p = obj(o.proxyProtocol, `${path}.proxyProtocol`);
    const trustedProxies = strList(p.trustedProxies, `${path}.proxyProtocol.trustedProxies`);
    if (trustedProxies.length === 0) throw new ConfigError(`${path}.proxyProtocol.trustedProxies must list at least one CIDR (the load balancers)`);
    parseNetworks(trustedProxies, `${path}.proxyProtocol.trustedProxies`);
    l.proxyProtocol = { trustedProxies };
  }
  return l;
}

const USERNAME_RE = /^[A-Za-z0-9._@+-]{1,128}$/; // users.ts: the names a users dir can hold
// The API's grammar for a bound address's local part (src/api/cel.ts SENDER_RE), so that every
// value the API admits starts the relay; one with routing syntax (% !) simply never matches,
// because MAIL FROM refuses those (address-policy.ts).
const SENDER_LOCAL_RE = /^[A-Za-z0-9!#$%&*+/=?^_{|}~.-]{1,64}$/;

/** user -> senders: full addresses (billing@example.com) or whole domains ('@example.com'). */
function senderLogins(v: unknown, path: string): Record<string, string[]> {
  const o = obj(v, path);
  const out: Array<[string, string[]]> = [];
  for (const [user, list] of Object.entries(o)) {
    const p = `${path}.${user}`;
    if (!USERNAME_RE.test(user)) throw new ConfigError(`${path} has '${user}', which is not a user name (letters, digits and ._@+-, at most 128)`);
    const senders = strList(list, p);
    if (senders.length === 0) throw new ConfigError(`${p} must list at least one sender address or @domain (leave the user out to allow policy.allowedSenderDomains)`);
    senders.forEach((s, i) => {
      const at = s.lastIndexOf('@');
      const domain = s.slice(at + 1);
      const fqdn = DOMAIN_RE.test(domain) && domain.includes('.');
      if (at === 0) {
        if (!fqdn) throw new ConfigError(`${p}[${i}] '${s}' is not @ followed by a domain name`);
      } else if (at < 0 || !SENDER_LOCAL_RE.test(s.slice(0, at)) || !fqdn) {
        throw new ConfigError(`${p}[${i}] '${s}' is not a mailbox (local@domain) or @domain`);
      }
    });
    out.push([user, senders.map((s) => s.toLowerCase())]);
  }
  return Object.fromEntries(out); // own properties, also for a user named __proto__
}

/** Durable mode: the queue directory and its timing (maxAge, retry backoff). */
function queueConfig(v: unknown, path: string): NonNullable<RelayConfig['queue']> {
  const q = obj(v, path);
  const DAY = 86_400_000;
  const out = {
    dir: str(q.dir, `${path}.dir`),
    maxAgeMs: int(q.maxAgeMs, `${path}.maxAgeMs`, 1000, 365 * DAY),
    minBackoffMs: int(q.minBackoffMs, `${path}.minBackoffMs`, 10, DAY),
    maxBackoffMs: int(q.maxBackoffMs, `${path}.maxBackoffMs`, 10, 7 * DAY),
  };
  if (out.maxBackoffMs < out.minBackoffMs) throw new ConfigError(`${path}.maxBackoffMs (${out.maxBackoffMs}) must not be below ${path}.minBackoffMs (${out.minBackoffMs})`);
  return out;
}

/** One upstream (the `upstream` shorthand or an entry of `upstreams`). */
function upstreamConfig(v: unknown, path: string): RelayUpstream {
  const up = obj(v, path);
  const out: RelayUpstream = {
    host: str(up.host, `${path}.host`),
    port: int(up.port, `${path}.port`, 1, 65535),
    tls: oneOf(up.tls, `${path}.tls`, ['starttls', 'implicit', 'none-insecure'] as const),
    credentialsDir: optStr(up.credentialsDir, `${path}.credentialsDir`),
    caDir: optStr(up.caDir, `${path}.caDir`),
    servername: optStr(up.servername, `${path}.servername`),
    poolSize: optInt(up.poolSize, `${path}.poolSize`, 1, 1000),
    connectTimeoutMs: optInt(up.connectTimeoutMs, `${path}.connectTimeoutMs`, 100, 600_000),
    timeoutMs: optInt(up.timeoutMs, `${path}.timeoutMs`, 100, 3_600_000),
  };
  if (up.auth !== undefined) {
    if (out.credentialsDir !== undefined) throw new ConfigError(`${path}.auth and ${path}.credentialsDir are both set: an upstream logs in with a password or with OAuth2, not both`);
    const problems = validateOAuth2Auth(up.auth, `${path}.auth`);
    if (problems.length > 0) throw new ConfigError(problems.join('; '));
    // XOAUTH2 sends a bearer token: never in plaintext.
    if (out.tls === 'none-insecure') throw new ConfigError(`${path}.auth (OAuth2) needs ${path}.tls starttls or implicit, never none-insecure`);
    out.auth = up.auth as RelayUpstream['auth'];
  }
  return out;
}

const UPSTREAM_NAME_RE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** `upstreams` and `routes`: names unique, every route names existing upstreams. */
function upstreamsAndRoutes(o: Obj): { upstreams: RelayNamedUpstream[]; routes: RelayRoute[] } {
  if (!Array.isArray(o.upstreams) || o.upstreams.length === 0) throw new ConfigError('config.upstreams must be a non-empty array');
  const names = new Set<string>();
  const upstreams = o.upstreams.map((u, i) => {
    const p = `config.upstreams[${i}]`;
    const name = str(obj(u, p).name, `${p}.name`);
    if (!UPSTREAM_NAME_RE.test(name)) throw new ConfigError(`${p}.name '${name}' must be lowercase letters, digits and '-' (at most 63)`);
    if (names.has(name)) throw new ConfigError(`config.upstreams has the name '${name}' twice`);
    names.add(name);
    return { name, ...upstreamConfig(u, p) };
  });
  if (!Array.isArray(o.routes) || o.routes.length === 0) throw new ConfigError('config.routes must be a non-empty array when config.upstreams is set (a route with only `upstreams` is a catch-all)');
  const routes = o.routes.map((r, i): RelayRoute => {
    const p = `config.routes[${i}]`;
    const ro = obj(r, p);
    const list = strList(ro.upstreams, `${p}.upstreams`);
    if (list.length === 0) throw new ConfigError(`${p}.upstreams must name at least one upstream`);
    list.forEach((n, j) => {
      if (!names.has(n)) throw new ConfigError(`${p}.upstreams[${j}] '${n}' is not the name of an upstream in config.upstreams`);
    });
    if (new Set(list).size !== list.length) throw new ConfigError(`${p}.upstreams names an upstream twice`);
    const route: RelayRoute = { upstreams: list };
    if (ro.senderDomains !== undefined) {
      route.senderDomains = domainList(ro.senderDomains, `${p}.senderDomains`);
      if (route.senderDomains.length === 0) throw new ConfigError(`${p}.senderDomains must list at least one domain (leave it out to match any sender)`);
    }
    if (ro.users !== undefined) {
      route.users = strList(ro.users, `${p}.users`);
      if (route.users.length === 0) throw new ConfigError(`${p}.users must list at least one user (leave it out to match any user)`);
      route.users.forEach((u, j) => {
        if (!USERNAME_RE.test(u)) throw new ConfigError(`${p}.users[${j}] '${u}' is not a user name (letters, digits and ._@+-, at most 128)`);
      });
    }
    if (ro.rewriteFrom !== undefined) {
      const m = str(ro.rewriteFrom, `${p}.rewriteFrom`);
      const at = m.lastIndexOf('@');
      if (at <= 0 || !SENDER_LOCAL_RE.test(m.slice(0, at)) || /[%!]/.test(m) || !DOMAIN_RE.test(m.slice(at + 1)) || !m.slice(at + 1).includes('.')) {
        throw new ConfigError(`${p}.rewriteFrom '${m}' is not a mailbox (local@domain)`);
      }
      route.rewriteFrom = m;
    }
    return route;
  });
  return { upstreams, routes };
}

/** Circuit breaker settings (defaults in CIRCUIT_BREAKER_DEFAULTS). */
function circuitBreaker(v: unknown, path: string): NonNullable<RelayConfig['circuitBreaker']> {
  const b = obj(v, path);
  const out = {
    failureThreshold: optInt(b.failureThreshold, `${path}.failureThreshold`, 1, 1000),
    openMs: optInt(b.openMs, `${path}.openMs`, 100, 3_600_000),
    maxOpenMs: optInt(b.maxOpenMs, `${path}.maxOpenMs`, 100, 86_400_000),
  };
  if (out.openMs !== undefined && out.maxOpenMs !== undefined && out.maxOpenMs < out.openMs) throw new ConfigError(`${path}.maxOpenMs (${out.maxOpenMs}) must not be below ${path}.openMs (${out.openMs})`);
  return Object.fromEntries(Object.entries(out).filter(([, x]) => x !== undefined));
}

/** config.tls.internal: the in-cluster key pair and the SNI names that select it (never the public hostname). */
function internalTls(v: unknown, path: string, hostname: string): NonNullable<RelayConfig['tls']['internal']> {
  const o = obj(v, path);
  const serverNames = domainList(o.serverNames, `${path}.serverNames`);
  if (serverNames.length === 0) throw new ConfigError(`${path}.serverNames must list at least one name`);
  if (serverNames.includes(hostname.toLowerCase())) throw new ConfigError(`${path}.serverNames must not contain config.hostname '${hostname}': the public name is served from config.tls.dir`);
  return { dir: str(o.dir, `${path}.dir`), serverNames: [...new Set(serverNames)] };
}

export function validateRelayConfig(raw: unknown): RelayConfig {
  const o = obj(raw, 'config');
  const listenersRaw = o.listeners;
  if (!Array.isArray(listenersRaw) || listenersRaw.length === 0) throw new ConfigError('config.listeners must be a non-empty array');
  const listeners = listenersRaw.map((l, i) => listener(l, `config.listeners[${i}]`));
  const names = new Set<string>();
  for (const l of listeners) {
    if (names.has(l.name)) throw new ConfigError(`config.listeners has '${l.name}' twice`);
    names.add(l.name);
  }

  const tls = obj(o.tls, 'config.tls');
  if ((o.upstream === undefined) === (o.upstreams === undefined)) throw new ConfigError('config must set exactly one of config.upstream (one upstream) and config.upstreams (with config.routes)');
  if (o.upstream !== undefined && o.routes !== undefined) throw new ConfigError('config.routes needs config.upstreams (config.upstream is one upstream with a catch-all route)');
  const policy = obj(o.policy, 'config.policy');
  const limits = obj(o.limits, 'config.limits');

  const cfg: RelayConfig = {
    hostname: str(o.hostname, 'config.hostname'),
    listeners,
    tls: {
      dir: str(tls.dir, 'config.tls.dir'),
      minVersion: oneOf(tls.minVersion ?? 'TLSv1.2', 'config.tls.minVersion', ['TLSv1.2', 'TLSv1.3'] as const),
      profile: oneOf(tls.profile ?? 'intermediate', 'config.tls.profile', ['intermediate', 'modern'] as const),
      ...(tls.internal !== undefined ? { internal: internalTls(tls.internal, 'config.tls.internal', str(o.hostname, 'config.hostname')) } : {}),
    },
    usersDir: optStr(o.usersDir, 'config.usersDir'),
    managedUsersDir: optStr(o.managedUsersDir, 'config.managedUsersDir'),
    policy: {
      allowedSenderDomains: policy.allowedSenderDomains === undefined ? [] : domainList(policy.allowedSenderDomains, 'config.policy.allowedSenderDomains'),
      maxMessageBytes: int(policy.maxMessageBytes, 'config.policy.maxMessageBytes', 1024, 1024 * 1024 * 1024),
      maxRecipients: int(policy.maxRecipients, 'config.policy.maxRecipients', 1, 100_000),
    },
    limits: {
      maxConnections: int(limits.maxConnections, 'config.limits.maxConnections', 1, 1_000_000),
      socketTimeoutMs: int(limits.socketTimeoutMs, 'config.limits.socketTimeoutMs', 100, 3_600_000),
      closeTimeoutMs: int(limits.closeTimeoutMs, 'config.limits.closeTimeoutMs', 0, 3_600_000),
      authFailuresPerMinute: int(limits.authFailuresPerMinute, 'config.limits.authFailuresPerMinute', 1, 1_000_000),
      authFailureWindowMs: optInt(limits.authFailureWindowMs, 'config.limits.authFailureWindowMs', 1000, 86_400_000),
      maxConnectionsPerClient: optInt(limits.maxConnectionsPerClient, 'config.limits.maxConnectionsPerClient', 1, 1_000_000),
      connectionRatePerMinute: optInt(limits.connectionRatePerMinute, 'config.limits.connectionRatePerMinute', 1, 1_000_000),
      preAuthCommands: optInt(limits.preAuthCommands, 'config.limits.preAuthCommands', 1, 10_000),
      preTlsTimeoutMs: optInt(limits.preTlsTimeoutMs, 'config.limits.preTlsTimeoutMs', 100, 3_600_000),
      preAuthTimeoutMs: optInt(limits.preAuthTimeoutMs, 'config.limits.preAuthTimeoutMs', 100, 3_600_000),
      maxConcurrentData: optInt(limits.maxConcurrentData, 'config.limits.maxConcurrentData', 1, 100_000),
      dkimSpillBytes: optInt(limits.dkimSpillBytes, 'config.limits.dkimSpillBytes', 64 * 1024, 64 * 1024 * 1024),
      upstreamPerUserConcurrency: optInt(limits.upstreamPerUserConcurrency, 'config.limits.upstreamPerUserConcurrency', 1, 1000),
      upstreamAcquireTimeoutMs: optInt(limits.upstreamAcquireTimeoutMs, 'config.limits.upstreamAcquireTimeoutMs', 100, 600_000),
    },
    spoolDir: optStr(o.spoolDir, 'config.spoolDir'),
    metricsPort: int(o.metricsPort, 'config.metricsPort', 0, 65535),
  };
  if (o.upstream !== undefined) cfg.upstream = upstreamConfig(o.upstream, 'config.upstream');
  else Object.assign(cfg, upstreamsAndRoutes(o));
  if (o.circuitBreaker !== undefined) cfg.circuitBreaker = circuitBreaker(o.circuitBreaker, 'config.circuitBreaker');
  if (o.queue !== undefined) cfg.queue = queueConfig(o.queue, 'config.queue');
  if (policy.senderLogins !== undefined) cfg.policy.senderLogins = senderLogins(policy.senderLogins, 'config.policy.senderLogins');
  if (policy.rateLimit !== undefined) {
    const rl = obj(policy.rateLimit, 'config.policy.rateLimit');
    const perMinute = int(rl.messagesPerMinute, 'config.policy.rateLimit.messagesPerMinute', 1, 1_000_000);
    cfg.policy.rateLimit = { messagesPerMinute: perMinute, burst: optInt(rl.burst, 'config.policy.rateLimit.burst', 1, 1_000_000) ?? perMinute };
  }
  if (o.dkim !== undefined) {
    cfg.dkim = dkimKeys(o.dkim);
    // Each DATA in flight may hold dkimSpillBytes of message in memory (relay.ts, dataSlots).
    const { maxConcurrentData, dkimSpillBytes } = resolveLimits(cfg);
    if (maxConcurrentData * dkimSpillBytes > DKIM_MEMORY_BUDGET) {
      throw new ConfigError(
        `config.limits.maxConcurrentData x config.limits.dkimSpillBytes (${maxConcurrentData} x ${dkimSpillBytes}) exceeds ${DKIM_MEMORY_BUDGET} bytes of messages held in memory for DKIM signing: lower one of them`,
      );
    }
  }
  // No usersDir with submission listeners is allowed (the API makes auth optional): those
  // listeners then accept no mail at all, since every AUTH fails. The runtime warns.
  return cfg;
}

/**
 * config.dkim: a list of {domain, selector, keyDir}, or the older single object (normalised
 * to a list of one). Domains are unique: one key per signing domain.
 */
export function dkimKeys(v: unknown): NonNullable<RelayConfig['dkim']> {
  const list = Array.isArray(v) ? v : [obj(v, 'config.dkim')];
  if (list.length === 0) throw new ConfigError('config.dkim must list at least one key (or be left out)');
  const seen = new Set<string>();
  return list.map((entry, i) => {
    const at = Array.isArray(v) ? `config.dkim[${i}]` : 'config.dkim';
    const d = obj(entry, at);
    const domain = str(d.domain, `${at}.domain`);
    if (!DOMAIN_RE.test(domain)) throw new ConfigError(`${at}.domain '${domain}' is not a domain name`);
    const key = domain.toLowerCase().replace(/\.$/, '');
    if (seen.has(key)) throw new ConfigError(`${at}.domain '${domain}' appears twice: one key per signing domain`);
    seen.add(key);
    return { domain: key, selector: str(d.selector, `${at}.selector`), keyDir: str(d.keyDir, `${at}.keyDir`) };
  });
}

/** Directory overrides from the command line, for local runs. */
export function applyArgOverrides(cfg: RelayConfig, args: RelayArgs): RelayConfig {
  const out: RelayConfig = structuredClone(cfg);
  if (args.tlsDir) out.tls.dir = args.tlsDir;
  if (args.usersDir) out.usersDir = args.usersDir;
  // The flags name today's single upstream (the shorthand).
  if (args.upstreamCredentialsDir && out.upstream) out.upstream.credentialsDir = args.upstreamCredentialsDir;
  if (args.upstreamCaDir && out.upstream) out.upstream.caDir = args.upstreamCaDir;
  // One key: --dkim-dir is its directory; several: one subdirectory per domain.
  if (args.dkimDir && out.dkim) for (const k of out.dkim) k.keyDir = out.dkim.length === 1 ? args.dkimDir : `${args.dkimDir}/${k.domain}`;
  if (args.metricsPort !== undefined) out.metricsPort = args.metricsPort;
  return out;
}

export async function loadRelayConfig(path: string): Promise<RelayConfig> {
  let text: string;
  try {
    text = await fs.readFile(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read the relay config ${path}: ${(err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`the relay config ${path} is not valid JSON: ${(err as Error).message}`);
  }
  return validateRelayConfig(raw);
}
