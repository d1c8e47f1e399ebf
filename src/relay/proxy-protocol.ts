// PROXY protocol version 2 header (https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt,
// section 2.2), binary form only: the 12-byte signature, version 2 with the LOCAL or PROXY
// command, and for PROXY a TCP over IPv4 or IPv6 address block. Pure: bytes in, verdict out.
import { normalizeClientAddress } from './networks.js';

export const PROXY_V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
/** Signature, version/command, family/transport, length. */
export const PROXY_V2_FIXED_BYTES = 16;
/**
 * Largest header accepted. Addresses take at most 216 bytes (AF_UNIX); the rest is TLVs
 * (HAProxy's SSL, unique-id, authority ones fit easily). A peer that announces more is not
 * a proxy we want to buffer for.
 */
export const PROXY_V2_MAX_BYTES = 1024;

const COMMAND_LOCAL = 0x0;
const COMMAND_PROXY = 0x1;
const TCP4 = 0x11;
const TCP6 = 0x21;

export type ProxyHeader =
  /** More bytes are needed; nothing wrong so far. */
  | { kind: 'incomplete' }
  | { kind: 'invalid'; reason: string }
  /** LOCAL (the proxy's own health check): the connection's real addresses stand. */
  | { kind: 'local'; length: number }
  | { kind: 'proxy'; length: number; source: { address: string; port: number }; destination: { address: string; port: number } };

function ipv6Text(b: Buffer): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16));
  return normalizeClientAddress(groups.join(':'));
}

/** Parses the header at the start of `buf` (which may hold the client's first bytes after it). */
export function parseProxyV2(buf: Buffer): ProxyHeader {
  const sig = buf.subarray(0, PROXY_V2_SIGNATURE.length);
  if (!sig.equals(PROXY_V2_SIGNATURE.subarray(0, sig.length))) return { kind: 'invalid', reason: 'no PROXY protocol v2 signature' };
  if (buf.length < PROXY_V2_FIXED_BYTES) return { kind: 'incomplete' };
  const versionCommand = buf[12] as number;
  if (versionCommand >> 4 !== 2) return { kind: 'invalid', reason: `PROXY protocol version ${versionCommand >> 4}, only 2 is supported` };
  const command = versionCommand & 0x0f;
  if (command !== COMMAND_LOCAL && command !== COMMAND_PROXY) return { kind: 'invalid', reason: `unknown PROXY command ${command}` };
  const familyTransport = buf[13] as number;
  const blockLength = buf.readUInt16BE(14);
  const length = PROXY_V2_FIXED_BYTES + blockLength;
  if (length > PROXY_V2_MAX_BYTES) return { kind: 'invalid', reason: `PROXY header of ${length} bytes is over the ${PROXY_V2_MAX_BYTES}-byte limit` };
  if (buf.length < length) return { kind: 'incomplete' };
  if (command === COMMAND_LOCAL) return { kind: 'local', length };
  const block = buf.subarray(PROXY_V2_FIXED_BYTES, length);
  if (familyTransport === TCP4) {
    if (block.length < 12) return { kind: 'invalid', reason: 'TCP4 address block shorter than 12 bytes' };
    return {
      kind: 'proxy',
      length,
      source: { address: [...block.subarray(0, 4)].join('.'), port: block.readUInt16BE(8) },
      destination: { address: [...block.subarray(4, 8)].join('.'), port: block.readUInt16BE(10) },
    };
  }
  if (familyTransport === TCP6) {
    if (block.length < 36) return { kind: 'invalid', reason: 'TCP6 address block shorter than 36 bytes' };
    return {
      kind: 'proxy',
      length,
      source: { address: ipv6Text(block.subarray(0, 16)), port: block.readUInt16BE(32) },
      destination: { address: ipv6Text(block.subarray(16, 32)), port: block.readUInt16BE(34) },
    };
  }
  return { kind: 'invalid', reason: `PROXY address family/transport 0x${familyTransport.toString(16).padStart(2, '0')} is not TCP over IPv4 or IPv6` };
}
