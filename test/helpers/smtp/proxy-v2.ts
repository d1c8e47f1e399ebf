// Builds PROXY protocol v2 headers the way a load balancer sends them (tests only): for
// unit tests of the parser and for forged headers from untrusted peers. Written from the
// spec on its own (no relay code), so it is an independent oracle for the parser.
import net from 'node:net';

const SIGNATURE = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');

/** Address bytes: 4 for IPv4, 16 for IPv6 (hex groups, one '::', or an IPv4 tail). */
function ipBytes(address: string): Buffer {
  if (net.isIPv4(address)) return Buffer.from(address.split('.').map(Number));
  let text = address;
  const tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (tail?.[1]) {
    const b = tail[1].split('.').map(Number) as [number, number, number, number];
    text = text.slice(0, -tail[1].length) + `${((b[0] << 8) | b[1]).toString(16)}:${((b[2] << 8) | b[3]).toString(16)}`;
  }
  const [head = '', rest] = text.split('::');
  const h = head ? head.split(':') : [];
  const t = rest ? rest.split(':') : [];
  const groups = rest === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

export interface ProxyV2Parts {
  /** 0x2 unless a test wants another version. */
  version?: number;
  /** 0x1 PROXY (default), 0x0 LOCAL. */
  command?: number;
  /** 0x11 TCP4, 0x21 TCP6; default from the source address. */
  familyTransport?: number;
  source?: { address: string; port: number };
  destination?: { address: string; port: number };
  /** Raw address block instead of source/destination. */
  block?: Buffer;
  /** Extra bytes after the addresses (TLVs). */
  tlvs?: Buffer;
}

export function proxyV2Header(p: ProxyV2Parts): Buffer {
  let block = p.block;
  if (!block && p.source && p.destination) {
    const ports = Buffer.alloc(4);
    ports.writeUInt16BE(p.source.port, 0);
    ports.writeUInt16BE(p.destination.port, 2);
    block = Buffer.concat([ipBytes(p.source.address), ipBytes(p.destination.address), ports]);
  }
  block = Buffer.concat([block ?? Buffer.alloc(0), p.tlvs ?? Buffer.alloc(0)]);
  const fixed = Buffer.alloc(4);
  fixed[0] = ((p.version ?? 2) << 4) | (p.command ?? 1);
  fixed[1] = p.familyTransport ?? (p.source && p.source.address.includes(':') ? 0x21 : p.source ? 0x11 : 0x00);
  fixed.writeUInt16BE(block.length, 2);
  return Buffer.concat([SIGNATURE, fixed, block]);
}
