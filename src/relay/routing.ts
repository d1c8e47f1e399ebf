// Upstreams and routes: the one internal shape the runtime uses (today's single `upstream`
// is shorthand for one upstream named 'default' and one catch-all route), and the choice of
// a route for a message. Pure.
import type { RelayConfig, RelayNamedUpstream, RelayRoute } from '../common/relay-config.js';

/** The name today's single `upstream` gets. */
export const DEFAULT_UPSTREAM_NAME = 'default';

export interface UpstreamPlan {
  upstreams: RelayNamedUpstream[];
  routes: RelayRoute[];
}

/** Upstreams and routes of a config, with the `upstream` shorthand expanded. */
export function upstreamPlan(cfg: Pick<RelayConfig, 'upstream' | 'upstreams' | 'routes'>): UpstreamPlan {
  if (cfg.upstreams) return { upstreams: cfg.upstreams, routes: cfg.routes ?? [] };
  if (!cfg.upstream) return { upstreams: [], routes: [] };
  return { upstreams: [{ name: DEFAULT_UPSTREAM_NAME, ...cfg.upstream }], routes: [{ upstreams: [DEFAULT_UPSTREAM_NAME] }] };
}

/** Domain of an address (lowercase); '' for the null sender or no '@'. */
export function domainOf(address: string): string {
  const at = address.lastIndexOf('@');
  return at < 0 ? '' : address.slice(at + 1).toLowerCase();
}

/**
 * The first route whose senderDomains (if set) contain the sender's domain and whose users
 * (if set) contain the authenticated user; undefined when none does. An unauthenticated
 * client (relay listener) matches only routes without users.
 */
export function matchRoute(routes: readonly RelayRoute[], sender: string, user: string | undefined): RelayRoute | undefined {
  const domain = domainOf(sender);
  return routes.find(
    (r) => (r.senderDomains === undefined || (domain !== '' && r.senderDomains.includes(domain))) && (r.users === undefined || (user !== undefined && r.users.includes(user))),
  );
}

/** The reply for a sender no route carries. */
export function noRoute(sender: string): { code: number; message: string } {
  return { code: 550, message: `5.7.1 No route for sender <${sender.replace(/[^\x20-\x7e]/g, '?').slice(0, 256)}>` };
}
