// The I/O edge: TXT lookups with node:dns's Resolver against configurable servers
// (the operator flag --dns-servers; default the system's resolvers), bounded by a
// timeout, and the three lookups a sender domain needs.
import { Resolver } from 'node:dns/promises';
import { dkimName, dmarcName, evaluateMailAuth, type DomainMailAuth, type MailAuthLookups, type MailAuthTarget } from './evaluate.js';
import { answerForDnsError, txtRecords, type TxtLookup } from './txt-answer.js';

export interface DnsLookupOptions {
  /** "ip", "ip:port", "[ipv6]:port" (node:dns setServers syntax). Empty/absent: the system's resolvers. */
  servers?: readonly string[];
  /** Per try. Default 5 s. */
  timeoutMs?: number;
  /** Default 2. */
  tries?: number;
}

export const DEFAULT_DNS_TIMEOUT_MS = 5_000;
export const DEFAULT_DNS_TRIES = 2;

/** A comma-separated --dns-servers value → the server list; throws naming the bad entry. */
export function parseDnsServers(flag: string): string[] {
  const servers = flag.split(',').map((s) => s.trim()).filter((s) => s !== '');
  const probe = new Resolver();
  for (const server of servers) {
    try {
      probe.setServers([server]);
    } catch {
      throw new Error(`--dns-servers: "${server}" is not an IP address with an optional port (e.g. 10.96.0.10, 127.0.0.1:5353, [::1]:53)`);
    }
  }
  return servers;
}

export function createTxtLookup(opts: DnsLookupOptions = {}): TxtLookup {
  const resolver = new Resolver({ timeout: opts.timeoutMs ?? DEFAULT_DNS_TIMEOUT_MS, tries: opts.tries ?? DEFAULT_DNS_TRIES });
  if (opts.servers && opts.servers.length > 0) resolver.setServers([...opts.servers]);
  return async (name) => {
    try {
      return txtRecords(await resolver.resolveTxt(name));
    } catch (err) {
      return answerForDnsError((err as NodeJS.ErrnoException).code);
    }
  };
}

/** The SPF, DMARC and (if the relay signs) DKIM lookups of one domain, at once. */
export async function lookupMailAuth(target: MailAuthTarget, lookup: TxtLookup): Promise<MailAuthLookups> {
  const [spf, dmarc, dkim] = await Promise.all([
    lookup(target.domain),
    lookup(dmarcName(target.domain)),
    target.dkim ? lookup(dkimName(target.dkim.selector, target.domain)) : Promise.resolve(undefined),
  ]);
  return dkim ? { spf, dmarc, dkim } : { spf, dmarc };
}

export async function checkMailAuth(target: MailAuthTarget, lookup: TxtLookup): Promise<DomainMailAuth> {
  return evaluateMailAuth(target, await lookupMailAuth(target, lookup));
}
