// The SmtpRelay OpenAPI v3 structural schema: the single source of truth for
// crds/ and docs/reference.md (`npm run crds` regenerates both). Descriptions
// feed `kubectl explain`; CEL rules refuse bad input at admission with a
// message that says what to fix. ./types.ts mirrors this shape.

import { DEFAULTS } from './types.js';
import {
  DNS1035_LABEL_RE,
  DNS1123_SUBDOMAIN_RE,
  DNS_NAME_RE,
  FQDN_RE,
  GO_DURATION_RE,
  IPV4_MAPPED_TEXT_RE,
  SECRET_KEY_RE,
  SENDER_RE,
  WILDCARD_FQDN_RE,
  durationCompare,
  field,
  matches,
} from './cel.js';
import { dkim, dkimDomainsAllowedRule, senderDomainsStatusSchema } from './schema-dkim.js';
import { type JSONSchemaProps, arr, bool, int32, int64, labelSelectorSchema, obj, passthrough, rule, str, stringMap } from './schema-types.js';
import { routesSchema, upstreamSchema, upstreamSpecRules, upstreamsSchema } from './schema-upstreams.js';

// Bounds. Every list and string a CEL rule reads has a maxItems/maxLength so
// the API server can bound the rule's cost when the CRD is created.
export const LIMITS = {
  replicas: { min: 0, max: 50 },
  maxMessageBytes: { min: 1024, max: 104857600 },
  maxRecipients: { min: 1, max: 1000 },
  maxConnectionsPerClient: { minimum: 1, maximum: 200 },
  connectionRatePerMinute: { minimum: 1, maximum: 100000 },
  authFailuresPerMinute: { minimum: 1, maximum: 1000 },
  messagesPerMinute: { min: 1, max: 100000 },
  domainList: 100,
  networkList: 64,
  trustedProxies: 32,
  senderBindings: 64,
  sendersPerUser: 32,
  dnsNameLength: 253,
  durationLength: 32,
  /** Shortest IPv4 / IPv6 prefix allowed on the unauthenticated relay listener. */
  minIPv4Prefix: 8,
  minIPv6Prefix: 32,
  /** metadata.name: the operator derives child names (Service, Deployment, Secrets) from it. */
  nameLength: 50,
  /** Smallest queue claim: a few thousand typical messages. */
  queueStorageMin: '64Mi',
} as const;

// ---- reusable field shapes -------------------------------------------------

function fqdn(description: string, what: string): JSONSchemaProps {
  return str(description, {
    maxLength: LIMITS.dnsNameLength,
    'x-kubernetes-validations': [
      rule(
        matches('self', FQDN_RE),
        `${what} must be a lowercase fully-qualified domain name with at least one dot, such as example.com: labels of a-z, 0-9 and '-' (not first or last), at most 63 characters each`,
      ),
    ],
  });
}

function domainList(description: string, what: string, dflt?: string[]): JSONSchemaProps {
  return arr(description, fqdn('A lowercase domain name.', `each ${what} entry`), {
    maxItems: LIMITS.domainList,
    ...(dflt !== undefined ? { default: dflt } : {}),
    'x-kubernetes-list-type': 'set',
  });
}

function objectName(description: string, what: string): JSONSchemaProps {
  return str(description, {
    minLength: 1,
    maxLength: 253,
    'x-kubernetes-validations': [
      rule(
        matches('self', DNS1123_SUBDOMAIN_RE),
        `${what} must be a valid Kubernetes object name (DNS-1123 subdomain): lowercase letters, digits, '-' and '.', starting and ending with a letter or digit`,
      ),
    ],
  });
}

function secretRef(description: string, what: string): JSONSchemaProps {
  return obj(description, { name: objectName('Name of a Secret in the SmtpRelay\'s namespace.', `${what}.name`) }, { required: ['name'] });
}

function goDuration(description: string, what: string, extraRules: ReturnType<typeof rule>[], dflt?: string): JSONSchemaProps {
  return str(description, {
    maxLength: LIMITS.durationLength,
    ...(dflt !== undefined ? { default: dflt } : {}),
    'x-kubernetes-validations': [
      rule(
        matches('self', GO_DURATION_RE),
        `${what} must be a Go duration such as 90m, 1h30m or 2160h (units ns, us, ms, s, m, h; no days: 30 days is 720h)`,
      ),
      ...extraRules,
    ],
  });
}

function port(description: string, dflt?: number): JSONSchemaProps {
  return int32(description, { minimum: 1, maximum: 65535, ...(dflt !== undefined ? { default: dflt } : {}) });
}

function quantityMap(description: string, what: string): JSONSchemaProps {
  return {
    description,
    type: 'object',
    maxProperties: 16,
    additionalProperties: {
      anyOf: [{ type: 'integer' }, { type: 'string' }],
      'x-kubernetes-int-or-string': true,
      maxLength: 64,
      'x-kubernetes-validations': [
        rule('type(self) == int || isQuantity(self)', `${what} values must be Kubernetes quantities such as 500m, 2, 256Mi or 1Gi`),
      ],
    },
  };
}

/**
 * One CIDR of a client-address allow-list (relay allowedNetworks, PROXY protocol trustedProxies):
 * a network address, never /0, never wider than /8 (IPv4) or /32 (IPv6), and never an IPv6
 * network that overlaps ::ffff:0:0/96 (IPv4-mapped) or ::/96 (IPv4-compatible). Node's
 * BlockList matches an IPv4 client against any IPv6 subnet covering ::ffff:0:0/96, so
 * ::/32 would admit every IPv4 address.
 */
function cidrEntry(what: string, why: { open: string; wide: string }): JSONSchemaProps {
  const c = 'cidr(self)';
  const mappedText = matches('self', IPV4_MAPPED_TEXT_RE);
  return str('A CIDR.', {
    maxLength: 64,
    'x-kubernetes-validations': [
      rule(`isCIDR(self) || ${mappedText}`, `each ${what} entry must be a CIDR in address/prefix form, such as 10.0.0.0/8 or fd00:10::/48 (a single host is /32 or /128)`),
      rule(
        `isCIDR(self) || !${mappedText}`,
        `${what} must not contain IPv4-mapped IPv6 networks such as ::ffff:10.0.0.0/104: IPv4 clients would match them; list IPv4 networks as IPv4 CIDRs such as 10.0.0.0/8`,
      ),
      rule(
        `!isCIDR(self) || ${c}.prefixLength() != 0`,
        `${what} must not contain 0.0.0.0/0 or ::/0: ${why.open}`,
      ),
      rule(
        `!isCIDR(self) || ${c}.prefixLength() == 0 || ${c}.prefixLength() >= (${c}.ip().family() == 4 ? ${LIMITS.minIPv4Prefix} : ${LIMITS.minIPv6Prefix})`,
        `${what} prefixes must be at least /${LIMITS.minIPv4Prefix} for IPv4 and /${LIMITS.minIPv6Prefix} for IPv6: ${why.wide}`,
      ),
      rule(
        `!isCIDR(self) || ${c}.ip() == ${c}.masked().ip()`,
        `each ${what} entry must be a network address with no host bits set, such as 10.0.0.0/8 rather than 10.1.2.3/8`,
        { messageExpression: `'${what} entry ' + self + ' has host bits set: write the network address (such as 10.0.0.0/8 rather than 10.1.2.3/8), or /32 or /128 for a single host'` },
      ),
      rule(
        // ::fffe:0:0/95 is the parent of ::ffff:0:0/96: any prefix up to /95 holds one iff it holds the other,
        // and ::ffff:0:0/96 itself (or anything inside it) is IPv4-mapped, which isCIDR already refuses.
        `!isCIDR(self) || ${c}.ip().family() != 6 || !(${c}.containsCIDR('::fffe:0:0/95') || ${c}.containsCIDR('::/96') || cidr('::/96').containsCIDR(${c}))`,
        `IPv6 ${what} entries must not overlap ::ffff:0:0/96 (IPv4-mapped) or ::/96 (IPv4-compatible): IPv4 clients would match them; list IPv4 networks as IPv4 CIDRs such as 10.0.0.0/8`,
        {
          messageExpression: `'${what} entry ' + self + ' overlaps ::ffff:0:0/96 (IPv4-mapped) or ::/96 (IPv4-compatible): IPv4 clients would match it; list IPv4 networks as IPv4 CIDRs such as 10.0.0.0/8'`,
        },
      ),
    ],
  });
}

// ---- spec ------------------------------------------------------------------

const listener = (name: 'submission' | 'submissions', portNumber: number, mode: string): JSONSchemaProps =>
  obj(
    `The ${name} listener (${mode}, authenticated senders only). Enabled on port ${portNumber} by default.`,
    {
      enabled: bool(`Whether the ${name} listener runs.`, { default: true }),
      port: port('Container and Service port, 1-65535. Must differ from the other enabled listeners\' ports.', portNumber),
      proxyProtocol: obj(
        `Accept a PROXY protocol v2 header on the ${name} listener, only from trustedProxies (your load balancers). The client address it carries ` +
          'then counts for every per-client limit and log line. Unset: PROXY headers are refused. Turn it on only when every connection comes through such a load balancer.',
        {
          trustedProxies: arr(
            `Load balancer networks allowed to send a PROXY header, as CIDRs (same rules as listeners.relay.allowedNetworks: no /0, nothing wider than /${LIMITS.minIPv4Prefix} or /${LIMITS.minIPv6Prefix}, ` +
              `no host bits, no IPv6 network overlapping ::ffff:0:0/96 or ::/96). 1 to ${LIMITS.trustedProxies} entries.`,
            cidrEntry(`listeners.${name}.proxyProtocol.trustedProxies`, {
              open: 'any client could then claim any source address in a PROXY header; list your load balancers\' networks',
              wide: 'wider networks would let clients that are not your load balancers claim any source address',
            }),
            { minItems: 1, maxItems: LIMITS.trustedProxies, 'x-kubernetes-list-type': 'set' },
          ),
        },
        { required: ['trustedProxies'] },
      ),
    },
    { default: {} },
  );

const relayOn = field('self', 'enabled', 'false');

const relayListener = obj(
  'The unauthenticated relay listener (STARTTLS, no AUTH) for in-cluster applications that cannot authenticate. ' +
    'Off by default. When enabled it accepts mail only from allowedNetworks and only for senders in allowedSenderDomains, so it is never an open relay.',
  {
    enabled: bool('Whether the relay listener runs.', { default: false }),
    port: port('Container and Service port, 1-65535. Must differ from the submission and submissions ports.', DEFAULTS.relayPort),
    allowedNetworks: arr(
      `Client networks allowed to use the relay listener, as CIDRs (10.0.0.0/8, fd00:10::/48; a single host is /32 or /128). ` +
        `Required and non-empty when the listener is enabled. 0.0.0.0/0 and ::/0 are refused, and so is any prefix shorter than ` +
        `/${LIMITS.minIPv4Prefix} (IPv4) or /${LIMITS.minIPv6Prefix} (IPv6): such a listener is too close to an open relay. ` +
        `Entries must be network addresses (10.0.0.0/8, not 10.1.2.3/8). At most ${LIMITS.networkList} entries.`,
      cidrEntry('allowedNetworks', {
        open: 'that would make the relay listener an open relay; list the networks your senders use',
        wide: 'wider networks are too close to an open relay',
      }),
      // Default [] (applied only when relay is given) so a stored relay listener always has both arrays, as types.ts says.
      { maxItems: LIMITS.networkList, default: [], 'x-kubernetes-list-type': 'set' },
    ),
    allowedSenderDomains: domainList(
      'Sender (MAIL FROM) domains the relay listener accepts. Required and non-empty when the listener is enabled: it has no AUTH, so this and allowedNetworks are what keep it from being an open relay.',
      'listeners.relay.allowedSenderDomains',
      [],
    ),
  },
  {
    'x-kubernetes-validations': [
      rule(
        `!${relayOn} || size(self.allowedNetworks) > 0`,
        'listeners.relay.allowedNetworks must list at least one CIDR when the relay listener is enabled: it accepts mail without AUTH only from these networks',
        { fieldPath: '.allowedNetworks', reason: 'FieldValueRequired' },
      ),
      rule(
        `!${relayOn} || size(self.allowedSenderDomains) > 0`,
        'listeners.relay.allowedSenderDomains must list at least one domain when the relay listener is enabled: without it the relay listener would be an open relay',
        { fieldPath: '.allowedSenderDomains', reason: 'FieldValueRequired' },
      ),
    ],
  },
);

const subOn = field('self', 'submission.enabled', 'true');
const subsOn = field('self', 'submissions.enabled', 'true');
const relOn = field('self', 'relay.enabled', 'false');
const subPort = field('self', 'submission.port', String(DEFAULTS.submissionPort));
const subsPort = field('self', 'submissions.port', String(DEFAULTS.submissionsPort));
const relPort = field('self', 'relay.port', String(DEFAULTS.relayPort));

const listeners = obj(
  'Which SMTP listeners the relay runs. By default submission (587, STARTTLS) and submissions (465, implicit TLS) are on and relay is off. ' +
    'At least one listener must be enabled and enabled listeners need distinct ports.',
  {
    submission: listener('submission', DEFAULTS.submissionPort, 'STARTTLS'),
    submissions: listener('submissions', DEFAULTS.submissionsPort, 'implicit TLS'),
    relay: relayListener,
  },
  {
    default: {},
    'x-kubernetes-validations': [
      rule(
        `${subOn} || ${subsOn} || ${relOn}`,
        'at least one listener must be enabled: set listeners.submission.enabled, listeners.submissions.enabled or listeners.relay.enabled to true',
      ),
      rule(
        `!(${subOn} && ${subsOn} && ${subPort} == ${subsPort})`,
        'listeners.submission.port and listeners.submissions.port must differ: each enabled listener needs its own port',
        { fieldPath: '.submissions.port' },
      ),
      rule(
        `!(${relOn} && ${subOn} && ${relPort} == ${subPort})`,
        'listeners.relay.port must differ from listeners.submission.port: the unauthenticated relay listener needs its own port',
        { fieldPath: '.relay.port' },
      ),
      rule(
        `!(${relOn} && ${subsOn} && ${relPort} == ${subsPort})`,
        'listeners.relay.port must differ from listeners.submissions.port: the unauthenticated relay listener needs its own port',
        { fieldPath: '.relay.port' },
      ),
    ],
  },
);

function issuerRefSchema(description: string, path: string): JSONSchemaProps {
  return obj(
    description,
    {
      name: objectName('Name of the Issuer (in the SmtpRelay\'s namespace) or ClusterIssuer.', `${path}.name`),
      kind: str('Issuer or ClusterIssuer.', { enum: ['Issuer', 'ClusterIssuer'], default: 'Issuer' }),
      group: str('API group of the issuer.', {
        default: 'cert-manager.io',
        maxLength: LIMITS.dnsNameLength,
        'x-kubernetes-validations': [rule(matches('self', FQDN_RE), `${path}.group must be a lowercase API group name such as cert-manager.io`)],
      }),
    },
    { required: ['name'] },
  );
}

const issuerRef = issuerRefSchema(
  'The cert-manager issuer that issues and renews the relay\'s certificate. The operator creates a Certificate for hostname and additionalDNSNames.',
  'tls.issuerRef',
);

const internalCertificate = obj(
  'Optional second certificate for the in-cluster Service names, which a public certificate (Let\'s Encrypt) cannot carry: <name>.<namespace>.svc, ' +
    '<name>.<namespace>.svc.cluster.local, <name>.<namespace> and <name> (and the same for <name>-internal while the relay listener is on). ' +
    'The operator creates the cert-manager Certificate <name>-internal-tls (Secret <name>-internal-tls) from an in-cluster issuer, for example a CA ClusterIssuer; ' +
    'the relay serves it to clients that ask for one of those names by SNI, and the public certificate to everyone else. Remove it to delete that Certificate.',
  {
    issuerRef: issuerRefSchema(
      'The in-cluster cert-manager issuer (for example a CA ClusterIssuer) that issues the certificate for the Service names. An ACME issuer cannot: it refuses .svc names.',
      'tls.internalCertificate.issuerRef',
    ),
  },
  { required: ['issuerRef'] },
);

const tlsHasDurations = `has(self.duration) && has(self.renewBefore) && ${matches('self.duration', GO_DURATION_RE)} && ${matches('self.renewBefore', GO_DURATION_RE)}`;

const tls = obj(
  'The certificate the relay serves and the TLS versions it accepts. Set exactly one of issuerRef (cert-manager) or secretName (your own kubernetes.io/tls Secret).',
  {
    issuerRef,
    secretName: objectName(
      'An existing kubernetes.io/tls Secret (keys tls.crt and tls.key) in the SmtpRelay\'s namespace, for certificates managed outside cert-manager. ' +
        'The operator reads it but never writes it; a missing or malformed Secret is reported in the CertificateReady condition.',
      'tls.secretName',
    ),
    additionalDNSNames: arr(
      'More DNS names the certificate must cover besides hostname, for example a second MX name. With issuerRef they are added to the Certificate; ' +
        'a leading wildcard label (*.example.com) is allowed. Must not repeat hostname.',
      str('A lowercase DNS name, optionally *.-prefixed.', {
        maxLength: LIMITS.dnsNameLength,
        'x-kubernetes-validations': [
          rule(
            matches('self', WILDCARD_FQDN_RE),
            "each tls.additionalDNSNames entry must be a lowercase fully-qualified domain name such as mx2.example.com, optionally starting with '*.'",
          ),
        ],
      }),
      { maxItems: 20, 'x-kubernetes-list-type': 'set' },
    ),
    duration: goDuration(
      'Requested certificate lifetime as a Go duration (e.g. 2160h for 90 days). Only with issuerRef; at least 1h (cert-manager\'s minimum). Unset: the issuer\'s default.',
      'tls.duration',
      [rule(durationCompare('self', '>=', '1h'), 'tls.duration must be at least 1h (cert-manager refuses shorter certificates)')],
    ),
    renewBefore: goDuration(
      'How long before expiry cert-manager renews, as a Go duration (e.g. 720h). Only with issuerRef; at least 5m and shorter than duration.',
      'tls.renewBefore',
      [rule(durationCompare('self', '>=', '5m'), 'tls.renewBefore must be at least 5m (cert-manager\'s minimum)')],
    ),
    minVersion: str(
      'Lowest TLS version the relay accepts. TLSv1.3 is required with profile modern (TLS 1.3 only); TLSv1.0 and TLSv1.1 are never offered.',
      { enum: ['TLSv1.2', 'TLSv1.3'], default: DEFAULTS.minVersion },
    ),
    profile: str(
      'Mozilla server-side TLS profile for cipher suites and groups: intermediate (TLS 1.2 and 1.3, ECDHE+AEAD suites only) or modern (TLS 1.3 only, needs minVersion TLSv1.3).',
      { enum: ['intermediate', 'modern'], default: DEFAULTS.profile },
    ),
    internalCertificate,
  },
  {
    'x-kubernetes-validations': [
      rule(
        'has(self.issuerRef) || has(self.secretName)',
        'tls needs a certificate source: set tls.issuerRef (cert-manager issues and renews the certificate) or tls.secretName (an existing kubernetes.io/tls Secret)',
        { reason: 'FieldValueRequired' },
      ),
      rule(
        '!(has(self.issuerRef) && has(self.secretName))',
        'tls.issuerRef and tls.secretName are mutually exclusive: keep issuerRef for a cert-manager certificate or secretName for your own Secret, not both',
        { fieldPath: '.secretName', reason: 'FieldValueForbidden' },
      ),
      rule(
        '!has(self.duration) || has(self.issuerRef)',
        'tls.duration only applies to certificates issued through tls.issuerRef: remove it when you bring your own Secret',
        { fieldPath: '.duration', reason: 'FieldValueForbidden' },
      ),
      rule(
        '!has(self.renewBefore) || has(self.issuerRef)',
        'tls.renewBefore only applies to certificates issued through tls.issuerRef: remove it when you bring your own Secret',
        { fieldPath: '.renewBefore', reason: 'FieldValueForbidden' },
      ),
      rule(
        `!(${tlsHasDurations}) || duration(self.renewBefore) < duration(self.duration)`,
        'tls.renewBefore must be shorter than tls.duration, or cert-manager would renew the certificate continuously',
        { fieldPath: '.renewBefore' },
      ),
      rule(
        `${field('self', 'profile', `'${DEFAULTS.profile}'`)} != 'modern' || ${field('self', 'minVersion', `'${DEFAULTS.minVersion}'`)} == 'TLSv1.3'`,
        'tls.profile modern is TLS 1.3 only: also set tls.minVersion: TLSv1.3 (minVersion defaults to TLSv1.2), or use profile intermediate',
        { fieldPath: '.minVersion' },
      ),
    ],
  },
);

const upstream = upstreamSchema;

const auth = obj(
  'Users allowed to send through the submission and submissions listeners (AUTH PLAIN/LOGIN, only after TLS). Required while either of those listeners is enabled.',
  {
    secretRef: secretRef(
      'Secret whose keys are usernames and whose values are passwords or bcrypt hashes ($2a$/$2b$/$2y$). The relay hot-reloads changes (no pod restart).',
      'auth.secretRef',
    ),
    senders: arr(
      'Binds users to the senders they may use (envelope MAIL FROM and header From:), like Postfix smtpd_sender_login_maps. ' +
        'A user listed here may send only as its allowed addresses or domains; a user not listed may use policy.allowedSenderDomains. ' +
        `At most ${LIMITS.senderBindings} users.`,
      obj(
        'One user and the senders it may use.',
        {
          user: str('User name: a key of the auth Secret, at most 128 characters.', {
            minLength: 1,
            maxLength: 128,
            'x-kubernetes-validations': [
              rule(matches('self', SECRET_KEY_RE), "auth.senders[].user must be a user name from the auth Secret: letters, digits, '-', '_' and '.'"),
            ],
          }),
          allowed: arr(
            `Full addresses (billing@example.com) or whole domains written with a leading @ (@invoices.example.com). 1 to ${LIMITS.sendersPerUser} entries.`,
            str('An address or @domain.', {
              maxLength: 254,
              'x-kubernetes-validations': [
                rule(
                  matches('self', SENDER_RE),
                  'each auth.senders[].allowed entry must be an address such as billing@example.com or a whole domain such as @invoices.example.com, with a lowercase domain',
                ),
              ],
            }),
            { minItems: 1, maxItems: LIMITS.sendersPerUser, 'x-kubernetes-list-type': 'set' },
          ),
        },
        { required: ['user', 'allowed'] },
      ),
      { maxItems: LIMITS.senderBindings, 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['user'] },
    ),
  },
  { required: ['secretRef'] },
);

const policy = obj(
  'What the relay accepts from authenticated senders.',
  {
    allowedSenderDomains: domainList(
      'Sender (MAIL FROM) domains authenticated users may use. Empty or unset: any domain. Lowercase domain names, at most 100.',
      'policy.allowedSenderDomains',
    ),
    maxMessageBytes: int64(
      `Largest message accepted, in bytes (advertised as SIZE). ${LIMITS.maxMessageBytes.min} (1 KiB) to ${LIMITS.maxMessageBytes.max} (100 MiB).`,
      { minimum: LIMITS.maxMessageBytes.min, maximum: LIMITS.maxMessageBytes.max, default: DEFAULTS.maxMessageBytes },
    ),
    maxRecipients: int32(`Most RCPT TO per message, ${LIMITS.maxRecipients.min} to ${LIMITS.maxRecipients.max}.`, {
      minimum: LIMITS.maxRecipients.min,
      maximum: LIMITS.maxRecipients.max,
      default: DEFAULTS.maxRecipients,
    }),
    rateLimit: obj(
      'Per-user message rate limit (token bucket). Unset: no rate limit.',
      {
        messagesPerMinute: int32(`Sustained messages per user per minute, ${LIMITS.messagesPerMinute.min} to ${LIMITS.messagesPerMinute.max}.`, {
          minimum: LIMITS.messagesPerMinute.min,
          maximum: LIMITS.messagesPerMinute.max,
        }),
        burst: int32(`Messages a user may send at once before the rate applies, 1 to ${LIMITS.messagesPerMinute.max}. Unset: equal to messagesPerMinute.`, {
          minimum: 1,
          maximum: LIMITS.messagesPerMinute.max,
        }),
      },
      { required: ['messagesPerMinute'] },
    ),
  },
  { default: {} },
);

const limits = obj(
  'Per-client limits of every relay pod. A client is an IPv4 address or an IPv6 /64 (with PROXY protocol: the address the header carries). Unset fields take the defaults shown.',
  {
    maxConnectionsPerClient: int32(
      `Concurrent connections one client may hold per listener, ${LIMITS.maxConnectionsPerClient.minimum} to ${LIMITS.maxConnectionsPerClient.maximum}; more are turned away with a temporary error.`,
      { ...LIMITS.maxConnectionsPerClient, default: DEFAULTS.maxConnectionsPerClient },
    ),
    connectionRatePerMinute: int32(
      `New connections one client may open per minute per listener, ${LIMITS.connectionRatePerMinute.minimum} to ${LIMITS.connectionRatePerMinute.maximum}; more are turned away with a temporary error.`,
      { ...LIMITS.connectionRatePerMinute, default: DEFAULTS.connectionRatePerMinute },
    ),
    authFailuresPerMinute: int32(
      `Failed AUTH attempts allowed per client and per user name within authFailureWindow, ${LIMITS.authFailuresPerMinute.minimum} to ${LIMITS.authFailuresPerMinute.maximum}; ` +
        'further attempts are refused until the window has passed.',
      { ...LIMITS.authFailuresPerMinute, default: DEFAULTS.authFailuresPerMinute },
    ),
    authFailureWindow: goDuration(
      'The window authFailuresPerMinute counts over, a Go duration from 10s to 24h.',
      'limits.authFailureWindow',
      [
        rule(durationCompare('self', '>=', '10s'), 'limits.authFailureWindow must be at least 10s'),
        rule(durationCompare('self', '<=', '24h'), 'limits.authFailureWindow must be at most 24h'),
      ],
      DEFAULTS.authFailureWindow,
    ),
  },
);

const service = obj(
  'The Service in front of the relay pods. It carries the submission and submissions ports only: the unauthenticated relay listener always gets its own ClusterIP Service, <name>-internal, so it never rides on a load balancer or node port.',
  {
    type: str('Service type.', { enum: ['ClusterIP', 'NodePort', 'LoadBalancer'], default: DEFAULTS.serviceType }),
    annotations: stringMap('Annotations on the Service, e.g. for a cloud load balancer.', { maxProperties: 64 }),
    externalTrafficPolicy: str('Local keeps client source addresses (per-client limits then see real clients; or use listeners.*.proxyProtocol). Only for NodePort and LoadBalancer.', {
      enum: ['Cluster', 'Local'],
    }),
    ipFamilyPolicy: str('IP families of the Service.', { enum: ['SingleStack', 'PreferDualStack', 'RequireDualStack'] }),
  },
  {
    default: {},
    'x-kubernetes-validations': [
      rule(
        `!has(self.externalTrafficPolicy) || ${field('self', 'type', `'${DEFAULTS.serviceType}'`)} != 'ClusterIP'`,
        'service.externalTrafficPolicy only applies to NodePort and LoadBalancer Services: remove it or set service.type',
        { fieldPath: '.externalTrafficPolicy', reason: 'FieldValueForbidden' },
      ),
    ],
  },
);

const healthCheck = obj(
  'The operator\'s TLS probes of every enabled endpoint. Results go to status.endpoints, status.tlsHealth and the TLSHealthy condition.',
  {
    enabled: bool('Whether the operator probes the endpoints.', { default: true }),
    interval: goDuration(
      'Time between probes of each endpoint, a Go duration from 10s to 24h.',
      'healthCheck.interval',
      [
        rule(durationCompare('self', '>=', '10s'), 'healthCheck.interval must be at least 10s'),
        rule(durationCompare('self', '<=', '24h'), 'healthCheck.interval must be at most 24h'),
      ],
      DEFAULTS.healthInterval,
    ),
    expiryWarning: goDuration(
      'Warn (TLSHealthy reason CertificateExpiringSoon) when the served certificate expires within this Go duration. At least 1h.',
      'healthCheck.expiryWarning',
      [rule(durationCompare('self', '>=', '1h'), 'healthCheck.expiryWarning must be at least 1h')],
      DEFAULTS.expiryWarning,
    ),
  },
  { default: {} },
);

const toleration = obj('A pod toleration (core/v1 Toleration).', {
  key: str('Taint key; empty with operator Exists matches all taints.', { maxLength: 316 }),
  operator: str('Exists or Equal (the default).', { enum: ['Exists', 'Equal'] }),
  value: str('Taint value, for operator Equal.', { maxLength: 63 }),
  effect: str('Taint effect to match; unset matches all effects.', { enum: ['NoSchedule', 'PreferNoSchedule', 'NoExecute'] }),
  tolerationSeconds: int64('For NoExecute: how long the pod stays bound after the taint appears.'),
});

const pod = obj('Scheduling and resource settings copied into the relay pods.', {
  resources: obj('Compute resources of the relay container (core/v1 ResourceRequirements).', {
    limits: quantityMap('Resource limits, e.g. cpu: 500m, memory: 256Mi.', 'pod.resources.limits'),
    requests: quantityMap('Resource requests, e.g. cpu: 50m, memory: 64Mi.', 'pod.resources.requests'),
  }),
  nodeSelector: stringMap('Node labels the relay pods must match.', { maxProperties: 32 }),
  tolerations: arr('Tolerations of the relay pods.', toleration, { maxItems: 32 }),
  affinity: passthrough('core/v1 Affinity of the relay pods, passed through; the API server validates it when the operator applies the Deployment.'),
  topologySpreadConstraints: arr(
    'core/v1 TopologySpreadConstraints of the relay pods, passed through. Unset: the operator spreads replicas across nodes where it can.',
    passthrough('A core/v1 TopologySpreadConstraint.'),
    { maxItems: 8 },
  ),
  annotations: stringMap('Annotations on the relay pods.', { maxProperties: 64 }),
  priorityClassName: objectName('PriorityClass of the relay pods.', 'pod.priorityClassName'),
});

const retryBackoff = (what: 'minBackoff' | 'maxBackoff', description: string, dflt: string): JSONSchemaProps =>
  goDuration(description, `queue.retry.${what}`, [
    rule(durationCompare('self', '>=', '1s'), `queue.retry.${what} must be at least 1s`),
    rule(durationCompare('self', '<=', '24h'), `queue.retry.${what} must be at most 24h`),
  ], dflt);

const bothDurations = (a: string, b: string) => `has(${a}) && has(${b}) && ${matches(a, GO_DURATION_RE)} && ${matches(b, GO_DURATION_RE)}`;

const queue = obj(
  'Where mail waits while the upstream is down, slow or refusing. Durable (the default): the relay runs as a StatefulSet, each pod queues on its own ' +
    'PersistentVolumeClaim, answers 250 only once a message is fsynced there, and retries it until maxAge; before a replica is removed (scale-down, ' +
    'switching to PassThrough) the operator drains it. PassThrough: a Deployment without storage; the client gets the upstream\'s answer (451 when it is down) and must retry itself.',
  {
    mode: str('Durable (a queue on a PersistentVolumeClaim per pod) or PassThrough (no storage: the client retries).', {
      enum: ['Durable', 'PassThrough'],
      default: DEFAULTS.queueMode,
    }),
    storage: obj(
      'The PersistentVolumeClaim each Durable pod gets (ReadWriteOnce). Fixed once created: StatefulSet claim templates cannot change.',
      {
        size: str(`Requested size, a Kubernetes quantity of at least ${LIMITS.queueStorageMin} (default ${DEFAULTS.queueStorageSize}).`, {
          maxLength: 64,
          default: DEFAULTS.queueStorageSize,
          'x-kubernetes-validations': [
            rule(
              `isQuantity(self) && quantity(self).compareTo(quantity('${LIMITS.queueStorageMin}')) >= 0`,
              `queue.storage.size must be a Kubernetes quantity of at least ${LIMITS.queueStorageMin}, such as 1Gi or 10Gi`,
            ),
          ],
        }),
        storageClassName: objectName('StorageClass of the claims. Unset: the cluster\'s default StorageClass.', 'queue.storage.storageClassName'),
      },
      {
        default: {},
        'x-kubernetes-validations': [
          rule(
            'self == oldSelf',
            'queue.storage cannot be changed once set: StatefulSet volume claim templates are immutable. To grow the queue, expand each PersistentVolumeClaim directly (if its StorageClass allows expansion)',
          ),
        ],
      },
    ),
    maxAge: goDuration(
      `How long a message is retried before it bounces (a DSN with status 4.4.7 to the sender), a Go duration from 1m to 2400h. Default ${DEFAULTS.queueMaxAge} (5 days, as Postfix\'s maximal_queue_lifetime).`,
      'queue.maxAge',
      [
        rule(durationCompare('self', '>=', '1m'), 'queue.maxAge must be at least 1m'),
        rule(durationCompare('self', '<=', '2400h'), 'queue.maxAge must be at most 2400h (100 days)'),
      ],
      DEFAULTS.queueMaxAge,
    ),
    retry: obj(
      'Backoff between delivery attempts of a deferred message: exponential with jitter, from minBackoff up to maxBackoff.',
      {
        minBackoff: retryBackoff('minBackoff', `Shortest wait before a retry, a Go duration from 1s to 24h. Default ${DEFAULTS.queueMinBackoff} (as Postfix).`, DEFAULTS.queueMinBackoff),
        maxBackoff: retryBackoff('maxBackoff', `Longest wait between retries, a Go duration from 1s to 24h, at least minBackoff. Default ${DEFAULTS.queueMaxBackoff} (as Postfix).`, DEFAULTS.queueMaxBackoff),
      },
      {
        default: {},
        'x-kubernetes-validations': [
          rule(
            `!(${bothDurations('self.minBackoff', 'self.maxBackoff')}) || duration(self.minBackoff) <= duration(self.maxBackoff)`,
            'queue.retry.minBackoff must not be longer than queue.retry.maxBackoff: raise maxBackoff or lower minBackoff',
            { fieldPath: '.minBackoff' },
          ),
        ],
      },
    ),
  },
  { default: {} },
);

export const specSchema: JSONSchemaProps = obj(
  'Desired state of the relay.',
  {
    hostname: fqdn(
      'The name clients connect to and the relay announces in its greeting (EHLO/banner); the certificate must cover it. Lowercase fully-qualified domain name, e.g. smtp.example.com.',
      'spec.hostname',
    ),
    replicas: int32(`Relay pods to run, ${LIMITS.replicas.min} to ${LIMITS.replicas.max}. 0 stops the relay but keeps its configuration.`, {
      minimum: LIMITS.replicas.min,
      maximum: LIMITS.replicas.max,
      default: DEFAULTS.replicas,
    }),
    image: str('Relay container image override. Unset: the image the operator was started with.', {
      maxLength: 512,
      'x-kubernetes-validations': [rule(matches('self', '^[^\\s]+$'), 'image must be a container image reference without spaces, such as registry.example.com/smtp-relay-operator:1.2.3')],
    }),
    listeners,
    tls,
    auth,
    users: obj('SmtpUsers: credentials other namespaces ask for by applying an SmtpUser. Off unless a namespace selector is set.', {
      namespaceSelector: labelSelectorSchema(
        'Namespaces whose SmtpUsers may attach to this relay. Unset: none, not even the relay\'s own namespace. {} selects every namespace; select one by name with matchLabels {kubernetes.io/metadata.name: NAME}. Managed users are hot-reloaded by the relay (no pod restart) and merged with auth.secretRef\'s users (a static user wins on a name clash).',
      ),
    }),
    upstream,
    upstreams: upstreamsSchema,
    routes: routesSchema,
    policy,
    dkim,
    limits,
    service,
    healthCheck,
    pod,
    queue,
  },
  {
    required: ['hostname', 'tls'],
    'x-kubernetes-validations': [
      rule(
        `has(self.auth) || !(${field('self', 'listeners.submission.enabled', 'true')} || ${field('self', 'listeners.submissions.enabled', 'true')})`,
        'spec.auth.secretRef is required while the submission or submissions listener is enabled: those listeners only relay for authenticated users. Add auth, or disable both listeners and use the relay listener',
        { fieldPath: '.auth', reason: 'FieldValueRequired' },
      ),
      rule(
        '!has(self.tls.additionalDNSNames) || !(self.hostname in self.tls.additionalDNSNames)',
        'tls.additionalDNSNames must not repeat spec.hostname: the certificate always covers hostname',
        { fieldPath: '.tls.additionalDNSNames' },
      ),
      rule(
        `!has(self.dkim) || size(${field('self', 'policy.allowedSenderDomains', '[]')}) > 0`,
        'policy.allowedSenderDomains must list at least one domain when dkim is set: the relay signs with your keys, so authenticated users must be limited to the domains you sign for',
        { fieldPath: '.policy.allowedSenderDomains', reason: 'FieldValueRequired' },
      ),
      dkimDomainsAllowedRule(),
      ...upstreamSpecRules,
    ],
  },
);

// ---- status ----------------------------------------------------------------

const timestamp = (description: string): JSONSchemaProps => str(description, { format: 'date-time' });

export const condition = obj(
  'A metav1.Condition.',
  {
    type: str('Condition type: Ready, Reconciling, Stalled, CertificateReady, Available, TLSHealthy, Delivering, UpstreamsHealthy or MailAuthentication.', {
      maxLength: 316,
      pattern: '^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$',
    }),
    status: str('True, False or Unknown.', { enum: ['True', 'False', 'Unknown'] }),
    observedGeneration: int64('metadata.generation the condition was computed from.', { minimum: 0 }),
    lastTransitionTime: timestamp('When the status last changed.'),
    reason: str('Stable CamelCase reason, for alerts (e.g. SecretNotFound, CertificateExpiringSoon).', {
      minLength: 1,
      maxLength: 1024,
      pattern: '^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$',
    }),
    message: str('Human-readable detail that says what to do.', { maxLength: 32768 }),
  },
  { required: ['type', 'status', 'lastTransitionTime', 'reason', 'message'] },
);

const endpointStatus = obj(
  'What the operator\'s probe found on one listener endpoint.',
  {
    name: str('Listener name: submission, submissions or relay.', { maxLength: 63 }),
    port: int32('Port probed.', { minimum: 1, maximum: 65535 }),
    mode: str('starttls or implicit.', { enum: ['starttls', 'implicit'] }),
    healthy: bool('True when every check passed (warnings allowed).'),
    tlsVersion: str('Negotiated TLS version, e.g. TLSv1.3.'),
    cipher: str('Negotiated cipher suite (IANA name).'),
    group: str('Negotiated key-exchange group, e.g. X25519MLKEM768.'),
    notAfter: timestamp('Expiry of the certificate served.'),
    fingerprint: str('SHA-256 of the served leaf certificate (DER), lowercase hex.'),
    serverName: str('The name the probe asked for by SNI and checked the certificate against: spec.hostname, or for a <listener>-in-cluster entry the in-cluster Service name (tls.internalCertificate).', { maxLength: 253 }),
    matchesSecret: bool('Whether the served certificate is the one in the TLS Secret (false means a stale certificate is served).'),
    hostnameVerified: bool('Whether the served certificate covers spec.hostname.'),
    chainVerified: bool('Whether the chain verifies to a trusted root.'),
    authBeforeTLS: bool('Whether AUTH was offered before TLS (must be false).'),
    legacyProtocolsRefused: bool('Whether TLS 1.0/1.1 handshakes were refused.'),
    failures: arr(
      'Checks that warned or failed.',
      obj(
        'One check that did not pass.',
        {
          check: str('Check name.'),
          result: str('warn or fail.', { enum: ['warn', 'fail'] }),
          reason: str('Stable CamelCase reason.'),
          message: str('Detail.'),
        },
        { required: ['check', 'result', 'reason'] },
      ),
      { maxItems: 32, 'x-kubernetes-list-type': 'atomic' },
    ),
    latencyMilliseconds: int64('Probe duration in milliseconds.', { minimum: 0 }),
    lastProbeTime: timestamp('When the last probe finished.'),
    lastDeepScanTime: timestamp('When the last deep scan (legacy protocols, cipher enumeration) finished.'),
  },
  { required: ['name', 'port', 'mode', 'healthy'] },
);

export const statusSchema: JSONSchemaProps = obj('Observed state, written by the operator.', {
  observedGeneration: int64('metadata.generation of the spec this status describes.', { minimum: 0 }),
  conditions: arr('kstatus conditions: Ready, Reconciling, Stalled, CertificateReady, Available, TLSHealthy, Delivering, UpstreamsHealthy, MailAuthentication.', condition, {
    maxItems: 16,
    'x-kubernetes-list-type': 'map',
    'x-kubernetes-list-map-keys': ['type'],
  }),
  replicas: int32('Relay pods that exist.', { minimum: 0 }),
  readyReplicas: int32('Relay pods that are ready.', { minimum: 0 }),
  selector: str('The relay pods\' label selector, as a string: the scale subresource reports it, so a HorizontalPodAutoscaler or KEDA finds the pods whose metrics it reads.', { maxLength: 512 }),
  certificate: obj('The certificate in the TLS Secret.', {
    secretName: str('Secret holding the certificate.'),
    notBefore: timestamp('Start of validity.'),
    notAfter: timestamp('End of validity.'),
    renewalTime: timestamp('When cert-manager will renew it (issuerRef only).'),
    fingerprint: str('SHA-256 of the leaf certificate (DER), lowercase hex without colons.'),
  }),
  endpoints: arr('Probe results per enabled listener.', endpointStatus, {
    maxItems: 8,
    'x-kubernetes-list-type': 'map',
    'x-kubernetes-list-map-keys': ['name'],
  }),
  tlsHealth: str('Summary for the TLS printer column.', { enum: ['Healthy', 'Degraded', 'Unhealthy', 'Unknown'] }),
  queue: obj('The mail queue in buckets (never a live depth; the relays\' metrics have the numbers).', {
    state: str(
      'Summary for the Queue printer column: Empty, Backlog (mail waiting, being delivered), Stuck (mail deferred or old), Draining (replicas delivering before removal), ' +
        'Stranded (a claim left holding mail after a drain timed out), PassThrough (no queue) or Unknown (not read yet).',
      { enum: ['Empty', 'Backlog', 'Stuck', 'Draining', 'Stranded', 'PassThrough', 'Unknown'] },
    ),
    drain: obj('A drain in progress: these pods stop accepting and deliver what they hold before the workload shrinks or is replaced.', {
      reason: str('ScaleDown or ModeSwitch.', { enum: ['ScaleDown', 'ModeSwitch'] }),
      pods: arr('Pods draining.', str('A pod name.', { maxLength: 253 }), { maxItems: 64, 'x-kubernetes-list-type': 'atomic' }),
      startTime: timestamp('When the drain started (the drain timeout counts from here).'),
    }),
    strandedClaims: arr(
      'PersistentVolumeClaims a timed-out drain left holding mail. Scale back up to deliver it, or delete the claim to discard it.',
      obj(
        'One claim.',
        {
          claim: str('PersistentVolumeClaim name.', { maxLength: 253 }),
          messages: int64('Messages it held when the drain gave up; absent when its pod could not be read.', { minimum: 0 }),
          strandedTime: timestamp('When the drain gave up and left the claim holding mail.'),
        },
        { required: ['claim', 'strandedTime'] },
      ),
      { maxItems: 64, 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['claim'] },
    ),
  }, { required: ['state'] }),
  senderDomains: senderDomainsStatusSchema,
});

// ---- the whole object --------------------------------------------------------

export const smtpRelaySchema: JSONSchemaProps = obj(
  'SmtpRelay runs a secure SMTP relay (submission on 587 with STARTTLS, submissions on 465 with implicit TLS) in front of an upstream smarthost, ' +
    'and reports the TLS each endpoint really serves in its status.',
  {
    apiVersion: str('APIVersion of this object: smtprelay.dev/v1alpha1.'),
    kind: str('Kind of this object: SmtpRelay.'),
    // The API server allows nothing but name/generateName constraints under metadata.
    metadata: {
      type: 'object',
      properties: {
        name: {
          type: 'string',
          'x-kubernetes-validations': [
            rule(
              `size(self) <= ${LIMITS.nameLength} && ${matches('self', DNS1035_LABEL_RE)}`,
              `metadata.name must be at most ${LIMITS.nameLength} characters of lowercase letters, digits and '-', starting with a letter (DNS-1035 label): the operator derives the Service and other child names from it`,
            ),
          ],
        },
      },
    },
    spec: specSchema,
    status: statusSchema,
  },
  { required: ['spec'] },
);

export interface PrinterColumn {
  name: string;
  type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  jsonPath: string;
  description: string;
  priority?: number;
}

export const printerColumns: PrinterColumn[] = [
  { name: 'Hostname', type: 'string', jsonPath: '.spec.hostname', description: 'Name clients connect to.' },
  { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status', description: 'The Ready condition.' },
  { name: 'TLS', type: 'string', jsonPath: '.status.tlsHealth', description: 'TLS health of the served endpoints.' },
  { name: 'Queue', type: 'string', jsonPath: '.status.queue.state', description: 'The mail queue: Empty, Backlog, Stuck, Draining, Stranded or PassThrough.' },
  { name: 'Cert Expiry', type: 'string', jsonPath: '.status.certificate.notAfter', description: 'Expiry (RFC 3339) of the certificate in the TLS Secret. A string column: kubectl renders future dates in date columns as <invalid>.' },
  { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp', description: 'Time since creation.' },
  { name: 'Reason', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].reason', description: 'Reason of the Ready condition.', priority: 1 },
  { name: 'Replicas', type: 'integer', jsonPath: '.status.replicas', description: 'Relay pods that exist (status.readyReplicas of them ready).', priority: 1 },
];
