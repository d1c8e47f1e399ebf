// Which DKIM key signs a message: the one whose domain aligns with the header From:.
// Alignment is DMARC's relaxed mode restricted to what needs no public-suffix list: the
// From: domain equals a key's domain, or is a subdomain of it (From: news.example.com is
// signed d=example.com). Both have the same organisational domain, so DMARC (RFC 7489
// 3.1.1) passes in relaxed mode. A message whose From: aligns with no key is sent
// unsigned, never signed with another domain's key: a foreign d= helps nobody and tells
// receivers the relay signs for domains it does not send.
import { createPrivateKey, createPublicKey } from 'node:crypto';
import type { DkimPublicKey } from '../common/dkim-keys.js';
import type { FromHeader } from './header-from.js';

/** The one domain of the header From: (every mailbox in the same domain), else undefined. */
export function fromDomain(from: FromHeader | undefined): string | undefined {
  if (!from || from.kind !== 'present') return undefined;
  const domains = new Set(from.addresses.map(domainOf));
  return domains.size === 1 ? [...domains][0] : undefined;
}

export function domainOf(address: string): string {
  return address.slice(address.lastIndexOf('@') + 1).toLowerCase().replace(/\.$/, '');
}

/** The key domain aligned with `from`: an exact match first, else the closest parent. */
export function alignedDomain(from: string | undefined, keyDomains: Iterable<string>): string | undefined {
  if (!from) return undefined;
  const f = from.toLowerCase().replace(/\.$/, '');
  let best: string | undefined;
  for (const d of keyDomains) {
    if (f === d) return d;
    if (f.endsWith(`.${d}`) && (!best || d.length > best.length)) best = d;
  }
  return best;
}

/** The SPKI (base64) of a PEM private key; throws a readable error for a bad key. */
export function publicKeyOf(privateKeyPem: string): string {
  const key = createPrivateKey(privateKeyPem);
  // The signer (nodemailer) writes a=rsa-sha256 only.
  if (key.asymmetricKeyType !== 'rsa') throw new Error(`a DKIM key must be an RSA key, not ${key.asymmetricKeyType}`);
  return createPublicKey(key).export({ type: 'spki', format: 'der' }).toString('base64');
}

/** Signing keys by domain; each is replaced on its own when its Secret directory changes. */
export class DkimKeySet<Signer> {
  private readonly keys = new Map<string, { selector: string; signer: Signer; publicKey: string }>();

  set(domain: string, selector: string, signer: Signer, publicKey: string): void {
    this.keys.set(domain, { selector, signer, publicKey });
  }

  /** The signer for a message with this header From: domain, or undefined (send unsigned). */
  signerFor(from: string | undefined): Signer | undefined {
    const d = alignedDomain(from, this.keys.keys());
    return d === undefined ? undefined : this.keys.get(d)?.signer;
  }

  get size(): number {
    return this.keys.size;
  }

  publicKeys(): DkimPublicKey[] {
    return [...this.keys].map(([domain, k]) => ({ domain, selector: k.selector, publicKey: k.publicKey })).sort((a, b) => a.domain.localeCompare(b.domain));
  }
}
