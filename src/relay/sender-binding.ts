// Login-to-sender binding (Postfix smtpd_sender_login_maps with
// reject_authenticated_sender_login_mismatch): which sender addresses an authenticated
// user may use, in MAIL FROM and in the header From:. Without it any user could send as
// anyone, and DKIM would then sign the forgery with our domain.
//   - a user listed in policy.senderLogins may use only the addresses and '@domains' listed;
//   - a user not listed may use any address within policy.allowedSenderDomains;
//   - when that list is empty too, the user is not restricted (as before this check).
// Addresses compare case-insensitively; '@example.com' covers that domain, not its subdomains.
import type { Refusal } from './address-policy.js';

interface Owned {
  addresses: Set<string>;
  domains: Set<string>;
}

export class SenderBinding {
  private readonly byUser: Map<string, Owned>;
  private readonly defaultDomains: Set<string>;

  constructor(policy: { senderLogins?: Record<string, string[]>; allowedSenderDomains: readonly string[] }) {
    this.byUser = new Map(
      Object.entries(policy.senderLogins ?? {}).map(([user, list]) => {
        const owned: Owned = { addresses: new Set(), domains: new Set() };
        for (const entry of list) {
          const e = entry.toLowerCase();
          if (e.startsWith('@')) owned.domains.add(e.slice(1));
          else owned.addresses.add(e);
        }
        return [user, owned];
      }),
    );
    this.defaultDomains = new Set(policy.allowedSenderDomains.map((d) => d.toLowerCase()));
  }

  /** False when this user may use any sender: then no check (and no header hold) is needed. */
  restricts(user: string): boolean {
    return this.byUser.has(user) || this.defaultDomains.size > 0;
  }

  /** Whether `user` may send as `address` (a bare local@domain). */
  owns(user: string, address: string): boolean {
    const a = address.toLowerCase();
    const at = a.lastIndexOf('@');
    const domain = at >= 0 ? a.slice(at + 1) : '';
    const owned = this.byUser.get(user);
    if (owned) return owned.addresses.has(a) || (domain !== '' && owned.domains.has(domain));
    if (this.defaultDomains.size === 0) return true;
    return domain !== '' && this.defaultDomains.has(domain);
  }

  /** The refusal for a sender `user` does not own, else null. */
  check(user: string, address: string): Refusal | null {
    return this.owns(user, address) ? null : mismatch(user, address);
  }
}

export function mismatch(user: string, address: string): Refusal {
  return { code: 553, message: `5.7.1 Sender address <${printable(address)}> not owned by user <${printable(user)}>` };
}

/** Reply text never carries control characters or an unbounded echo of client input. */
function printable(s: string): string {
  return s.replace(/[^\x20-\x7e]/g, '?').slice(0, 256);
}
