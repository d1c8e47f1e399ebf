// Per-client connection limits of one listener, like Postfix anvil
// (smtpd_client_connection_count_limit, smtpd_client_connection_rate_limit): a client is an
// IPv4 address or an IPv6 /64 (networks.ts clientKey), so one client cannot take every
// slot of maxConnections. The clock is injected so tests need no sleeps.
import { clientKey } from './networks.js';
import { TokenBuckets } from './token-bucket.js';

export type Admission = { ok: true; key: string } | { ok: false; key: string; reason: 'client_concurrency' | 'client_rate' };

export class ClientConnectionLimits {
  private readonly open = new Map<string, number>();
  private readonly rate: TokenBuckets;

  constructor(
    private readonly maxPerClient: number,
    ratePerMinute: number,
    now: () => number = Date.now,
  ) {
    this.rate = new TokenBuckets(ratePerMinute, ratePerMinute, now);
  }

  /** Admits one new connection from `address`; an admitted one must be released once. */
  admit(address: string): Admission {
    const key = clientKey(address);
    if ((this.open.get(key) ?? 0) >= this.maxPerClient) return { ok: false, key, reason: 'client_concurrency' };
    // Every attempt over the concurrency limit is refused before it spends a rate token,
    // so a client waiting for a free slot does not also lock itself out for a minute.
    if (!this.rate.take(key)) return { ok: false, key, reason: 'client_rate' };
    this.open.set(key, (this.open.get(key) ?? 0) + 1);
    return { ok: true, key };
  }

  release(key: string): void {
    const n = (this.open.get(key) ?? 0) - 1;
    if (n > 0) this.open.set(key, n);
    else this.open.delete(key);
  }

  /** Open connections counted for `address`'s client. */
  count(address: string): number {
    return this.open.get(clientKey(address)) ?? 0;
  }
}
