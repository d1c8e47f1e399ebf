// Operator-level allow-lists: what an SmtpRelay author may ask the operator to do
// with the operator's own rights (run an image, use a ClusterIssuer, send the
// named credentials to an upstream host). Pure: flags in, Problems out.
import type { SmtpRelay } from '../api/types.js';
import { issuerRefs } from './builders/spec.js';
import { Reason } from './reasons.js';
import type { Problem } from './status.js';

export interface TenancyPolicy {
  /** --default-relay-image: always allowed (it is what an empty spec.image means). */
  defaultImage: string;
  /** --allowed-relay-images: exact references, or prefixes ending in `*`. */
  allowedRelayImages: string[];
  /** --allowed-cluster-issuers: names, or `*` for any. */
  allowedClusterIssuers: string[];
  /** --allowed-upstream-hosts: host names, `*.suffix` for any host under suffix, or `*` for any. */
  allowedUpstreamHosts: string[];
}

/** Exact match, or a prefix match when the pattern ends in `*` (the only wildcard: a `*` inside would let `reg.io*` match `reg.io.evil.example`). */
export function imageAllowed(image: string, patterns: readonly string[]): boolean {
  return patterns.some((p) => (p.endsWith('*') ? image.startsWith(p.slice(0, -1)) : image === p));
}

function normalizeHost(host: string): string {
  return host.trim().toLowerCase().replace(/\.$/, '');
}

/** `*` any host; `*.example.com` any host below example.com (not example.com itself); otherwise exact, case-insensitive. */
export function hostAllowed(host: string, patterns: readonly string[]): boolean {
  const h = normalizeHost(host);
  return patterns.some((raw) => {
    const p = normalizeHost(raw);
    if (p === '*') return true;
    if (p.startsWith('*.')) return h.endsWith(p.slice(1));
    return h === p;
  });
}

export function nameAllowed(name: string, patterns: readonly string[]): boolean {
  return patterns.some((p) => p === '*' || p === name);
}

/** The allow-list violations of one relay; each is Stalled with a reason of its own. */
export function checkTenancy(relay: SmtpRelay, policy: TenancyPolicy): Problem[] {
  const { spec } = relay;
  const problems: Problem[] = [];
  const image = spec.image?.trim();
  if (image && image !== policy.defaultImage && !imageAllowed(image, policy.allowedRelayImages)) {
    problems.push({
      reason: Reason.ImageNotAllowed,
      message: `spec.image ${image} is not allowed by the operator. Remove spec.image to use the default relay image, or ask the cluster admin to add it to the operator's --allowed-relay-images.`,
    });
  }
  for (const { field, ref: issuer } of issuerRefs(relay)) {
    if (issuer.kind !== 'ClusterIssuer' || nameAllowed(issuer.name, policy.allowedClusterIssuers)) continue;
    problems.push({
      reason: Reason.IssuerNotAllowed,
      message: `ClusterIssuer ${issuer.name} (${field}) is not allowed by the operator. Use an Issuer in this namespace, or ask the cluster admin to add it to the operator's --allowed-cluster-issuers.`,
      certificate: true,
    });
  }
  for (const { field, host } of upstreamHosts(relay)) {
    if (hostAllowed(host, policy.allowedUpstreamHosts)) continue;
    problems.push({
      reason: Reason.UpstreamHostNotAllowed,
      message: `${field} ${host} is not allowed by the operator (the relay would send it the credentials Secret). Use an allowed host, or ask the cluster admin to add it to the operator's --allowed-upstream-hosts.`,
    });
  }
  return problems;
}

/**
 * Every host the relay sends credentials to: each upstream, and each OAuth2 tokenEndpoint the
 * spec sets (the client secret or assertion goes there). The providers' own endpoints
 * (login.microsoftonline.com, oauth2.googleapis.com) are not checked: the spec cannot redirect them.
 */
export function upstreamHosts(relay: SmtpRelay): { field: string; host: string }[] {
  const { spec } = relay;
  if (!spec.upstreams) return spec.upstream?.host ? [{ field: 'spec.upstream.host', host: spec.upstream.host }] : [];
  return spec.upstreams.flatMap((u) => {
    const out = [{ field: `spec.upstreams[${u.name}].host`, host: u.host }];
    const endpoint = u.oauth2?.tokenEndpoint;
    if (endpoint) {
      let host: string;
      try {
        host = new URL(endpoint).hostname.replace(/^\[|\]$/g, '');
      } catch {
        host = endpoint;
      }
      out.push({ field: `spec.upstreams[${u.name}].oauth2.tokenEndpoint host`, host });
    }
    return out;
  });
}
