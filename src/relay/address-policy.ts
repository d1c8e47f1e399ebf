// Envelope address checks. Pure functions returning an SMTP refusal or null.
// The relay hands addresses to an upstream that may interpret routing syntax, so
// anything that could re-route a message is refused rather than passed on:
// percent-hack (user%other.example@ours), UUCP bang paths (host!user@ours),
// source routes (@a,@b:user@c), and quoted local parts ("x@evil"@ours).

export interface Refusal {
  code: number;
  /** Enhanced status code + text, e.g. '5.7.1 Sender domain not allowed'. */
  message: string;
}

// RFC 5322 atext plus '.', and UTF-8 for SMTPUTF8 (RFC 6531); '%' and '!' are refused before this runs.
const ATEXT_LOCAL = /^[\p{L}\p{N}!#$&'*+/=?^_`{|}~.-]+$/u;
const DOMAIN = /^(?=.{1,253}$)([\p{L}\p{N}](?:[\p{L}\p{N}-]{0,61}[\p{L}\p{N}])?\.)*[\p{L}\p{N}](?:[\p{L}\p{N}-]{0,61}[\p{L}\p{N}])?$/u;

export interface ParsedAddress {
  local: string;
  domain: string;
}

/** Splits and checks a mailbox; returns a refusal for anything that could route or hide a second address. */
export function checkMailbox(address: string, role: 'sender' | 'recipient'): Refusal | ParsedAddress {
  const bad = role === 'sender' ? '5.1.7' : '5.1.3';
  const what = role === 'sender' ? 'sender' : 'recipient';
  if (address.startsWith('@') || /^@[^:]*:/.test(address)) return { code: 553, message: `${bad} Source routes are not accepted in the ${what} address` };
  if (address.startsWith('"') || address.includes('"') || address.includes('\\')) return { code: 553, message: `${bad} Quoted local parts are not accepted in the ${what} address` };
  const at = address.lastIndexOf('@');
  if (at <= 0 || at === address.length - 1) return { code: 553, message: `${bad} The ${what} address must be local@domain` };
  const local = address.slice(0, at);
  const domain = address.slice(at + 1);
  if (local.includes('@')) return { code: 553, message: `${bad} More than one @ in the ${what} address` };
  if (local.includes('%')) return { code: 553, message: `${bad} Percent-hack routing is not accepted in the ${what} address` };
  if (local.includes('!')) return { code: 553, message: `${bad} Bang-path routing is not accepted in the ${what} address` };
  if (!ATEXT_LOCAL.test(local) || local.startsWith('.') || local.endsWith('.') || local.includes('..') || local.length > 64) {
    return { code: 553, message: `${bad} Malformed local part in the ${what} address` };
  }
  if (!DOMAIN.test(domain) || !domain.includes('.')) return { code: 553, message: `${bad} The ${what} domain must be a fully qualified domain name` };
  return { local, domain: domain.toLowerCase() };
}

export function isRefusal(v: Refusal | ParsedAddress): v is Refusal {
  return (v as Refusal).code !== undefined;
}

/**
 * Sender check: a mailbox, and its domain in every non-empty allow-list given
 * (policy-wide list, and the relay listener's own list). Case-insensitive, exact domain match.
 */
export function checkSender(address: string, allowLists: ReadonlyArray<readonly string[]>): Refusal | null {
  const lists = allowLists.filter((l) => l.length > 0);
  if (address === '') {
    return lists.length ? { code: 550, message: '5.7.1 The null sender is not allowed here' } : null;
  }
  const parsed = checkMailbox(address, 'sender');
  if (isRefusal(parsed)) return parsed;
  for (const list of lists) {
    if (!list.some((d) => d.toLowerCase() === parsed.domain)) {
      return { code: 550, message: `5.7.1 Sender domain ${parsed.domain} is not allowed` };
    }
  }
  return null;
}

export function checkRecipient(address: string): Refusal | null {
  const parsed = checkMailbox(address, 'recipient');
  return isRefusal(parsed) ? parsed : null;
}
