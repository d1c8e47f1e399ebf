// spec.dkim: DKIM signing keys. Two shapes, one at a time: the single key of old
// ({selector, domain, keySecretRef}) and `keys`, one key per signing domain. The relay signs
// a message with the key whose domain aligns with its header From: (src/relay/dkim-keys.ts).
// ./types.ts mirrors this shape.
import { DNS_NAME_RE, FQDN_RE, matches } from './cel.js';
import { keyedSecretRef } from './schema-upstreams.js';
import { type JSONSchemaProps, type ValidationRule, arr, int32, obj, rule, str } from './schema-types.js';

export const DKIM_LIMITS = { keys: 32 } as const;

/** The file the relay reads in each key's directory; keySecretRef.privateKeyKey is projected onto it. */
export const DKIM_PRIVATE_KEY_FILE = 'private.key';

function selector(what: string): JSONSchemaProps {
  return str('DKIM selector: the DNS label(s) before ._domainkey (publish the public key at <selector>._domainkey.<domain>).', {
    maxLength: 63,
    'x-kubernetes-validations': [rule(matches('self', DNS_NAME_RE), `${what} must be lowercase DNS labels such as relay2026 or s1.mail: a-z, 0-9 and '-', separated by dots`)],
  });
}

function domain(what: string): JSONSchemaProps {
  return str('Signing domain (d=), a lowercase domain name such as example.com.', {
    maxLength: 253,
    'x-kubernetes-validations': [
      rule(
        matches('self', FQDN_RE),
        `${what} must be a lowercase fully-qualified domain name with at least one dot, such as example.com: labels of a-z, 0-9 and '-' (not first or last), at most 63 characters each`,
      ),
    ],
  });
}

function keySecretRef(what: string): JSONSchemaProps {
  return keyedSecretRef(`Secret holding the PEM-encoded RSA private key, at key privateKeyKey (default \`${DKIM_PRIVATE_KEY_FILE}\`).`, what, { privateKeyKey: DKIM_PRIVATE_KEY_FILE });
}

const key = obj(
  'One signing key: messages whose header From: is this domain or a subdomain of it are signed with it.',
  { domain: domain('dkim.keys[].domain'), selector: selector('dkim.keys[].selector'), keySecretRef: keySecretRef('dkim.keys[].keySecretRef') },
  { required: ['domain', 'selector', 'keySecretRef'] },
);

const SINGLE = '(has(self.selector) || has(self.domain) || has(self.keySecretRef))';

export const dkim = obj(
  'DKIM-sign outgoing messages. Either `keys` (one key per signing domain) or the single key of `selector`, `domain` and `keySecretRef`. A message is signed with the key whose domain is its header From: domain or a parent of it (DMARC relaxed alignment); a message aligned with no key is relayed unsigned (metric smtp_relay_dkim_unsigned_total). Unset: messages are relayed unsigned.',
  {
    selector: selector('dkim.selector'),
    domain: domain('dkim.domain'),
    keySecretRef: keySecretRef('dkim.keySecretRef'),
    keys: arr(`Signing keys, one per domain, 1 to ${DKIM_LIMITS.keys}.`, key, {
      minItems: 1,
      maxItems: DKIM_LIMITS.keys,
      'x-kubernetes-validations': [rule('self.all(k, self.exists_one(o, o.domain == k.domain))', 'each dkim.keys[].domain must appear once: one signing key per domain')],
    }),
  },
  {
    'x-kubernetes-validations': [
      rule(`!has(self.keys) || !${SINGLE}`, 'dkim.keys replaces dkim.selector, dkim.domain and dkim.keySecretRef: use one shape, either keys or the single-key fields'),
      rule(
        'has(self.keys) || (has(self.selector) && has(self.domain) && has(self.keySecretRef))',
        'dkim needs either keys (one entry per signing domain) or all of selector, domain and keySecretRef',
      ),
    ],
  },
);

/** spec-level: every key's domain is an allowed sender domain or a parent of one. */
export function dkimDomainsAllowedRule(): ValidationRule {
  // Direct field access (not .orValue) so the API server knows both lists' maxItems when it bounds the rule's cost.
  return rule(
    '!has(self.dkim) || !has(self.dkim.keys) || (has(self.policy) && has(self.policy.allowedSenderDomains) && ' +
      "self.dkim.keys.all(k, self.policy.allowedSenderDomains.exists(d, d == k.domain || d.endsWith('.' + k.domain))))",
    'each dkim.keys[].domain must be one of policy.allowedSenderDomains or a parent domain of one: the relay signs only mail whose header From: aligns with a key',
    { fieldPath: '.dkim.keys' },
  );
}

// ---- status.senderDomains[] (controller/mail-auth) ---------------------------

const DNS_FAILURES = ['ServFail', 'Refused', 'Timeout', 'Unreachable', 'BadResponse', 'Other'];
const DMARC_POLICIES = ['none', 'quarantine', 'reject'];
const lookupError = str('Why the lookup gave no answer (a failed lookup is not a missing record).', { enum: DNS_FAILURES });

export const senderDomainsStatusSchema: JSONSchemaProps = arr(
  'DNS health of mail authentication per sender domain (the MailAuthentication condition), checked daily. Advice: it never affects Ready.',
  obj(
    'What one sender domain publishes.',
    {
      domain: str('Sender domain.', { maxLength: 253 }),
      dkim: obj(
        'The DKIM key record at <selector>._domainkey.<domain>.',
        {
          state: str(
            'Valid (publishes the relay\'s signing key), Found (a record, not compared: the relay has not reported its key yet), KeyMismatch, Revoked, Missing, Invalid, Unknown (lookup failed) or NotSigned (the relay signs no mail of this domain).',
            { enum: ['Valid', 'Found', 'KeyMismatch', 'Revoked', 'Missing', 'Invalid', 'Unknown', 'NotSigned'] },
          ),
          selector: str('Selector looked up.', { maxLength: 63 }),
          lookupError,
        },
        { required: ['state'] },
      ),
      dmarc: obj(
        'The DMARC record at _dmarc.<domain>.',
        {
          state: str('Found, Missing, Invalid or Unknown (lookup failed).', { enum: ['Found', 'Missing', 'Invalid', 'Unknown'] }),
          policy: str('The policy (p=).', { enum: DMARC_POLICIES }),
          subdomainPolicy: str('The subdomain policy (sp=).', { enum: DMARC_POLICIES }),
          percentage: int32('Percentage of mail the policy applies to (pct=).', { minimum: 0, maximum: 100 }),
          lookupError,
        },
        { required: ['state'] },
      ),
      spf: obj(
        'The SPF record (TXT v=spf1 at the domain).',
        {
          state: str('Found, Missing, Invalid (more than one record) or Unknown (lookup failed).', { enum: ['Found', 'Missing', 'Invalid', 'Unknown'] }),
          record: str('The record.', { maxLength: 1024 }),
          lookupError,
        },
        { required: ['state'] },
      ),
    },
    { required: ['domain', 'dkim', 'dmarc', 'spf'] },
  ),
  { maxItems: 200, 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['domain'] },
);
