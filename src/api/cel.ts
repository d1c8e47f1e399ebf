// Regular expressions and CEL fragments shared by the SmtpRelay schema.
// Regexes are RE2 (what CEL's matches() uses) and are embedded as CEL raw
// strings r'...', so they are written here exactly as the engine sees them.

const LABEL = '[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?';

/** Lowercase RFC 1123 name with at least one dot: smtp.example.com. */
export const FQDN_RE = `^(${LABEL}\\.)+${LABEL}$`;
/** Same, optionally starting with one wildcard label: *.example.com. */
export const WILDCARD_FQDN_RE = `^(\\*\\.)?(${LABEL}\\.)+${LABEL}$`;
/** Lowercase RFC 1123 name, one label or more: mailpit, mail.ns.svc. */
export const DNS_NAME_RE = `^${LABEL}(\\.${LABEL})*$`;
/** Kubernetes object names (Secrets, Issuers, PriorityClasses): DNS-1123 subdomain. */
export const DNS1123_SUBDOMAIN_RE = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
/** DNS-1035 label: what Service names must be. */
export const DNS1035_LABEL_RE = '^[a-z]([-a-z0-9]*[a-z0-9])?$';
/** A Secret data key (what a user name in the auth Secret is): letters, digits, '-', '_' and '.'. */
export const SECRET_KEY_RE = '^[-._a-zA-Z0-9]+$';
/**
 * A sender the relay can bind a user to: a full address (billing@example.com) or a whole
 * domain (@invoices.example.com). Unquoted local parts only; the domain is lowercase.
 */
export const SENDER_RE = `^([A-Za-z0-9!#$%&*+/=?^_{|}~.-]{1,64})?@(${LABEL}\\.)+${LABEL}$`;
/**
 * IPv4-mapped IPv6 text (::ffff:10.0.0.0/104, 0:0:0:0:0:ffff::/96). The API server's CIDR
 * library refuses these outright (isCIDR is false); this names why.
 */
export const IPV4_MAPPED_TEXT_RE = '(?i)^[0:]*:ffff:';
/** Go time.ParseDuration syntax without sign, days or µ: 90m, 2160h, 1h30m, 1.5h. */
export const GO_DURATION_RE = '^([0-9]+(\\.[0-9]+)?(ns|us|ms|s|m|h))+$';

/** `expr.matches(r'RE')` */
export function matches(expr: string, re: string): string {
  if (re.includes("'")) throw new Error(`regex must not contain a quote: ${re}`);
  return `${expr}.matches(r'${re}')`;
}

/**
 * Optional field access with the schema default as fallback:
 * field('self', 'submission.enabled', 'true') -> self.?submission.?enabled.orValue(true).
 * Defaults are applied before validation, so the fallback only matters for
 * objects stored before a default existed; it keeps the rule total anyway.
 */
export function field(base: string, path: string, fallback: string): string {
  return `${base}${path
    .split('.')
    .map((p) => `.?${p}`)
    .join('')}.orValue(${fallback})`;
}

/** CEL string literal. */
export function lit(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** `duration(expr) OP duration('limit')`, true when expr is not a valid duration (another rule reports that). */
export function durationCompare(expr: string, op: '<' | '<=' | '>' | '>=', limit: string): string {
  return `!${matches(expr, GO_DURATION_RE)} || duration(${expr}) ${op} duration(${lit(limit)})`;
}
