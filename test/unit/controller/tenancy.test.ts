// The operator's allow-lists (issue 11 item 10): flag parsing and the matchers, and
// the Problems a relay gets when it asks for more than the operator allows.
import { describe, expect, test } from '@jest/globals';
import type { SmtpRelay } from '../../../src/api/types.js';
import { FlagError, parseHostPatterns, parseImagePatterns, parseNamespaces, parseOperatorFlags, type OperatorOptions } from '../../../src/controller/flags.js';
import { checkTenancy, hostAllowed, imageAllowed, nameAllowed, type TenancyPolicy } from '../../../src/controller/tenancy.js';
import { isReservedAnnotation, validateSemantics } from '../../../src/controller/validate.js';

const parse = (args: string[]) => parseOperatorFlags(args, {}) as OperatorOptions;

describe('--namespace list', () => {
  test('one, several (deduplicated), or all', () => {
    expect(parse(['--namespace', 'team-a']).namespaces).toEqual(['team-a']);
    expect(parse(['--namespace=team-a, team-b,team-a']).namespaces).toEqual(['team-a', 'team-b']);
    expect(parse([]).namespaces).toBeUndefined();
    expect(parseNamespaces('')).toBeUndefined();
    expect(parseNamespaces('*')).toBeUndefined();
  });
  test('refuses names that are not namespaces', () => {
    expect(() => parse(['--namespace=Team_A'])).toThrow(FlagError);
    expect(() => parse(['--namespace=a,*'])).toThrow(/not a namespace name/);
  });
});

describe('allow-list flags', () => {
  test('defaults: no extra relay image, any ClusterIssuer, any upstream host', () => {
    expect(parse([])).toMatchObject({ allowedRelayImages: [], allowedClusterIssuers: ['*'], allowedUpstreamHosts: ['*'] });
  });
  test('comma-separated lists; an empty value is the empty list', () => {
    const o = parse(['--allowed-relay-images=registry.example.com/smtp-relay-operator:*, ghcr.io/x/relay:1.2.3', '--allowed-cluster-issuers', 'letsencrypt-prod,internal-ca', '--allowed-upstream-hosts=*.amazonaws.com,smtp.example.com']);
    expect(o.allowedRelayImages).toEqual(['registry.example.com/smtp-relay-operator:*', 'ghcr.io/x/relay:1.2.3']);
    expect(o.allowedClusterIssuers).toEqual(['letsencrypt-prod', 'internal-ca']);
    expect(o.allowedUpstreamHosts).toEqual(['*.amazonaws.com', 'smtp.example.com']);
    expect(parse(['--allowed-cluster-issuers=']).allowedClusterIssuers).toEqual([]);
  });
  test('refuses patterns the matchers would read differently than a person', () => {
    expect(() => parseImagePatterns('registry.example.com/*/relay:1')).toThrow(/prefix ending in \*/);
    expect(() => parseImagePatterns('reg.io/a b')).toThrow(FlagError);
    expect(() => parseHostPatterns('smtp.*.example.com')).toThrow(/host name/);
    expect(() => parseHostPatterns('https://smtp.example.com')).toThrow(/host name/);
    expect(parseHostPatterns('*,*.example.com,smtp.example.com.')).toEqual(['*', '*.example.com', 'smtp.example.com.']);
  });
});

describe('matchers', () => {
  test('images: exact, or prefix with a trailing *', () => {
    const allowed = ['registry.example.com/smtp-relay-operator:*', 'ghcr.io/x/relay:1.2.3'];
    expect(imageAllowed('registry.example.com/smtp-relay-operator:0.2.0', allowed)).toBe(true);
    expect(imageAllowed('ghcr.io/x/relay:1.2.3', allowed)).toBe(true);
    expect(imageAllowed('ghcr.io/x/relay:1.2.4', allowed)).toBe(false);
    expect(imageAllowed('registry.example.com/smtp-relay-operator-evil:1', allowed)).toBe(false);
    expect(imageAllowed('registry.example.com.evil.example/smtp-relay-operator:1', allowed)).toBe(false);
    expect(imageAllowed('anything', [])).toBe(false);
    expect(imageAllowed('anything', ['*'])).toBe(true);
  });
  test('hosts: exact (case-insensitive, trailing dot), *.suffix below the suffix only, * any', () => {
    expect(hostAllowed('email-smtp.eu-west-1.amazonaws.com', ['*.amazonaws.com'])).toBe(true);
    expect(hostAllowed('amazonaws.com', ['*.amazonaws.com'])).toBe(false);
    expect(hostAllowed('evilamazonaws.com', ['*.amazonaws.com'])).toBe(false);
    expect(hostAllowed('amazonaws.com.evil.example', ['*.amazonaws.com'])).toBe(false);
    expect(hostAllowed('SMTP.Example.com.', ['smtp.example.com'])).toBe(true);
    expect(hostAllowed('smtp2.example.com', ['smtp.example.com'])).toBe(false);
    expect(hostAllowed('10.0.0.1', ['*'])).toBe(true);
    expect(hostAllowed('smtp.example.com', [])).toBe(false);
  });
  test('names: exact or *', () => {
    expect(nameAllowed('letsencrypt', ['letsencrypt'])).toBe(true);
    expect(nameAllowed('letsencrypt-staging', ['letsencrypt'])).toBe(false);
    expect(nameAllowed('x', ['*'])).toBe(true);
    expect(nameAllowed('x', [])).toBe(false);
  });
});

function relay(spec: Partial<SmtpRelay['spec']>): SmtpRelay {
  return {
    apiVersion: 'smtprelay.dev/v1alpha1',
    kind: 'SmtpRelay',
    metadata: { name: 'r', namespace: 'team-a' },
    spec: { hostname: 'smtp.example.com', tls: { secretName: 'tls' }, auth: { secretRef: { name: 'users' } }, upstream: { host: 'email-smtp.eu-west-1.amazonaws.com' }, ...spec },
  } as SmtpRelay;
}

const strict: TenancyPolicy = { defaultImage: 'ghcr.io/o/smtp-relay-operator:0.1.0', allowedRelayImages: ['registry.example.com/relay:*'], allowedClusterIssuers: ['letsencrypt'], allowedUpstreamHosts: ['*.amazonaws.com'] };

describe('checkTenancy', () => {
  test('a relay within the lists has no problem; the default image is always allowed', () => {
    expect(checkTenancy(relay({}), strict)).toEqual([]);
    expect(checkTenancy(relay({ image: strict.defaultImage }), { ...strict, allowedRelayImages: [] })).toEqual([]);
    expect(checkTenancy(relay({ image: 'registry.example.com/relay:2' }), strict)).toEqual([]);
    expect(checkTenancy(relay({ tls: { issuerRef: { name: 'letsencrypt', kind: 'ClusterIssuer' } } }), strict)).toEqual([]);
    // A namespaced Issuer lives in the relay's own namespace: not the operator's to allow.
    expect(checkTenancy(relay({ tls: { issuerRef: { name: 'anything', kind: 'Issuer' } } }), strict)).toEqual([]);
  });
  test('each violation has its own stable reason and names the flag to change', () => {
    const p = checkTenancy(relay({ image: 'docker.io/evil/relay:1', tls: { issuerRef: { name: 'corp-ca', kind: 'ClusterIssuer' } }, upstream: { host: 'collector.evil.example' } }), strict);
    expect(p.map((x) => x.reason)).toEqual(['ImageNotAllowed', 'IssuerNotAllowed', 'UpstreamHostNotAllowed']);
    expect(p[0]!.message).toContain('--allowed-relay-images');
    expect(p[1]!.message).toContain('--allowed-cluster-issuers');
    expect(p[1]!.certificate).toBe(true);
    expect(p[2]!.message).toContain('--allowed-upstream-hosts');
  });
});

describe('reserved annotations', () => {
  test('every key under smtprelay.dev, and only those', () => {
    expect(isReservedAnnotation('smtprelay.dev/config-checksum')).toBe(true);
    expect(isReservedAnnotation('local.smtprelay.dev/endpoints')).toBe(true);
    expect(isReservedAnnotation('SMTPRELAY.DEV/x')).toBe(true);
    expect(isReservedAnnotation('prometheus.io/scrape')).toBe(false);
    expect(isReservedAnnotation('notsmtprelay.dev/x')).toBe(false);
    expect(isReservedAnnotation('smtprelay.dev')).toBe(false);
  });
  test('set in spec.pod or spec.service annotations: InvalidSpec naming the field and the keys', () => {
    const problems = validateSemantics(relay({ pod: { annotations: { 'smtprelay.dev/config-checksum': 'x', ok: '1' } }, service: { annotations: { 'local.smtprelay.dev/endpoints': '{}' } } }));
    expect(problems.map((p) => p.reason)).toEqual(['InvalidSpec', 'InvalidSpec']);
    expect(problems[0]!.message).toContain('spec.pod.annotations must not set smtprelay.dev/config-checksum');
    expect(problems[1]!.message).toContain('spec.service.annotations must not set local.smtprelay.dev/endpoints');
    expect(validateSemantics(relay({ service: { annotations: { 'service.beta.kubernetes.io/aws-load-balancer-type': 'nlb' } } }))).toEqual([]);
  });
});
