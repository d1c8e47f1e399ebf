// An independent DKIM verifier for tests (RFC 6376, rsa-sha256, relaxed/relaxed and
// simple body, no l=): recomputes bh= from the body and checks b= with node:crypto against
// a public key the test supplies (what a receiver would fetch from DNS). Written from the
// RFC, not from the signer's code, so a signer bug is not mirrored here. No Python dkimpy
// or Perl Mail::DKIM is installed on this machine.
import { createHash, createPublicKey, createVerify, type KeyObject } from 'node:crypto';

export interface DkimSignature {
  tags: Map<string, string>;
  domain: string;
  selector: string;
}

export type DkimVerdict = { ok: true; signature: DkimSignature } | { ok: false; why: string; signature?: DkimSignature };

interface Field {
  name: string;
  /** Everything after the colon, folding kept. */
  raw: string;
}

function split(message: string): { fields: Field[]; body: string } {
  const end = message.indexOf('\r\n\r\n');
  const head = end < 0 ? message : message.slice(0, end);
  const body = end < 0 ? '' : message.slice(end + 4);
  const fields: Field[] = [];
  for (const line of head.split('\r\n')) {
    if (/^[ \t]/.test(line) && fields.length > 0) fields[fields.length - 1]!.raw += `\r\n${line}`;
    else {
      const colon = line.indexOf(':');
      fields.push({ name: line.slice(0, colon), raw: line.slice(colon + 1) });
    }
  }
  return { fields, body };
}

/** RFC 6376 3.4.2. */
function relaxedHeader(f: Field): string {
  const value = f.raw.replace(/\r\n/g, '').replace(/[ \t]+/g, ' ').trim();
  return `${f.name.trim().toLowerCase()}:${value}`;
}

/** RFC 6376 3.4.4 (relaxed) and 3.4.3 (simple). */
function canonicalBody(body: string, mode: string): string {
  let lines = body.split('\r\n');
  if (mode === 'relaxed') lines = lines.map((l) => l.replace(/[ \t]+/g, ' ').replace(/ $/, ''));
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  if (lines.length === 0) return mode === 'relaxed' ? '' : '\r\n';
  return `${lines.join('\r\n')}\r\n`;
}

function parseTags(value: string): Map<string, string> {
  const tags = new Map<string, string>();
  for (const part of value.replace(/\r\n/g, '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0) tags.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  return tags;
}

/** Every DKIM-Signature of the message, top first. */
export function dkimSignatures(message: string): DkimSignature[] {
  return split(message)
    .fields.filter((f) => f.name.toLowerCase() === 'dkim-signature')
    .map((f) => {
      const tags = parseTags(f.raw);
      return { tags, domain: tags.get('d') ?? '', selector: tags.get('s') ?? '' };
    });
}

/** Verifies the first DKIM-Signature against `publicKey` (SPKI DER, or a KeyObject). */
export function verifyDkim(message: string, publicKey: Buffer | KeyObject): DkimVerdict {
  const { fields, body } = split(message);
  const sigField = fields.find((f) => f.name.toLowerCase() === 'dkim-signature');
  if (!sigField) return { ok: false, why: 'no DKIM-Signature' };
  const tags = parseTags(sigField.raw);
  const signature = { tags, domain: tags.get('d') ?? '', selector: tags.get('s') ?? '' };
  if (tags.get('a') !== 'rsa-sha256') return { ok: false, why: `a=${tags.get('a')} is not rsa-sha256`, signature };
  if (tags.has('l')) return { ok: false, why: 'l= is not supported here', signature };
  const [headerCanon, bodyCanon = 'simple'] = (tags.get('c') ?? 'simple/simple').split('/');
  if (headerCanon !== 'relaxed') return { ok: false, why: `c=${tags.get('c')}: only relaxed header canonicalization is supported here`, signature };
  const bh = createHash('sha256').update(canonicalBody(body, bodyCanon), 'latin1').digest('base64');
  if (bh !== (tags.get('bh') ?? '').replace(/\s+/g, '')) return { ok: false, why: `body hash ${bh} differs from bh=`, signature };
  // h=: each name takes the last not yet used instance, bottom up (RFC 6376 5.4.2); a missing one signs as empty.
  const used = new Set<Field>();
  const signed: string[] = [];
  for (const name of (tags.get('h') ?? '').split(':').map((n) => n.trim().toLowerCase())) {
    const candidate = [...fields].reverse().find((f) => f !== sigField && !used.has(f) && f.name.trim().toLowerCase() === name);
    if (!candidate) continue;
    used.add(candidate);
    signed.push(`${relaxedHeader(candidate)}\r\n`);
  }
  // The signature field itself, b= emptied, without its trailing CRLF.
  const withoutB = { name: sigField.name, raw: sigField.raw.replace(/(^|;)([ \t\r\n]*b[ \t\r\n]*=)[^;]*/, '$1$2') };
  signed.push(relaxedHeader(withoutB));
  const key = Buffer.isBuffer(publicKey) ? createPublicKey({ key: publicKey, format: 'der', type: 'spki' }) : publicKey;
  const ok = createVerify('RSA-SHA256').update(signed.join(''), 'latin1').verify(key, (tags.get('b') ?? '').replace(/\s+/g, ''), 'base64');
  return ok ? { ok: true, signature } : { ok: false, why: 'b= does not verify with this key', signature };
}
