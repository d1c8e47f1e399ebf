// The upstream side of the SmtpRelay schema: spec.upstream (one upstream, the shorthand),
// spec.upstreams (named upstreams with password or OAuth2 logins) and spec.routes (which mail
// goes where). Secret references share one style, `…SecretRef: {name, …Key}`, with the key
// names the relay has always read as defaults, so Secrets made by External Secrets or Vault
// work as they are. ./types.ts mirrors this shape.

import { DEFAULTS } from './types.js';
import { DNS1123_SUBDOMAIN_RE, DNS_NAME_RE, FQDN_RE, SECRET_KEY_RE, field, matches } from './cel.js';
import { type JSONSchemaProps, type ValidationRule, arr, bool, int32, obj, rule, str } from './schema-types.js';

export const UPSTREAM_LIMITS = {
  upstreams: 16,
  routes: 32,
  upstreamsPerRoute: 8,
  routeDomains: 100,
  routeUsers: 64,
  /** Upstream names end up in volume names (`up-<name>-oauth2`): at most 40 characters. */
  nameLength: 40,
} as const;

const LABEL = '[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?';
/** A mailbox: local@domain, unquoted local part without % and ! (source-routing forms the relay refuses), lowercase domain. */
export const MAILBOX_RE = `^[A-Za-z0-9#$&*+/=?^_{|}~.-]{1,64}@(${LABEL}\\.)+${LABEL}$`;
/** https:// anything, or http:// to a loopback address (tests): what the relay accepts. */
export const TOKEN_ENDPOINT_RE = '^(https://[^\\s/?#]+|http://(127\\.[0-9]+\\.[0-9]+\\.[0-9]+|\\[::1\\]|localhost)(:[0-9]+)?)(/[^\\s]*)?$';
/** Upstream names: lowercase DNS label, used in metrics labels, GET /queue and volume names. */
export const UPSTREAM_NAME_RE = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';

/** Default file names the relay reads; a `…Key` field names the Secret key projected onto each. */
export const SECRET_KEY_DEFAULTS = {
  username: 'username',
  password: 'password',
  ca: 'ca.crt',
  clientSecret: 'client-secret',
  certificate: 'tls.crt',
  privateKey: 'tls.key',
  serviceAccount: 'service-account.json',
} as const;

function secretName(what: string): JSONSchemaProps {
  return str('Name of a Secret in the SmtpRelay\'s namespace.', {
    minLength: 1,
    maxLength: 253,
    'x-kubernetes-validations': [
      rule(
        matches('self', DNS1123_SUBDOMAIN_RE),
        `${what}.name must be a valid Kubernetes object name (DNS-1123 subdomain): lowercase letters, digits, '-' and '.', starting and ending with a letter or digit`,
      ),
    ],
  });
}

function secretKey(what: string, dflt: string): JSONSchemaProps {
  return str(`Key in the Secret. Default \`${dflt}\`.`, {
    minLength: 1,
    maxLength: 253,
    default: dflt,
    'x-kubernetes-validations': [rule(matches('self', SECRET_KEY_RE), `${what} must be a Secret key: letters, digits, '-', '_' and '.'`)],
  });
}

/** `{name, <key>Key...}`: a Secret and the keys the relay reads from it. */
export function keyedSecretRef(description: string, what: string, keys: Record<string, string>): JSONSchemaProps {
  const props: Record<string, JSONSchemaProps> = { name: secretName(what) };
  for (const [field, dflt] of Object.entries(keys)) props[field] = secretKey(`${what}.${field}`, dflt);
  return obj(description, props, { required: ['name'] });
}

export const credentialsKeys = { usernameKey: SECRET_KEY_DEFAULTS.username, passwordKey: SECRET_KEY_DEFAULTS.password };
export const caKeys = { caKey: SECRET_KEY_DEFAULTS.ca };

const host = (what: string): JSONSchemaProps =>
  str('Upstream host name (lowercase DNS name such as smtp.example.com or mailpit.mail.svc) or IP address. Must not be this relay\'s own hostname.', {
    minLength: 1,
    maxLength: 253,
    'x-kubernetes-validations': [
      rule(
        `${matches('self', DNS_NAME_RE)} || isIP(self)`,
        `${what}.host must be a lowercase DNS name such as smtp.example.com or an IP address, without port or scheme (the port goes in ${what}.port)`,
      ),
    ],
  });

/** host, port, tls, the plaintext opt-in, caSecretRef, serverName: the connection, the same in spec.upstream and spec.upstreams[]. */
function connectionFields(what: string): Record<string, JSONSchemaProps> {
  return {
    host: host(what),
    port: int32('Upstream port, 1-65535. 587 for starttls, usually 465 for implicit.', { minimum: 1, maximum: 65535, default: DEFAULTS.upstreamPort }),
    tls: str(
      'How the relay secures the upstream connection: starttls (STARTTLS required, refused if the upstream does not offer it), implicit (TLS from the first byte), ' +
        'or none-insecure (plaintext, only with allowInsecurePlaintext: true). The upstream certificate is always verified against system roots plus caSecretRef.',
      { enum: ['starttls', 'implicit', 'none-insecure'], default: DEFAULTS.upstreamTls },
    ),
    caSecretRef: keyedSecretRef(
      'Secret with an extra CA (PEM) trusted for the upstream on top of the system roots, at key caKey (default `ca.crt`). Not allowed with tls none-insecure.',
      `${what}.caSecretRef`,
      caKeys,
    ),
    serverName: str('The name the upstream\'s certificate must carry (and the TLS SNI), when it differs from host (e.g. host is an IP address). Unset: host.', {
      maxLength: 253,
      'x-kubernetes-validations': [rule(matches('self', FQDN_RE), `${what}.serverName must be a lowercase fully-qualified domain name such as smtp.example.com`)],
    }),
    allowInsecurePlaintext: bool(
      'The loud opt-in for tls: none-insecure. Mail and upstream credentials then cross the network unencrypted. Only allowed together with tls: none-insecure.',
    ),
  };
}

function connectionRules(what: string): ValidationRule[] {
  const tls = field('self', 'tls', `'${DEFAULTS.upstreamTls}'`);
  const optIn = field('self', 'allowInsecurePlaintext', 'false');
  return [
    rule(
      `${tls} != 'none-insecure' || ${optIn}`,
      `${what}.tls none-insecure sends mail and upstream credentials unencrypted: set ${what}.allowInsecurePlaintext: true to accept that risk, or use ${what}.tls starttls or implicit`,
      { fieldPath: '.tls' },
    ),
    rule(
      `!${optIn} || ${tls} == 'none-insecure'`,
      `${what}.allowInsecurePlaintext: true is only allowed with ${what}.tls: none-insecure; remove it so that a later change cannot silently downgrade to plaintext`,
      { fieldPath: '.allowInsecurePlaintext', reason: 'FieldValueForbidden' },
    ),
    rule(
      `!has(self.caSecretRef) || ${tls} != 'none-insecure'`,
      `${what}.caSecretRef has no effect with ${what}.tls none-insecure: remove it or use starttls or implicit`,
      { fieldPath: '.caSecretRef', reason: 'FieldValueForbidden' },
    ),
  ];
}

/** spec.upstream: one upstream, shorthand for spec.upstreams with one entry named `default` and one catch-all route. */
export const upstreamSchema = obj(
  'One smarthost every accepted message is forwarded to: shorthand for spec.upstreams with one entry named `default` and one catch-all route. ' +
    'The relay acknowledges a message only after the upstream (or, with spec.queue Durable, its own disk) has taken it. Set spec.upstream or spec.upstreams, not both.',
  {
    ...connectionFields('upstream'),
    passwordSecretRef: keyedSecretRef(
      'Secret with the username and password for AUTH at the upstream (keys usernameKey and passwordKey, default `username` and `password`). Unset: no upstream AUTH.',
      'upstream.passwordSecretRef',
      credentialsKeys,
    ),
  },
  { required: ['host'], 'x-kubernetes-validations': connectionRules('upstream') },
);

const MS = 'Microsoft365';
const GOOGLE = 'GoogleWorkspace';
const GENERIC = 'Generic';

const oauth2 = obj(
  'Log in with OAuth2 (SASL XOAUTH2) as a mailbox: the relay gets and refreshes the access token itself, so the clients behind it need no OAuth. ' +
    'Microsoft365: the client-credentials grant with a client secret (clientSecretRef) or a certificate (certificateSecretRef, private_key_jwt); the app needs SMTP.SendAsApp and SMTP AUTH enabled for the mailbox. ' +
    'GoogleWorkspace: a service account with domain-wide delegation for https://mail.google.com/ (serviceAccountSecretRef, the JSON key file). ' +
    'Generic: any RFC 6749 token endpoint (tokenEndpoint and scope required). See docs/oauth2.md.',
  {
    provider: str('Microsoft365, GoogleWorkspace or Generic.', { enum: [MS, GOOGLE, GENERIC] }),
    user: str('The mailbox the relay logs in as (XOAUTH2 user; Google: the subject of the delegation), such as relay@example.com.', {
      maxLength: 254,
      'x-kubernetes-validations': [rule(matches('self', MAILBOX_RE), 'oauth2.user must be a mailbox address such as relay@example.com')],
    }),
    tenant: str('Microsoft365: the directory (tenant) id or a verified domain of the tenant; names the default token endpoint.', {
      maxLength: 253,
      'x-kubernetes-validations': [rule(matches('self', '^[A-Za-z0-9.-]+$'), 'oauth2.tenant must be a tenant id (a GUID) or a domain such as contoso.onmicrosoft.com')],
    }),
    clientID: str('The application (client) id. Required for Microsoft365 and Generic; GoogleWorkspace reads client_email from the key file (a clientID there adds client authentication to the grant, for servers that want it).', {
      minLength: 1,
      maxLength: 256,
      'x-kubernetes-validations': [rule(matches('self', '^[^\\s]+$'), 'oauth2.clientID must not contain spaces')],
    }),
    tokenEndpoint: str(
      'Overrides the provider\'s token endpoint (sovereign clouds such as https://login.microsoftonline.us/<tenant>/oauth2/v2.0/token, tests). Must be https:// (http:// only for a loopback address). Required for Generic.',
      {
        maxLength: 2048,
        'x-kubernetes-validations': [
          rule(matches('self', TOKEN_ENDPOINT_RE), 'oauth2.tokenEndpoint must be an https:// URL (http:// only for a loopback address such as http://127.0.0.1:4444/oauth2/token)'),
        ],
      },
    ),
    scope: str('Overrides the provider\'s scope (Microsoft365: https://outlook.office365.com/.default, GoogleWorkspace: https://mail.google.com/). Required for Generic.', {
      minLength: 1,
      maxLength: 1024,
    }),
    clientSecretRef: keyedSecretRef(
      'Microsoft365, Generic: the client secret (client_secret_post), at key clientSecretKey (default `client-secret`).',
      'oauth2.clientSecretRef',
      { clientSecretKey: SECRET_KEY_DEFAULTS.clientSecret },
    ),
    certificateSecretRef: keyedSecretRef(
      'Microsoft365, Generic: a certificate registered on the app and its private key (private_key_jwt), at keys certificateKey and privateKeyKey (default `tls.crt` and `tls.key`: a kubernetes.io/tls Secret fits as is).',
      'oauth2.certificateSecretRef',
      { certificateKey: SECRET_KEY_DEFAULTS.certificate, privateKeyKey: SECRET_KEY_DEFAULTS.privateKey },
    ),
    serviceAccountSecretRef: keyedSecretRef(
      'GoogleWorkspace: the service account\'s JSON key file as Google gives it, at key serviceAccountKey (default `service-account.json`). ' +
        'clientSecretKey: only with clientID, the client secret in the same Secret (servers that want client authentication next to the grant; Google does not).',
      'oauth2.serviceAccountSecretRef',
      { serviceAccountKey: SECRET_KEY_DEFAULTS.serviceAccount, clientSecretKey: SECRET_KEY_DEFAULTS.clientSecret },
    ),
  },
  {
    required: ['provider', 'user'],
    'x-kubernetes-validations': [
      rule(
        `self.provider == '${GOOGLE}' || (has(self.clientSecretRef) ? 1 : 0) + (has(self.certificateSecretRef) ? 1 : 0) == 1`,
        `oauth2 with provider ${MS} or ${GENERIC} needs exactly one of clientSecretRef (a client secret) or certificateSecretRef (a certificate, private_key_jwt)`,
      ),
      rule(
        `self.provider == '${GOOGLE}' || !has(self.serviceAccountSecretRef)`,
        `oauth2.serviceAccountSecretRef is for provider ${GOOGLE} only: use clientSecretRef or certificateSecretRef`,
        { fieldPath: '.serviceAccountSecretRef', reason: 'FieldValueForbidden' },
      ),
      rule(
        `self.provider != '${GOOGLE}' || (has(self.serviceAccountSecretRef) && !has(self.clientSecretRef) && !has(self.certificateSecretRef))`,
        `oauth2 with provider ${GOOGLE} needs serviceAccountSecretRef (the service account's JSON key file) and neither clientSecretRef nor certificateSecretRef`,
      ),
      rule(
        `self.provider != '${GOOGLE}' || has(self.clientID) || !has(self.serviceAccountSecretRef) || !has(self.serviceAccountSecretRef.clientSecretKey) || self.serviceAccountSecretRef.clientSecretKey == '${SECRET_KEY_DEFAULTS.clientSecret}'`,
        'oauth2.serviceAccountSecretRef.clientSecretKey only applies with oauth2.clientID: set clientID, or remove clientSecretKey',
        { fieldPath: '.serviceAccountSecretRef.clientSecretKey', reason: 'FieldValueForbidden' },
      ),
      rule(
        `self.provider == '${GOOGLE}' || has(self.clientID)`,
        `oauth2.clientID is required for provider ${MS} and ${GENERIC}: the application (client) id of the app registration`,
        { fieldPath: '.clientID', reason: 'FieldValueRequired' },
      ),
      rule(
        `self.provider != '${MS}' || has(self.tenant) || has(self.tokenEndpoint)`,
        `oauth2.tenant is required for provider ${MS} (the directory id or a verified domain; it names the token endpoint), unless tokenEndpoint is set`,
        { fieldPath: '.tenant', reason: 'FieldValueRequired' },
      ),
      rule(
        `self.provider != '${GENERIC}' || (has(self.tokenEndpoint) && has(self.scope))`,
        `oauth2 with provider ${GENERIC} needs tokenEndpoint and scope: there is no default for them`,
        { reason: 'FieldValueRequired' },
      ),
      rule(
        `self.provider == '${MS}' || !has(self.tenant)`,
        `oauth2.tenant is for provider ${MS} only: remove it (or set tokenEndpoint)`,
        { fieldPath: '.tenant', reason: 'FieldValueForbidden' },
      ),
    ],
  },
);

const namedUpstream = obj(
  'One named upstream: where to connect and how to log in (a password, OAuth2, or neither).',
  {
    name: str(`Unique name, referred to by spec.routes[].upstreams, shown in metrics and the UpstreamsHealthy condition. Lowercase letters, digits and '-', at most ${UPSTREAM_LIMITS.nameLength}.`, {
      minLength: 1,
      maxLength: UPSTREAM_LIMITS.nameLength,
      'x-kubernetes-validations': [rule(matches('self', UPSTREAM_NAME_RE), "upstreams[].name must be lowercase letters, digits and '-', starting and ending with a letter or digit, such as ses or mailgun-eu")],
    }),
    ...connectionFields('upstreams[]'),
    passwordSecretRef: keyedSecretRef(
      'Log in with a username and password (AUTH PLAIN/LOGIN, only over TLS): the Secret and its keys usernameKey and passwordKey (default `username` and `password`).',
      'upstreams[].passwordSecretRef',
      credentialsKeys,
    ),
    oauth2,
  },
  {
    required: ['name', 'host'],
    'x-kubernetes-validations': [
      ...connectionRules('upstreams[]'),
      rule(
        '!(has(self.passwordSecretRef) && has(self.oauth2))',
        'an upstream logs in with passwordSecretRef or with oauth2, not both: remove one',
        { fieldPath: '.oauth2', reason: 'FieldValueForbidden' },
      ),
      rule(
        `!has(self.oauth2) || ${field('self', 'tls', `'${DEFAULTS.upstreamTls}'`)} != 'none-insecure'`,
        'upstreams[].oauth2 sends a bearer token: use tls starttls or implicit, never none-insecure',
        { fieldPath: '.tls' },
      ),
    ],
  },
);

export const upstreamsSchema = arr(
  `Named upstreams (at most ${UPSTREAM_LIMITS.upstreams}), each with its own connection and login; spec.routes says which mail goes to which. ` +
    'Without spec.routes, all mail goes through the upstreams in list order (failover: a connection error, timeout or 4xx moves a message on to the next). ' +
    'Set spec.upstream or spec.upstreams, not both.',
  namedUpstream,
  { minItems: 1, maxItems: UPSTREAM_LIMITS.upstreams, 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['name'] },
);

const route = obj(
  'One routing rule. It matches when the envelope sender\'s domain is in senderDomains (if set) and the authenticated user is in users (if set); a rule with neither is a catch-all.',
  {
    senderDomains: arr(
      `Envelope sender (MAIL FROM) domains, exact and lowercase. Unset: any sender. 1 to ${UPSTREAM_LIMITS.routeDomains}.`,
      str('A lowercase domain name.', {
        maxLength: 253,
        'x-kubernetes-validations': [rule(matches('self', FQDN_RE), 'each routes[].senderDomains entry must be a lowercase fully-qualified domain name such as example.com')],
      }),
      { minItems: 1, maxItems: UPSTREAM_LIMITS.routeDomains, 'x-kubernetes-list-type': 'set' },
    ),
    users: arr(
      `Authenticated users (keys of the auth Secret). Unset: any user, and clients of the relay listener. 1 to ${UPSTREAM_LIMITS.routeUsers}.`,
      str('A user name.', {
        maxLength: 128,
        'x-kubernetes-validations': [rule(matches('self', SECRET_KEY_RE), "each routes[].users entry must be a user name from the auth Secret: letters, digits, '-', '_' and '.'")],
      }),
      { minItems: 1, maxItems: UPSTREAM_LIMITS.routeUsers, 'x-kubernetes-list-type': 'set' },
    ),
    upstreams: arr(
      `Names of spec.upstreams entries, tried in order: a connection error, timeout or 4xx on one moves the message on to the next. 1 to ${UPSTREAM_LIMITS.upstreamsPerRoute}.`,
      str('An upstream name.', { maxLength: UPSTREAM_LIMITS.nameLength }),
      { minItems: 1, maxItems: UPSTREAM_LIMITS.upstreamsPerRoute, 'x-kubernetes-list-type': 'set' },
    ),
    rewriteFrom: str(
      'Opt-in, for upstreams that only accept mail from the mailbox that logs in (Microsoft 365 without SendAs rights): the envelope sender and header From: become this mailbox, the original From: goes to Reply-To (an existing Reply-To is kept).',
      {
        maxLength: 254,
        'x-kubernetes-validations': [rule(matches('self', MAILBOX_RE), 'routes[].rewriteFrom must be a mailbox address such as relay@example.com')],
      },
    ),
  },
  { required: ['upstreams'] },
);

export const routesSchema = arr(
  `Ordered routing rules (at most ${UPSTREAM_LIMITS.routes}), only with spec.upstreams: the first that matches carries the message. Only the last rule may be a catch-all (no senderDomains, no users). ` +
    'A message no rule matches is refused at MAIL FROM with 550 5.7.1. Unset: one catch-all through every upstream in list order.',
  route,
  { minItems: 1, maxItems: UPSTREAM_LIMITS.routes, 'x-kubernetes-list-type': 'atomic' },
);

const catchAll = '!has(r.senderDomains) && !has(r.users)';

/** Rules on spec that relate upstream, upstreams, routes and hostname. */
export const upstreamSpecRules: ValidationRule[] = [
  rule(
    'has(self.upstream) != has(self.upstreams)',
    'set exactly one of spec.upstream (one upstream) or spec.upstreams (named upstreams, with spec.routes): move spec.upstream into spec.upstreams as an entry named default, or remove spec.upstreams',
    { reason: 'FieldValueRequired' },
  ),
  rule(
    '!has(self.routes) || has(self.upstreams)',
    'spec.routes needs spec.upstreams: spec.upstream is one upstream with a catch-all route. Move spec.upstream into spec.upstreams (name: default) to route mail',
    { fieldPath: '.routes', reason: 'FieldValueForbidden' },
  ),
  rule(
    '!has(self.routes) || !has(self.upstreams) || self.routes.all(r, r.upstreams.all(n, self.upstreams.exists(u, u.name == n)))',
    'every name in spec.routes[].upstreams must be the name of an entry in spec.upstreams: add the upstream or fix the name',
    // No messageExpression naming the missing names: its estimated cost exceeds the CRD budget.
    { fieldPath: '.routes' },
  ),
  rule(
    `!has(self.routes) || size(self.routes.filter(r, ${catchAll})) == 0 || (size(self.routes.filter(r, ${catchAll})) == 1 && !has(self.routes[size(self.routes) - 1].senderDomains) && !has(self.routes[size(self.routes) - 1].users))`,
    'only the last entry of spec.routes may be a catch-all (a route with neither senderDomains nor users): routes are tried in order, so a catch-all earlier would hide every route after it',
    { fieldPath: '.routes' },
  ),
  rule(
    '!has(self.upstream) || self.upstream.host != self.hostname',
    'upstream.host must not be this relay\'s own hostname: the relay would forward mail to itself',
    { fieldPath: '.upstream.host' },
  ),
  rule(
    '!has(self.upstreams) || self.upstreams.all(u, u.host != self.hostname)',
    'spec.upstreams[].host must not be this relay\'s own hostname: the relay would forward mail to itself',
    { fieldPath: '.upstreams' },
  ),
];
