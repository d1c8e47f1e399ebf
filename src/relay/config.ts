// Reads and checks the relay config JSON. validateRelayConfig is pure and names the
// offending field in every error, so a bad ConfigMap fails loudly at start.
import fs from 'node:fs/promises';
import net from 'node:net';
import type { RelayConfig, RelayListenerConfig } from '../common/relay-config.js';
import type { RelayArgs } from './args.js';

export class ConfigError extends Error {}

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

/** Parses "10.0.0.0/8" or "2001:db8::/32"; refuses the whole Internet. */
export function parseCidr(cidr: string, path: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } {
  const [address, prefixText, extra] = cidr.split('/');
  const family = address ? net.isIP(address) : 0;
  if (!address || !family || prefixText === undefined || extra !== undefined || !/^\d{1,3}$/.test(prefixText)) {
    throw new ConfigError(`${path} '${cidr}' is not a CIDR (address/prefix)`);
  }
  const prefix = Number(prefixText);
  const max = family === 4 ? 32 : 128;
  if (prefix > max) throw new ConfigError(`${path} '${cidr}' has a prefix longer than ${max}`);
  if (prefix === 0) throw new ConfigError(`${path} '${cidr}' allows every address: an open relay is never allowed`);
  return { address, prefix, family: family === 4 ? 'ipv4' : 'ipv6' };
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
    l.allowedNetworks.forEach((c, i) => parseCidr(c, `${path}.allowedNetworks[${i}]`));
    l.allowedSenderDomains = domainList(o.allowedSenderDomains, `${path}.allowedSenderDomains`);
    if (l.allowedSenderDomains.length === 0) throw new ConfigError(`${path}.allowedSenderDomains must list at least one domain: the relay listener is never an open relay`);
  }
  return l;
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
  const up = obj(o.upstream, 'config.upstream');
  const policy = obj(o.policy, 'config.policy');
  const limits = obj(o.limits, 'config.limits');

  const upstreamTls = oneOf(up.tls, 'config.upstream.tls', ['starttls', 'implicit', 'none-insecure'] as const);
  const cfg: RelayConfig = {
    hostname: str(o.hostname, 'config.hostname'),
    listeners,
    tls: {
      dir: str(tls.dir, 'config.tls.dir'),
      minVersion: oneOf(tls.minVersion ?? 'TLSv1.2', 'config.tls.minVersion', ['TLSv1.2', 'TLSv1.3'] as const),
      profile: oneOf(tls.profile ?? 'intermediate', 'config.tls.profile', ['intermediate', 'modern'] as const),
    },
    usersDir: optStr(o.usersDir, 'config.usersDir'),
    upstream: {
      host: str(up.host, 'config.upstream.host'),
      port: int(up.port, 'config.upstream.port', 1, 65535),
      tls: upstreamTls,
      credentialsDir: optStr(up.credentialsDir, 'config.upstream.credentialsDir'),
      caDir: optStr(up.caDir, 'config.upstream.caDir'),
      servername: optStr(up.servername, 'config.upstream.servername'),
      poolSize: optInt(up.poolSize, 'config.upstream.poolSize', 1, 1000),
      connectTimeoutMs: optInt(up.connectTimeoutMs, 'config.upstream.connectTimeoutMs', 100, 600_000),
      timeoutMs: optInt(up.timeoutMs, 'config.upstream.timeoutMs', 100, 3_600_000),
    },
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
    },
    metricsPort: int(o.metricsPort, 'config.metricsPort', 0, 65535),
  };
  if (policy.rateLimit !== undefined) {
    const rl = obj(policy.rateLimit, 'config.policy.rateLimit');
    const perMinute = int(rl.messagesPerMinute, 'config.policy.rateLimit.messagesPerMinute', 1, 1_000_000);
    cfg.policy.rateLimit = { messagesPerMinute: perMinute, burst: optInt(rl.burst, 'config.policy.rateLimit.burst', 1, 1_000_000) ?? perMinute };
  }
  if (o.dkim !== undefined) {
    const d = obj(o.dkim, 'config.dkim');
    cfg.dkim = { selector: str(d.selector, 'config.dkim.selector'), domain: str(d.domain, 'config.dkim.domain'), keyDir: str(d.keyDir, 'config.dkim.keyDir') };
  }
  // No usersDir with submission listeners is allowed (the API makes auth optional): those
  // listeners then accept no mail at all, since every AUTH fails. The runtime warns.
  return cfg;
}

/** Directory overrides from the command line, for local runs. */
export function applyArgOverrides(cfg: RelayConfig, args: RelayArgs): RelayConfig {
  const out: RelayConfig = structuredClone(cfg);
  if (args.tlsDir) out.tls.dir = args.tlsDir;
  if (args.usersDir) out.usersDir = args.usersDir;
  if (args.upstreamCredentialsDir) out.upstream.credentialsDir = args.upstreamCredentialsDir;
  if (args.upstreamCaDir) out.upstream.caDir = args.upstreamCaDir;
  if (args.dkimDir && out.dkim) out.dkim.keyDir = args.dkimDir;
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
