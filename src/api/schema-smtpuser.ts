// The SmtpUser OpenAPI schema and printer columns (crds/smtprelay.dev_smtpusers.yaml).
// ./smtpuser.ts mirrors it.
import { DNS1123_SUBDOMAIN_RE, GO_DURATION_RE, SENDER_RE, durationCompare, matches } from './cel.js';
import { type JSONSchemaProps, arr, int32, obj, rule, str } from './schema-types.js';
import { condition, type PrinterColumn } from './schema.js';
import { USER_DEFAULTS } from './smtpuser.js';

const LABEL_RE = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';

function name(description: string, what: string, maxLength = 253, re = DNS1123_SUBDOMAIN_RE): JSONSchemaProps {
  return str(description, {
    minLength: 1,
    maxLength,
    'x-kubernetes-validations': [rule(matches('self', re), `${what} must be a valid Kubernetes name: lowercase letters, digits and '-', starting and ending with a letter or digit`)],
  });
}

function duration(description: string, what: string, min: string, dflt?: string): JSONSchemaProps {
  return str(description, {
    maxLength: 32,
    ...(dflt ? { default: dflt } : {}),
    'x-kubernetes-validations': [
      rule(matches('self', GO_DURATION_RE), `${what} must be a Go duration such as 90m, 1h30m or 720h (units ns, us, ms, s, m, h; no days)`),
      rule(durationCompare('self', '>=', min), `${what} must be at least ${min}`),
    ],
  });
}

export const smtpUserSpecSchema: JSONSchemaProps = obj(
  'Desired credentials.',
  {
    relayRef: obj(
      'The SmtpRelay this user sends through (immutable). Its spec.users.namespaceSelector must select this SmtpUser\'s namespace.',
      {
        name: name('Name of the SmtpRelay.', 'relayRef.name', 50),
        namespace: name('Namespace of the SmtpRelay.', 'relayRef.namespace', 63, LABEL_RE),
      },
      {
        required: ['name', 'namespace'],
        // Moving a user would leave its hash in the old relay's store: delete and re-create instead.
        'x-kubernetes-validations': [rule('self == oldSelf', 'relayRef is immutable: delete the SmtpUser (which revokes it) and create it again for another relay')],
      },
    ),
    senders: arr(
      'The envelope and header From: senders this user may use: full addresses (billing@example.com) or whole domains (@invoices.example.com). Each must lie within the relay\'s policy.allowedSenderDomains when the relay sets them. 1 to 32 entries.',
      str('An address or @domain.', {
        maxLength: 254,
        'x-kubernetes-validations': [
          rule(matches('self', SENDER_RE), 'each senders entry must be an address such as billing@example.com or a whole domain such as @invoices.example.com, with a lowercase domain'),
        ],
      }),
      { minItems: 1, maxItems: 32, 'x-kubernetes-list-type': 'set' },
    ),
    connectionSecretRef: obj(
      'The Secret the operator writes in this namespace: host, port, username, password, url, urlSmtps, and ca.crt when the relay\'s CA is private. It must not exist already unless the operator made it.',
      { name: name('Name of the connection Secret.', 'connectionSecretRef.name') },
      { required: ['name'] },
    ),
    rotation: obj('Password rotation. A new password can also be asked for at any time by setting the annotation smtprelay.dev/rotate to a new value.', {
      period: duration('A new password this long after the current one was issued, as a Go duration (e.g. 720h). At least 1m. Unset: only on demand.', 'rotation.period', '1m'),
      gracePeriod: duration(
        `How long the previous password keeps working after a rotation, as a Go duration. At least 1s. Default ${USER_DEFAULTS.gracePeriod}.`,
        'rotation.gracePeriod',
        '1s',
        USER_DEFAULTS.gracePeriod,
      ),
    }),
  },
  { required: ['relayRef', 'senders', 'connectionSecretRef'] },
);

export const smtpUserStatusSchema: JSONSchemaProps = obj('Observed state, written by the operator.', {
  observedGeneration: { type: 'integer', format: 'int64', description: 'metadata.generation the status was computed from.', minimum: 0 },
  conditions: arr('kstatus conditions: Ready, Reconciling, Stalled.', condition, {
    maxItems: 16,
    'x-kubernetes-list-type': 'map',
    'x-kubernetes-list-map-keys': ['type'],
  }),
  username: str('The SMTP user name: <namespace>.<name>.', { maxLength: 128 }),
  relay: obj('Where to connect (also in the connection Secret).', {
    hostname: str('The relay\'s hostname.', { maxLength: 253 }),
    submissionPort: int32('STARTTLS submission port (587), when enabled.', { minimum: 1, maximum: 65535 }),
    submissionsPort: int32('Implicit-TLS submissions port (465), when enabled.', { minimum: 1, maximum: 65535 }),
  }),
  passwordIssueTime: str('When the current password was issued.', { format: 'date-time' }),
  nextRotationTime: str('When the next scheduled rotation is due (spec.rotation.period).', { format: 'date-time' }),
});

export const smtpUserSchema: JSONSchemaProps = obj(
  'SmtpUser asks for SMTP credentials on an SmtpRelay: the operator issues a password, gives the relay only its bcrypt hash, and writes a connection Secret (host, port, username, password, url, ca.crt) in this namespace. Deleting it revokes the user within seconds.',
  {
    apiVersion: str('APIVersion of this object: smtprelay.dev/v1alpha1.'),
    kind: str('Kind of this object: SmtpUser.'),
    metadata: {
      type: 'object',
      properties: {
        name: {
          type: 'string',
          'x-kubernetes-validations': [
            rule(`size(self) <= 63 && ${matches('self', LABEL_RE)}`, "metadata.name must be at most 63 characters of lowercase letters, digits and '-': the SMTP user name is <namespace>.<name>"),
          ],
        },
      },
    },
    spec: smtpUserSpecSchema,
    status: smtpUserStatusSchema,
  },
  { required: ['spec'] },
);

export const smtpUserPrinterColumns: PrinterColumn[] = [
  { name: 'Relay', type: 'string', jsonPath: '.spec.relayRef.name', description: 'The SmtpRelay.' },
  { name: 'Relay NS', type: 'string', jsonPath: '.spec.relayRef.namespace', description: 'The SmtpRelay\'s namespace.' },
  { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status', description: 'The Ready condition.' },
  { name: 'Reason', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].reason', description: 'Reason of the Ready condition.' },
  { name: 'Secret', type: 'string', jsonPath: '.spec.connectionSecretRef.name', description: 'The connection Secret.' },
  { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp', description: 'Time since creation.' },
  { name: 'Senders', type: 'string', jsonPath: '.spec.senders', description: 'Senders this user may use.', priority: 1 },
  { name: 'Issued', type: 'date', jsonPath: '.status.passwordIssueTime', description: 'When the current password was issued.', priority: 1 },
];
