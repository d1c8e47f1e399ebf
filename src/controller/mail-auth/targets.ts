// Which domains a relay's mail may carry, and how it signs them: the inputs of the
// check. Pure. Wildcard domains (*.example.com) cannot be looked up and are skipped.
import type { SmtpRelaySpec } from '../../api/types.js';
import type { MailAuthTarget } from './evaluate.js';

export interface DkimSigningKey {
  domain: string;
  selector: string;
  /** SPKI DER of the signing key (see publicKeyOfPrivateKey); absent when unread. */
  publicKey?: Buffer;
}

/** The domain of "user@domain" or "@domain", or a bare domain; lower case. */
function domainOf(entry: string): string {
  const at = entry.lastIndexOf('@');
  return (at >= 0 ? entry.slice(at + 1) : entry).trim().toLowerCase().replace(/\.$/, '');
}

/** The signing keys of spec.dkim, either shape (selector and domain; no key material). */
export function dkimKeysOfSpec(spec: SmtpRelaySpec): DkimSigningKey[] {
  const d = spec.dkim;
  if (!d) return [];
  if (d.keys) return d.keys.map((k) => ({ domain: k.domain, selector: k.selector }));
  return d.domain && d.selector ? [{ domain: d.domain, selector: d.selector }] : [];
}

/** Every concrete sender domain of a spec: policy, relay listener, per-user senders, DKIM. */
export function senderDomainsOfSpec(spec: SmtpRelaySpec): string[] {
  const domains = [
    ...(spec.policy?.allowedSenderDomains ?? []),
    ...(spec.listeners?.relay?.enabled ? spec.listeners.relay.allowedSenderDomains : []),
    ...(spec.auth?.senders ?? []).flatMap((s) => s.allowed),
    ...dkimKeysOfSpec(spec).map((k) => k.domain),
  ];
  return [...new Set(domains.map(domainOf))].filter((d) => d !== '' && !d.startsWith('*')).sort();
}

/** One target per domain; a domain the relay signs for carries its selector and key. */
export function mailAuthTargets(domains: readonly string[], keys: readonly DkimSigningKey[]): MailAuthTarget[] {
  return [...new Set(domains.map(domainOf))].sort().map((domain) => {
    const key = keys.find((k) => domainOf(k.domain) === domain);
    if (!key) return { domain };
    return { domain, dkim: { selector: key.selector, ...(key.publicKey ? { publicKey: key.publicKey } : {}) } };
  });
}
