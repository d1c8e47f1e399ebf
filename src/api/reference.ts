// docs/reference.md, generated from the schema: descriptions, types, defaults
// and validations, one section per object. Pure: no I/O.

import { smtpUserPrinterColumns, smtpUserSchema } from './schema-smtpuser.js';
import { USER_KIND, USER_PLURAL, USER_SHORT_NAMES } from './smtpuser.js';
import { API_VERSION, KIND, PLURAL, SHORT_NAMES } from './types.js';
import { type JSONSchemaProps, type ValidationRule } from './schema-types.js';
import { LIMITS, printerColumns, smtpRelaySchema } from './schema.js';
import { REGENERATE_COMMAND } from './crd.js';
import { RENAMED_IN_V1ALPHA1 } from './renamed.js';

// Decisions the schema encodes that are worth stating once, in prose.
const DECISIONS = [
  '`tls.profile: modern` is TLS 1.3 only (Mozilla "modern"), so it requires `tls.minVersion: TLSv1.3`. ' +
    'Because `minVersion` defaults to `TLSv1.2`, `profile: modern` alone is refused with a message saying to set both: the stored object then says what the relay serves.',
  `The unauthenticated relay listener refuses \`0.0.0.0/0\` and \`::/0\`, any IPv4 prefix shorter than /${LIMITS.minIPv4Prefix} and any IPv6 prefix shorter than /${LIMITS.minIPv6Prefix}, ` +
    `and entries with host bits set (\`10.1.2.3/8\`). The floor bounds each entry, not their union: at most ${LIMITS.networkList} entries are allowed.`,
  'IPv4-mapped IPv6 CIDRs (`::ffff:0:0/96`) are refused by the API server\'s CIDR parser, so they cannot be used to widen the relay listener.',
  '`spec.auth` is required while `submission` or `submissions` is enabled (both are by default): those listeners only relay for authenticated users.',
  '`upstream.tls: none-insecure` needs `upstream.allowInsecurePlaintext: true`, and the opt-in is refused with any other mode so it cannot linger and later downgrade a relay silently.',
  `\`metadata.name\` is a DNS-1035 label of at most ${LIMITS.nameLength} characters, because the operator derives Service and other child names from it.`,
  'Durations use Go syntax (`90m`, `2160h`); days are not a unit. `tls.duration` is at least 1h and `tls.renewBefore` at least 5m, matching cert-manager, so its refusals surface at admission.',
  '`listeners.relay.allowedNetworks` and `allowedSenderDomains` default to `[]` when `listeners.relay` is given, so stored objects always carry both lists.',
  '`spec.upstream` is shorthand for `spec.upstreams: [{name: default, ...}]` with one catch-all route: its `host`, `port`, `tls`, `caSecretRef`, `serverName`, ' +
    '`allowInsecurePlaintext` and `passwordSecretRef` mean the same. With the default key names the Secret is mounted whole. Set exactly one of `spec.upstream` and `spec.upstreams`; `spec.routes` only with `spec.upstreams`.',
  '`spec.routes` are tried in order and the first that matches carries the message; a route with neither `senderDomains` nor `users` is a catch-all and only the last route may be one. ' +
    'A message no route matches is refused at `MAIL FROM` with 550 5.7.1. Without `spec.routes`, one catch-all takes every upstream in list order. ' +
    'A connection error, timeout or 4xx moves a message on to the route\'s next upstream.',
  'Secret references share one shape, `…SecretRef: {name, …Key}`: every key has a default (the name the relay has always read), so Secrets written by External Secrets or Vault ' +
    'work with the keys they have. The keys are mounted with volume `items` onto the file names the relay reads. Two exceptions: `auth.secretRef`, whose keys are the user names, ' +
    'and `tls.secretName`, a `kubernetes.io/tls` Secret whose keys the type fixes (`tls.crt`, `tls.key`).',
  'OAuth2: `Microsoft365` and `Generic` take exactly one of `clientSecretRef` and `certificateSecretRef` (private_key_jwt), and a `clientID`; `Microsoft365` also `tenant` (or `tokenEndpoint`); ' +
    '`Generic` `tokenEndpoint` and `scope`; `GoogleWorkspace` `serviceAccountSecretRef` only. An upstream logs in with `passwordSecretRef` or `oauth2`, never both, and OAuth2 never over plaintext.',
];

// What admission cannot know; the operator reports these as conditions (reason in parentheses).
const RUNTIME_CHECKS = [
  'A referenced Secret (`tls.secretName`, `auth.secretRef`, `upstream.passwordSecretRef`, `upstream.caSecretRef`, `upstreams[].passwordSecretRef`, `upstreams[].caSecretRef`, `upstreams[].oauth2.*SecretRef`, `dkim.keySecretRef`) is missing (SecretNotFound), or lacks its keys or holds malformed data (SecretInvalid).',
  'An upstream host or OAuth2 `tokenEndpoint` outside the operator\'s `--allowed-upstream-hosts` (Stalled, UpstreamHostNotAllowed). Whether each upstream takes mail, and whether its login or token request succeeds: the UpstreamsHealthy condition (UpstreamUnavailable, UpstreamRejecting, UpstreamAuthFailed with the OAuth2 error code).',
  'The certificate in the TLS Secret is expired (CertificateExpired), not yet valid (CertificateNotYetValid), expires within `healthCheck.expiryWarning` (CertificateExpiringSoon), does not cover `hostname` / `additionalDNSNames`, or does not match its key.',
  'The issuer in `tls.issuerRef` does not exist (IssuerNotFound), cert-manager is not installed (CertManagerNotInstalled), or the Certificate is not issued yet (CertificateIssuing / CertificateNotReady).',
  'What each endpoint really serves (TLSHealthy condition, `status.endpoints[].failures`): e.g. a stale certificate after rotation (`stale-certificate-served`), legacy protocols accepted, AUTH before TLS.',
  'The upstream being unreachable, refusing STARTTLS, or presenting a certificate that does not verify: reported per message by the relay, not at admission.',
  'The contents of `pod.affinity` and `pod.topologySpreadConstraints`, and Service and pod annotation keys: the API server checks them when the operator applies the Deployment and Service; a refusal shows in the Stalled condition.',
  'Whether the DKIM key in `dkim.keySecretRef` parses and suits DKIM signing.',
];

// What an old name does now (test/integration/renamed-fields.test.ts checks it against the real API server).
const RENAMED_NOTE = [
  'Some field names changed to follow the Kubernetes API conventions (initialisms in one case, units and `…Time` in names, `…Ref` for references). ' +
    'There is no conversion: rename the fields in your manifests. The operator fills the new status fields itself.',
  '',
  'An old name is no field of the schema, so it is never stored and the operator cannot see it. Server-side apply (`kubectl apply --server-side`, Flux, Argo CD with `ServerSideApply=true`) ' +
    'refuses the object whatever the validation setting: `.spec.tls.additionalDnsNames: field not declared in schema`. Client-side `kubectl apply` validates strictly by default and refuses it too: ' +
    '`unknown field "spec.tls.additionalDnsNames"`. Only with `--validate=warn` (a warning) or `--validate=false` (silently) is the object stored without the field. ' +
    'An old required field (SmtpUser `spec.connectionSecret`) is refused either way: `spec.connectionSecretRef: Required value`. ' +
    'Checked against the real API server by test/integration/renamed-fields.test.ts.',
];

// Table cells: escape pipes; everywhere: keep <selector>-style placeholders visible (not HTML tags).
const html = (s: string): string => s.replace(/</g, '&lt;').replace(/>/g, '&gt;');
const esc = (s: string): string => html(s).replace(/\|/g, '\\|');
const code = (v: unknown): string => `\`${typeof v === 'string' ? v : JSON.stringify(v)}\``;

function typeName(s: JSONSchemaProps): string {
  if (s['x-kubernetes-int-or-string']) return 'int or string';
  if (s.type === 'array') return `[]${s.items ? typeName(s.items) : 'any'}`;
  if (s.type === 'object' && s.additionalProperties) return `map[string]${typeName(s.additionalProperties)}`;
  if (s.type === 'object' && s['x-kubernetes-preserve-unknown-fields']) return 'object (free-form)';
  if (s.type === 'integer' && s.format) return `integer (${s.format})`;
  if (s.type === 'string' && s.format) return `string (${s.format})`;
  return s.type ?? 'any';
}

function constraints(s: JSONSchemaProps): string[] {
  const out: string[] = [];
  if (s.enum) out.push(`one of ${s.enum.map(code).join(', ')}`);
  if (s.minimum !== undefined && s.maximum !== undefined) out.push(`${s.minimum} to ${s.maximum}`);
  else if (s.minimum !== undefined) out.push(`at least ${s.minimum}`);
  else if (s.maximum !== undefined) out.push(`at most ${s.maximum}`);
  if (s.minLength !== undefined && s.minLength > 0) out.push(`at least ${s.minLength} characters`);
  if (s.maxLength !== undefined) out.push(`at most ${s.maxLength} characters`);
  if (s.minItems !== undefined) out.push(`at least ${s.minItems} items`);
  if (s.maxItems !== undefined) out.push(`at most ${s.maxItems} items`);
  if (s.maxProperties !== undefined) out.push(`at most ${s.maxProperties} entries`);
  if (s['x-kubernetes-list-type'] === 'set') out.push('no duplicates');
  if (s['x-kubernetes-list-type'] === 'map') out.push(`one entry per ${s['x-kubernetes-list-map-keys']?.join(', ')}`);
  if (s.pattern) out.push(`matches ${code(s.pattern)}`);
  return out;
}

/** Rules that belong to a field's row: its own and its list items' / map values' (object rules get their own section). */
function fieldRules(s: JSONSchemaProps): ValidationRule[] {
  const own = s.type === 'object' && s.properties ? [] : (s['x-kubernetes-validations'] ?? []);
  const items = s.items && !(s.items.type === 'object' && s.items.properties) ? (s.items['x-kubernetes-validations'] ?? []) : [];
  return [...own, ...items];
}

function row(name: string, s: JSONSchemaProps, required: boolean): string {
  const details = [...constraints(s), ...(s.items ? constraints(s.items).map((c) => `each item ${c}`) : [])];
  const rules = fieldRules(s).map((r) => `Rule: ${r.message}.`);
  const text = [s.description ?? '', details.length ? `Constraints: ${details.join('; ')}.` : '', ...rules].filter(Boolean).map(esc).join('<br>');
  const dflt = s.default === undefined ? '' : code(s.default);
  return `| ${code(name)} | ${esc(typeName(s))} | ${required ? 'yes' : ''} | ${esc(dflt)} | ${text} |`;
}

function objectSections(path: string, s: JSONSchemaProps, out: string[]): void {
  const props = s.properties ?? {};
  out.push(`### \`${path}\``, '', html(s.description ?? ''), '');
  const names = Object.keys(props);
  if (names.length) {
    out.push('| Field | Type | Required | Default | Description |', '| --- | --- | --- | --- | --- |');
    for (const name of names) out.push(row(name, props[name]!, s.required?.includes(name) ?? false));
    out.push('');
  }
  const objectRules = s['x-kubernetes-validations'] ?? [];
  if (objectRules.length) {
    out.push('Rules:', '');
    for (const r of objectRules) out.push(`- ${r.fieldPath ? `(${code(path + r.fieldPath)}) ` : ''}${html(r.message)}.`);
    out.push('');
  }
  for (const name of names) {
    const child = props[name]!;
    if (child.type === 'object' && child.properties) objectSections(`${path}.${name}`, child, out);
    if (child.type === 'array' && child.items?.type === 'object' && child.items.properties) objectSections(`${path}.${name}[]`, child.items, out);
  }
}

export function renderReference(): string {
  const root = smtpRelaySchema;
  const out: string[] = [
    `<!-- Code generated from src/api/schema.ts by src/api/generate.ts. DO NOT EDIT. Regenerate with: ${REGENERATE_COMMAND} -->`,
    '',
    '# SmtpRelay API reference',
    '',
    `\`${API_VERSION}\`, kind \`${KIND}\` (plural \`${PLURAL}\`, short name \`${SHORT_NAMES.join('`, `')}\`), namespaced, with a status subresource.`,
    '',
    root.description ?? '',
    '',
    'Field descriptions are also available with `kubectl explain smtprelay.spec --recursive`.',
    '',
    '## Renamed in v1alpha1 (2026-12)',
    '',
    ...RENAMED_NOTE,
    '',
    '| Kind | Old | New |',
    '| --- | --- | --- |',
    ...RENAMED_IN_V1ALPHA1.map((r) => `| ${r.kind} | ${code(r.from)} | ${code(r.to)} |`),
    '',
    '## Printer columns',
    '',
    '| Column | JSONPath | Type | Shown |',
    '| --- | --- | --- | --- |',
    ...printerColumns.map((c) => `| ${c.name} | ${code(c.jsonPath)} | ${c.type} | ${c.priority ? '`-o wide`' : 'always'} |`),
    '',
    '## Validation decisions',
    '',
    ...DECISIONS.map((d) => `- ${d}`),
    '',
    '## Checked at runtime, not at admission',
    '',
    'These depend on other objects or the network; the operator reports them in status conditions instead.',
    '',
    ...RUNTIME_CHECKS.map((d) => `- ${d}`),
    '',
    '## Fields',
    '',
  ];
  out.push('### `metadata`', '', 'Standard object metadata.', '', 'Rules:', '');
  for (const r of root.properties?.metadata?.properties?.name?.['x-kubernetes-validations'] ?? []) out.push(`- (\`metadata.name\`) ${r.message}.`);
  out.push('');
  objectSections('spec', root.properties!.spec!, out);
  objectSections('status', root.properties!.status!, out);
  userReference(out);
  return `${out.join('\n').replace(/\n{3,}/g, '\n\n').trimEnd()}\n`;
}

/** The SmtpUser kind (src/api/schema-smtpuser.ts), after SmtpRelay: its fields are prefixed with the kind. */
function userReference(out: string[]): void {
  out.push(
    '',
    '# SmtpUser API reference',
    '',
    `\`${API_VERSION}\`, kind \`${USER_KIND}\` (plural \`${USER_PLURAL}\`, short name \`${USER_SHORT_NAMES.join('`, `')}\`), namespaced, with a status subresource. Guide: [smtpusers.md](smtpusers.md).`,
    '',
    smtpUserSchema.description ?? '',
    '',
    '## SmtpUser printer columns',
    '',
    '| Column | JSONPath | Type | Shown |',
    '| --- | --- | --- | --- |',
    ...smtpUserPrinterColumns.map((c) => `| ${c.name} | ${code(c.jsonPath)} | ${c.type} | ${c.priority ? '`-o wide`' : 'always'} |`),
    '',
    '## SmtpUser fields',
    '',
  );
  for (const r of smtpUserSchema.properties?.metadata?.properties?.name?.['x-kubernetes-validations'] ?? []) out.push(`- (\`SmtpUser metadata.name\`) ${r.message}.`);
  out.push('');
  objectSections('SmtpUser.spec', smtpUserSchema.properties!.spec!, out);
  objectSections('SmtpUser.status', smtpUserSchema.properties!.status!, out);
}
