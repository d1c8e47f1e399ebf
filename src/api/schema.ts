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
  WILDCARD_FQDN_RE,
  durationCompare,
  field,
  matches,
} from './cel.js';
import { type JSONSchemaProps, arr, bool, int32, int64, obj, passthrough, rule, str, stringMap } from './schema-types.js';

// Bounds. Every list and string a CEL rule reads has a maxItems/maxLength so
// the API server can bound the rule's cost when the CRD is created.
export const LIMITS = {
  replicas: { min: 0, max: 50 },
  maxMessageBytes: { min: 1024, max: 104857600 },
  maxRecipients: { min: 1, max: 1000 },
  messagesPerMinute: { min: 1, max: 100000 },
  domainList: 100,
  networkList: 64,
  dnsNameLength: 253,
  durationLength: 32,
  /** Shortest IPv4 / IPv6 prefix allowed on the unauthenticated relay listener. */
  minIPv4Prefix: 8,
  minIPv6Prefix: 32,
  /** metadata.name: the operator derives child names (Service, Deployment, Secrets) from it. */
  nameLength: 50,
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

// ---- spec ------------------------------------------------------------------

const listener = (name: 'submission' | 'submissions', portNumber: number, mode: string): JSONSchemaProps =>
  obj(
    `The ${name} listener (${mode}, authenticated senders only). Enabled on port ${portNumber} by default.`,
    {
      enabled: bool(`Whether the ${name} listener runs.`, { default: true }),
      port: port('Container and Service port, 1-65535. Must differ from the other enabled listeners\' ports.', portNumber),
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
      str('A CIDR.', {
        maxLength: 64,
        'x-kubernetes-validations': [
          rule('isCIDR(self)', 'each allowedNetworks entry must be a CIDR in address/prefix form, such as 10.0.0.0/8 or fd00:10::/48 (a single host is /32 or /128)'),
          rule(
            '!isCIDR(self) || cidr(self).prefixLength() != 0',
            'allowedNetworks must not contain 0.0.0.0/0 or ::/0: that would make the relay listener an open relay; list the networks your senders use',
          ),
          rule(
            `!isCIDR(self) || cidr(self).prefixLength() == 0 || cidr(self).prefixLength() >= (cidr(self).ip().family() == 4 ? ${LIMITS.minIPv4Prefix} : ${LIMITS.minIPv6Prefix})`,
            `allowedNetworks prefixes must be at least /${LIMITS.minIPv4Prefix} for IPv4 and /${LIMITS.minIPv6Prefix} for IPv6: wider networks are too close to an open relay`,
          ),
          rule(
            '!isCIDR(self) || cidr(self).ip() == cidr(self).masked().ip()',
            'each allowedNetworks entry must be a network address with no host bits set, such as 10.0.0.0/8 rather than 10.1.2.3/8',
            { messageExpression: `'allowedNetworks entry ' + self + ' has host bits set: write the network address (such as 10.0.0.0/8 rather than 10.1.2.3/8), or /32 or /128 for a single host'` },
          ),
        ],
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

const issuerRef = obj(
  'The cert-manager issuer that issues and renews the relay\'s certificate. The operator creates a Certificate for hostname and additionalDnsNames.',
  {
    name: objectName('Name of the Issuer (in the SmtpRelay\'s namespace) or ClusterIssuer.', 'tls.issuerRef.name'),
    kind: str('Issuer or ClusterIssuer.', { enum: ['Issuer', 'ClusterIssuer'], default: 'Issuer' }),
    group: str('API group of the issuer.', {
      default: 'cert-manager.io',
      maxLength: LIMITS.dnsNameLength,
      'x-kubernetes-validations': [rule(matches('self', FQDN_RE), 'tls.issuerRef.group must be a lowercase API group name such as cert-manager.io')],
    }),
  },
  { required: ['name'] },
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
    additionalDnsNames: arr(
      'More DNS names the certificate must cover besides hostname, for example a second MX name. With issuerRef they are added to the Certificate; ' +
        'a leading wildcard label (*.example.com) is allowed. Must not repeat hostname.',
      str('A lowercase DNS name, optionally *.-prefixed.', {
        maxLength: LIMITS.dnsNameLength,
        'x-kubernetes-validations': [
          rule(
            matches('self', WILDCARD_FQDN_RE),
            "each tls.additionalDnsNames entry must be a lowercase fully-qualified domain name such as mx2.example.com, optionally starting with '*.'",
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

const upstreamTls = field('self', 'tls', `'${DEFAULTS.upstreamTls}'`);
const insecureOptIn = field('self', 'allowInsecurePlaintext', 'false');

const upstream = obj(
  'The smarthost every accepted message is forwarded to. The relay acknowledges a message only after the upstream has accepted it.',
  {
    host: str('Upstream host name (lowercase DNS name such as smtp.example.com or mailpit.mail.svc) or IP address. Must not be this relay\'s own hostname.', {
      minLength: 1,
      maxLength: LIMITS.dnsNameLength,
      'x-kubernetes-validations': [
        rule(
          `${matches('self', DNS_NAME_RE)} || isIP(self)`,
          'upstream.host must be a lowercase DNS name such as smtp.example.com or an IP address, without port or scheme (the port goes in upstream.port)',
        ),
      ],
    }),
    port: port('Upstream port, 1-65535. 587 for starttls, usually 465 for implicit.', DEFAULTS.upstreamPort),
    tls: str(
      'How the relay secures the upstream connection: starttls (STARTTLS required, refused if the upstream does not offer it), implicit (TLS from the first byte), ' +
        'or none-insecure (plaintext, only with allowInsecurePlaintext: true). The upstream certificate is always verified against system roots plus caSecretRef.',
      { enum: ['starttls', 'implicit', 'none-insecure'], default: DEFAULTS.upstreamTls },
    ),
    credentialsSecretRef: secretRef('Secret with keys `username` and `password` for AUTH at the upstream. Unset: no upstream AUTH.', 'upstream.credentialsSecretRef'),
    caSecretRef: secretRef('Secret with key `ca.crt`: an extra CA (PEM) trusted for the upstream on top of the system roots. Not allowed with tls none-insecure.', 'upstream.caSecretRef'),
    allowInsecurePlaintext: bool(
      'The loud opt-in for tls: none-insecure. Mail and upstream credentials then cross the network unencrypted. Only allowed together with tls: none-insecure.',
    ),
  },
  {
    required: ['host'],
    'x-kubernetes-validations': [
      rule(
        `${upstreamTls} != 'none-insecure' || ${insecureOptIn}`,
        'upstream.tls none-insecure sends mail and upstream credentials unencrypted: set upstream.allowInsecurePlaintext: true to accept that risk, or use upstream.tls starttls or implicit',
        { fieldPath: '.tls' },
      ),
      rule(
        `!${insecureOptIn} || ${upstreamTls} == 'none-insecure'`,
        'upstream.allowInsecurePlaintext: true is only allowed with upstream.tls: none-insecure; remove it so that a later change cannot silently downgrade to plaintext',
        { fieldPath: '.allowInsecurePlaintext', reason: 'FieldValueForbidden' },
      ),
      rule(
        `!has(self.caSecretRef) || ${upstreamTls} != 'none-insecure'`,
        'upstream.caSecretRef has no effect with upstream.tls none-insecure: remove it or use starttls or implicit',
        { fieldPath: '.caSecretRef', reason: 'FieldValueForbidden' },
      ),
    ],
  },
);

const auth = obj(
  'Users allowed to send through the submission and submissions listeners (AUTH PLAIN/LOGIN, only after TLS). Required while either of those listeners is enabled.',
  {
    secretRef: secretRef(
      'Secret whose keys are usernames and whose values are passwords or bcrypt hashes ($2a$/$2b$/$2y$). Changes roll the relay pods.',
      'auth.secretRef',
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

const dkim = obj(
  'DKIM-sign outgoing messages. Unset: messages are relayed unsigned.',
  {
    selector: str('DKIM selector: the DNS label(s) before ._domainkey (publish the public key at <selector>._domainkey.<domain>).', {
      maxLength: 63,
      'x-kubernetes-validations': [
        rule(matches('self', DNS_NAME_RE), "dkim.selector must be lowercase DNS labels such as relay2026 or s1.mail: a-z, 0-9 and '-', separated by dots"),
      ],
    }),
    domain: fqdn('Signing domain (d=), a lowercase domain name such as example.com.', 'dkim.domain'),
    keySecretRef: secretRef('Secret with key `private.key`: the PEM-encoded DKIM private key.', 'dkim.keySecretRef'),
  },
  { required: ['selector', 'domain', 'keySecretRef'] },
);

const service = obj(
  'The Service in front of the relay pods.',
  {
    type: str('Service type.', { enum: ['ClusterIP', 'NodePort', 'LoadBalancer'], default: DEFAULTS.serviceType }),
    annotations: stringMap('Annotations on the Service, e.g. for a cloud load balancer.', { maxProperties: 64 }),
    externalTrafficPolicy: str('Local keeps client source addresses (needed for the relay listener\'s allowedNetworks behind a load balancer). Only for NodePort and LoadBalancer.', {
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
    upstream,
    policy,
    dkim,
    service,
    healthCheck,
    pod,
  },
  {
    required: ['hostname', 'tls', 'upstream'],
    'x-kubernetes-validations': [
      rule(
        `has(self.auth) || !(${field('self', 'listeners.submission.enabled', 'true')} || ${field('self', 'listeners.submissions.enabled', 'true')})`,
        'spec.auth.secretRef is required while the submission or submissions listener is enabled: those listeners only relay for authenticated users. Add auth, or disable both listeners and use the relay listener',
        { fieldPath: '.auth', reason: 'FieldValueRequired' },
      ),
      rule(
        '!has(self.tls.additionalDnsNames) || !(self.hostname in self.tls.additionalDnsNames)',
        'tls.additionalDnsNames must not repeat spec.hostname: the certificate always covers hostname',
        { fieldPath: '.tls.additionalDnsNames' },
      ),
      rule(
        'self.upstream.host != self.hostname',
        'upstream.host must not be this relay\'s own hostname: the relay would forward mail to itself',
        { fieldPath: '.upstream.host' },
      ),
    ],
  },
);

// ---- status ----------------------------------------------------------------

const timestamp = (description: string): JSONSchemaProps => str(description, { format: 'date-time' });

const condition = obj(
  'A metav1.Condition.',
  {
    type: str('Condition type: Ready, Reconciling, Stalled, CertificateReady, Available or TLSHealthy.', {
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
    latencyMs: int64('Probe duration in milliseconds.', { minimum: 0 }),
    lastProbeTime: timestamp('When the last probe finished.'),
    lastDeepScanTime: timestamp('When the last deep scan (legacy protocols, cipher enumeration) finished.'),
  },
  { required: ['name', 'port', 'mode', 'healthy'] },
);

export const statusSchema: JSONSchemaProps = obj('Observed state, written by the operator.', {
  observedGeneration: int64('metadata.generation of the spec this status describes.', { minimum: 0 }),
  conditions: arr('kstatus conditions: Ready, Reconciling, Stalled, CertificateReady, Available, TLSHealthy.', condition, {
    maxItems: 16,
    'x-kubernetes-list-type': 'map',
    'x-kubernetes-list-map-keys': ['type'],
  }),
  replicas: int32('Relay pods that exist.', { minimum: 0 }),
  readyReplicas: int32('Relay pods that are ready.', { minimum: 0 }),
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
  { name: 'Cert Expiry', type: 'string', jsonPath: '.status.certificate.notAfter', description: 'Expiry (RFC 3339) of the certificate in the TLS Secret. A string column: kubectl renders future dates in date columns as <invalid>.' },
  { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp', description: 'Time since creation.' },
  { name: 'Reason', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].reason', description: 'Reason of the Ready condition.', priority: 1 },
  { name: 'Replicas', type: 'integer', jsonPath: '.status.replicas', description: 'Relay pods that exist (status.readyReplicas of them ready).', priority: 1 },
];
