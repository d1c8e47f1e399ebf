// The header From: of a message, read the way a receiving MUA or DMARC would, for the
// login-to-sender binding. Pure functions. Where a header could be read two ways, we take
// the reading that sees MORE: every From: line anywhere in the header block, addresses in
// display names and comments (also inside RFC 2047 encoded words), and we refuse what we
// cannot parse unambiguously (quoted local parts, domain literals, source routes,
// "phrase addr-spec" without angle brackets) instead of guessing.
//
// Line ends: CRLF, a bare CR and a bare LF each end a line, because that is what the
// upstream will see (nodemailer's DataStream turns bare CR and bare LF into CRLF).
import type { Refusal } from './address-policy.js';
import { checkMailbox, isRefusal } from './address-policy.js';
import { mismatch } from './sender-binding.js';

/** A header block larger than this is refused rather than held in memory. */
export const MAX_HEADER_BYTES = 64 * 1024;

/**
 * Finds the empty line that ends the header block in a message arriving in chunks, scanning
 * each byte once (a client sending one byte at a time costs no re-scans).
 */
export class HeaderEndScanner {
  private atLineStart = true;
  private afterCr = false;
  /** Bytes scanned before the current chunk. */
  private offset = 0;

  /** Length of the header block (bytes before its ending empty line), or -1 if not seen yet. */
  push(chunk: Uint8Array): number {
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i];
      if (this.afterCr) {
        this.afterCr = false;
        if (b === 0x0a) continue; // CRLF: one line end
      }
      if (b === 0x0d || b === 0x0a) {
        if (this.atLineStart) return this.offset + i;
        this.atLineStart = true;
        this.afterCr = b === 0x0d;
      } else {
        this.atLineStart = false;
      }
    }
    this.offset += chunk.length;
    return -1;
  }
}

/** Length of the header block in a whole buffer, or -1 when it has no ending empty line. */
export function headerBlockLength(buf: Uint8Array): number {
  return new HeaderEndScanner().push(buf);
}

export interface HeaderField {
  name: string;
  value: string;
}

/** Header fields, unfolded. Lines that are not a field (no colon) are skipped, not an end. */
export function headerFields(block: string): HeaderField[] {
  const fields: HeaderField[] = [];
  for (const line of block.split(/\r\n|\r|\n/)) {
    if (line === '') continue;
    const last = fields[fields.length - 1];
    if ((line[0] === ' ' || line[0] === '\t') && last) {
      last.value += line; // unfolding removes only the line break
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    // obs-syntax allows white space before the colon ("From :"): same field name.
    fields.push({ name: line.slice(0, colon).replace(/[ \t]+$/, ''), value: line.slice(colon + 1) });
  }
  return fields;
}

export type FromHeader =
  | { kind: 'absent' }
  | { kind: 'invalid'; reason: string }
  /** addresses: the mailboxes; displayed: address-like text in display names and comments. */
  | { kind: 'present'; addresses: string[]; displayed: string[] };

export function fromHeader(block: string): FromHeader {
  const froms = headerFields(block).filter((f) => f.name.toLowerCase() === 'from');
  if (froms.length === 0) return { kind: 'absent' };
  if (froms.length > 1) return { kind: 'invalid', reason: 'more than one From: header' };
  return parseAddressList((froms[0] as HeaderField).value);
}

type Token =
  | { t: 'atom'; v: string }
  | { t: 'quoted'; v: string }
  | { t: 'angle'; v: string }
  | { t: 'special'; v: ',' | ':' | ';' | '@' | '.' };

class Invalid extends Error {}

function tokenize(value: string, comments: string[]): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < value.length) {
    const c = value[i] as string;
    if (c === ' ' || c === '\t') {
      i++;
    } else if (c === '(') {
      let depth = 0;
      let text = '';
      for (; i < value.length; i++) {
        const d = value[i] as string;
        if (d === '\\') {
          text += value[++i] ?? '';
          continue;
        }
        if (d === '(') depth++;
        else if (d === ')') depth--;
        else text += d;
        if (depth === 0) break;
      }
      if (depth !== 0) throw new Invalid('unterminated comment');
      comments.push(text);
      i++;
    } else if (c === '"') {
      let text = '';
      for (i++; i < value.length && value[i] !== '"'; i++) text += value[i] === '\\' ? (value[++i] ?? '') : value[i];
      if (i >= value.length) throw new Invalid('unterminated quoted string');
      out.push({ t: 'quoted', v: text });
      i++;
    } else if (c === '<') {
      const end = value.indexOf('>', i);
      if (end < 0) throw new Invalid('unterminated <address>');
      out.push({ t: 'angle', v: value.slice(i + 1, end) });
      i = end + 1;
    } else if (c === ',' || c === ':' || c === ';' || c === '@' || c === '.') {
      out.push({ t: 'special', v: c });
      i++;
    } else if ('>[]\\)'.includes(c)) {
      throw new Invalid(`unexpected '${c}'`);
    } else {
      let j = i;
      while (j < value.length && !' \t()"<>,:;@.[]\\'.includes(value[j] as string)) j++;
      out.push({ t: 'atom', v: value.slice(i, j) });
      i = j;
    }
  }
  return out;
}

/** One bare address from the tokens of an addr-spec: atoms and dots, '@', atoms and dots. */
function addrSpec(tokens: Token[]): string {
  const at = tokens.findIndex((t) => t.t === 'special' && t.v === '@');
  if (at < 0) throw new Invalid('a mailbox without @');
  const part = (ts: Token[]) => {
    let s = '';
    let prev: Token | null = null;
    for (const t of ts) {
      if (t.t === 'quoted') throw new Invalid('quoted local part');
      if (t.t !== 'atom' && !(t.t === 'special' && t.v === '.')) throw new Invalid(`unexpected '${t.v}' in an address`);
      // Two atoms in a row ("john app1@x") would be a display name to some readers: refuse.
      if (t.t === 'atom' && prev?.t === 'atom') throw new Invalid('words before an address without <angle brackets>');
      s += t.v;
      prev = t;
    }
    return s;
  };
  const address = `${part(tokens.slice(0, at))}@${part(tokens.slice(at + 1))}`;
  const checked = checkMailbox(address, 'sender');
  if (isRefusal(checked)) throw new Invalid(checked.message.replace(/^\d\.\d\.\d+ /, ''));
  return address;
}

function angleAddress(inner: string): string {
  const comments: string[] = [];
  const tokens = tokenize(inner, comments);
  if (tokens.some((t) => t.t === 'special' && (t.v === ':' || t.v === ','))) throw new Invalid('source route in an address');
  return addrSpec(tokens);
}

function parseAddressList(value: string): FromHeader {
  const comments: string[] = [];
  const addresses: string[] = [];
  const phrases: string[] = [];
  try {
    const tokens = tokenize(value, comments);
    let inGroup = false;
    let item: Token[] = [];
    const flush = () => {
      if (item.length === 0) return; // empty list elements are allowed (obs-mbox-list)
      const angles = item.filter((t) => t.t === 'angle');
      if (angles.length > 1) throw new Invalid('two <addresses> in one mailbox');
      if (angles.length === 1) {
        if (item[item.length - 1]?.t !== 'angle') throw new Invalid('text after an <address>');
        const phrase = item.slice(0, -1);
        if (phrase.some((t) => t.t === 'special' && t.v !== '.')) throw new Invalid('unexpected special character in a display name');
        phrases.push(phrase.map((t) => t.v).join(' '));
        addresses.push(angleAddress((angles[0] as Token).v));
      } else {
        addresses.push(addrSpec(item));
      }
      item = [];
    };
    for (const tok of tokens) {
      if (tok.t === 'special' && tok.v === ',') flush();
      else if (tok.t === 'special' && tok.v === ':') {
        if (inGroup) throw new Invalid('a group inside a group');
        if (item.some((t) => t.t !== 'atom' && t.t !== 'quoted')) throw new Invalid('malformed group name');
        phrases.push(item.map((t) => t.v).join(' '));
        item = [];
        inGroup = true;
      } else if (tok.t === 'special' && tok.v === ';') {
        if (!inGroup) throw new Invalid("';' outside a group");
        flush();
        inGroup = false;
      } else item.push(tok);
    }
    if (inGroup) throw new Invalid('unterminated group');
    flush();
  } catch (err) {
    if (err instanceof Invalid) return { kind: 'invalid', reason: err.message };
    throw err;
  }
  if (addresses.length === 0) return { kind: 'invalid', reason: 'From: header without an address' };
  const displayed = [...phrases, ...comments].flatMap((text) => addressesIn(decodeEncodedWords(text)));
  return { kind: 'present', addresses, displayed };
}

const ADDRESS_LIKE = /[^\s<>()[\]"',;:@]+@[^\s<>()[\]"',;:@]+\.[^\s<>()[\]"',;:@.]+/gu;

/** Address-like text a reader would take for a sender ("ceo@example.com" <me@x>), lower-cased. */
export function addressesIn(text: string): string[] {
  // NFKC folds look-alikes such as the full-width ＠ into their plain form.
  return [...text.normalize('NFKC').matchAll(ADDRESS_LIKE)].map((m) => m[0].replace(/\.+$/, '').toLowerCase());
}

/** Decodes RFC 2047 encoded words (=?charset?B|Q?text?=); unknown charsets are read as latin1. */
export function decodeEncodedWords(text: string): string {
  return text.replace(/=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=/g, (_all, charset: string, enc: string, data: string) => {
    const bytes =
      enc.toUpperCase() === 'B'
        ? Buffer.from(data, 'base64')
        : Buffer.from(data.replace(/_/g, ' ').replace(/=([0-9A-Fa-f]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1');
    try {
      return new TextDecoder(charset.replace(/\*.*$/, '')).decode(bytes); // RFC 2231 language suffix
    } catch {
      return bytes.toString('latin1');
    }
  });
}

/**
 * The refusal for a header block whose From: the user may not use, else null. `owns` is the
 * login-to-sender binding. A message without From: passes: Postfix does not require one
 * either (and the upstream may add one); only the envelope check applies to it then.
 */
export function checkFromHeader(block: string, user: string, owns: (address: string) => boolean): Refusal | null {
  return checkParsedFromHeader(fromHeader(block), user, owns);
}

/** checkFromHeader for a From: already parsed (the relay parses once for the binding and DKIM). */
export function checkParsedFromHeader(from: FromHeader, user: string, owns: (address: string) => boolean): Refusal | null {
  if (from.kind === 'absent') return null;
  if (from.kind === 'invalid') return { code: 553, message: `5.7.1 From: header refused: ${from.reason}` };
  const foreign = [...from.addresses, ...from.displayed].find((a) => !owns(a));
  if (foreign === undefined) return null;
  return mismatch(user, foreign);
}
