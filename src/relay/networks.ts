// IP addresses and CIDR allow-lists, as bytes: one place that decides whether a client
// address is inside a list of networks, used by every allow-list of the relay.
//
// Why not net.BlockList: it matches an IPv4 address against IPv6 subnets covering
// ::ffff:0:0/96, so an IPv6 entry such as ::/32 let in every IPv4 client (an open relay).
// Here an IPv4 client (an IPv4-mapped IPv6 address is normalised to IPv4 first) is only
// compared with IPv4 entries, and an IPv6 client only with IPv6 entries. Pure.
import net from 'node:net';

export type IpFamily = 'ipv4' | 'ipv6';

export interface ParsedIp {
  family: IpFamily;
  /** 4 bytes for IPv4, 16 for IPv6. */
  bytes: Uint8Array;
}

export interface Network {
  family: IpFamily;
  bytes: Uint8Array;
  prefix: number;
}

function parseIpv4(text: string): Uint8Array | null {
  const parts = text.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) return null;
  return Uint8Array.from(parts.map(Number));
}

function parseIpv6(text: string): Uint8Array | null {
  let head = text;
  let tail4: Uint8Array | null = null;
  const lastColon = head.lastIndexOf(':');
  if (head.includes('.', lastColon)) {
    tail4 = parseIpv4(head.slice(lastColon + 1));
    if (!tail4) return null;
    head = `${head.slice(0, lastColon + 1)}0:0`; // two placeholder groups where the IPv4 tail goes
  }
  const halves = head.split('::');
  if (halves.length > 2) return null;
  const groups = (s: string | undefined) => (s ? s.split(':') : []);
  const left = groups(halves[0]);
  const right = groups(halves[1]);
  const missing = 8 - left.length - right.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return null;
  const all = [...left, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...right];
  if (!all.every((g) => /^[0-9a-f]{1,4}$/i.test(g))) return null;
  const bytes = new Uint8Array(16);
  all.forEach((g, i) => {
    const v = parseInt(g, 16);
    bytes[i * 2] = v >> 8;
    bytes[i * 2 + 1] = v & 0xff;
  });
  if (tail4) bytes.set(tail4, 12);
  return bytes;
}

/** Parses an IPv4 or IPv6 address (a zone index is dropped); null if it is neither. */
export function parseIp(address: string): ParsedIp | null {
  const text = address.trim().replace(/%.*$/, '');
  const kind = net.isIP(text);
  if (kind === 4) {
    const bytes = parseIpv4(text);
    return bytes ? { family: 'ipv4', bytes } : null;
  }
  if (kind === 6) {
    const bytes = parseIpv6(text);
    return bytes ? { family: 'ipv6', bytes } : null;
  }
  return null;
}

const MAPPED_PREFIX = Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]);

function startsWith(bytes: Uint8Array, prefix: Uint8Array): boolean {
  return prefix.every((b, i) => bytes[i] === b);
}

/**
 * The address a client really has: an IPv4-mapped IPv6 address (::ffff:127.0.0.1,
 * ::ffff:7f00:1) is the IPv4 address it carries. null if it is not an IP address.
 */
export function clientIp(address: string): ParsedIp | null {
  const ip = parseIp(address);
  if (ip?.family === 'ipv6' && startsWith(ip.bytes, MAPPED_PREFIX)) return { family: 'ipv4', bytes: ip.bytes.slice(12) };
  return ip;
}

function formatIp(ip: ParsedIp): string {
  if (ip.family === 'ipv4') return ip.bytes.join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((((ip.bytes[i] as number) << 8) | (ip.bytes[i + 1] as number)).toString(16));
  // RFC 5952: the longest run (two or more) of zero groups becomes '::'.
  let best = { at: -1, len: 1 };
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > best.len) best = { at: i, len: j - i };
    i = j === i ? i + 1 : j;
  }
  if (best.at < 0) return groups.join(':');
  return `${groups.slice(0, best.at).join(':')}::${groups.slice(best.at + best.len).join(':')}`;
}

/** The canonical text of a client address (IPv4-mapped -> dotted IPv4); the input unchanged if it is not an IP. */
export function normalizeClientAddress(address: string): string {
  const ip = clientIp(address);
  return ip ? formatIp(ip) : address;
}

/**
 * The key per-client limits count under: the IPv4 address, or the IPv6 /64 (one
 * customer's network: a host can pick any of its 2^64 addresses). Postfix anvil counts
 * per address; the /64 is what an IPv6 client controls.
 */
export function clientKey(address: string): string {
  const ip = clientIp(address);
  if (!ip) return address;
  if (ip.family === 'ipv4') return formatIp(ip);
  const net64 = new Uint8Array(16);
  net64.set(ip.bytes.subarray(0, 8));
  return `${formatIp({ family: 'ipv6', bytes: net64 })}/64`;
}

function prefixMatches(a: Uint8Array, b: Uint8Array, prefix: number): boolean {
  const whole = prefix >> 3;
  for (let i = 0; i < whole; i++) if (a[i] !== b[i]) return false;
  const rest = prefix & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return ((a[whole] as number) & mask) === ((b[whole] as number) & mask);
}

/** True if the two networks share at least one address. */
export function overlaps(a: Network, b: Network): boolean {
  return a.family === b.family && prefixMatches(a.bytes, b.bytes, Math.min(a.prefix, b.prefix));
}

/** IPv6 ranges that stand for IPv4 addresses: an IPv6 entry there would be an IPv4 rule in disguise. */
export const IPV4_EMBEDDING_RANGES: ReadonlyArray<{ text: string; network: Network }> = [
  { text: '::ffff:0:0/96 (IPv4-mapped)', network: { family: 'ipv6', bytes: Uint8Array.from([...MAPPED_PREFIX, 0, 0, 0, 0]), prefix: 96 } },
  { text: '::/96 (IPv4-compatible)', network: { family: 'ipv6', bytes: new Uint8Array(16), prefix: 96 } },
];

/** The IPv4-embedding range an IPv6 network overlaps, if any. ::1/128 (loopback) and ::/128 are real IPv6 addresses, not IPv4 ones. */
export function ipv4EmbeddingOverlap(n: Network): string | undefined {
  if (n.family !== 'ipv6') return undefined;
  const loopbackOrUnspecified: Network = { family: 'ipv6', bytes: new Uint8Array(16), prefix: 127 };
  if (n.prefix >= 127 && overlaps(n, loopbackOrUnspecified)) return undefined;
  return IPV4_EMBEDDING_RANGES.find((r) => overlaps(n, r.network))?.text;
}

/**
 * A matcher for a list of networks: an IPv4 client against the IPv4 entries only, an
 * IPv6 client against the IPv6 entries only. An address that is not an IP matches nothing.
 */
export function createNetworkMatcher(networks: readonly Network[]): (address: string) => boolean {
  const byFamily = { ipv4: networks.filter((n) => n.family === 'ipv4'), ipv6: networks.filter((n) => n.family === 'ipv6') };
  return (address) => {
    const ip = clientIp(address);
    if (!ip) return false;
    return byFamily[ip.family].some((n) => prefixMatches(ip.bytes, n.bytes, n.prefix));
  };
}
