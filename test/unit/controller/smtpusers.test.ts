// SmtpUser: the pure decisions (who may attach, when to issue, the store entry, the
// connection Secret), the relay builders' part (managed users mount, checksum), and the CRD.
import { describe, expect, test } from '@jest/globals';
import { buildUserCrd } from '../../../src/api/crd.js';
import type { SmtpUser } from '../../../src/api/smtpuser.js';
import { buildDeployment, CHECKSUM_ANNOTATION, renderRelayConfig } from '../../../src/controller/builders/index.js';
import { MOUNTS } from '../../../src/common/relay-config.js';
import {
  connectionData,
  issueReason,
  live,
  nextWake,
  refusal,
  relayEndpoint,
  selects,
  sendersOutside,
  tidied,
  userName,
  withNewHash,
} from '../../../src/controller/users/pure.js';
import { ctx, relay } from './fixtures.js';

const NOW = new Date('2026-12-01T12:00:00.000Z');
const H1 = '$2b$10$' + 'a'.repeat(53);
const H2 = '$2b$10$' + 'b'.repeat(53);

function user(spec: Partial<SmtpUser['spec']> = {}, annotations?: Record<string, string>): SmtpUser {
  return {
    apiVersion: 'smtprelay.dev/v1alpha1',
    kind: 'SmtpUser',
    metadata: { name: 'billing', namespace: 'payments', uid: 'u-1', generation: 1, ...(annotations ? { annotations } : {}) },
    spec: { relayRef: { name: 'mail', namespace: 'team-a' }, senders: ['billing@example.com', '@invoices.example.com'], connectionSecretRef: { name: 'smtp-billing' }, ...spec },
  };
}

describe('who may attach', () => {
  test('an unset selector selects nothing, {} everything; matchLabels and every operator', () => {
    expect(selects(undefined, { a: '1' })).toBe(false);
    expect(selects({}, {})).toBe(true);
    expect(selects({ matchLabels: { team: 'payments' } }, { team: 'payments', x: 'y' })).toBe(true);
    expect(selects({ matchLabels: { team: 'payments' } }, { team: 'other' })).toBe(false);
    const labels = { env: 'prod', team: 'a' };
    expect(selects({ matchExpressions: [{ key: 'env', operator: 'In', values: ['prod', 'stage'] }] }, labels)).toBe(true);
    expect(selects({ matchExpressions: [{ key: 'env', operator: 'NotIn', values: ['prod'] }] }, labels)).toBe(false);
    expect(selects({ matchExpressions: [{ key: 'team', operator: 'Exists' }] }, labels)).toBe(true);
    expect(selects({ matchExpressions: [{ key: 'team', operator: 'DoesNotExist' }] }, labels)).toBe(false);
    expect(selects({ matchExpressions: [{ key: 'missing', operator: 'NotIn', values: ['x'] }] }, labels)).toBe(true);
  });

  test('senders must lie within the relay\'s allowedSenderDomains (none set: any)', () => {
    expect(sendersOutside(['a@example.com', '@Example.com'], ['example.com'])).toEqual([]);
    expect(sendersOutside(['a@example.com', '@sub.example.com', 'b@evil.test'], ['example.com'])).toEqual(['@sub.example.com', 'b@evil.test']);
    expect(sendersOutside(['b@evil.test'], [])).toEqual([]);
  });

  test('refusal reasons: RelayNotFound, NamespaceNotAllowed (unset selector says so), SendersNotAllowed; else null', () => {
    expect(refusal(user(), undefined, {})?.reason).toBe('RelayNotFound');
    const closed = refusal(user(), relay(), { 'kubernetes.io/metadata.name': 'payments' });
    expect(closed).toMatchObject({ reason: 'NamespaceNotAllowed', message: expect.stringContaining('unset') });
    const open = relay({ users: { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'payments' } } }, policy: { allowedSenderDomains: ['example.com'] } });
    expect(refusal(user(), open, { 'kubernetes.io/metadata.name': 'other' })?.reason).toBe('NamespaceNotAllowed');
    expect(refusal(user(), open, { 'kubernetes.io/metadata.name': 'payments' })).toMatchObject({ reason: 'SendersNotAllowed', message: expect.stringContaining('@invoices.example.com') });
    expect(refusal(user({ senders: ['billing@example.com'] }), open, { 'kubernetes.io/metadata.name': 'payments' })).toBeNull();
  });
});

describe('issuing and rotating', () => {
  const issued = { hashes: [{ hash: H1, issuedAt: '2026-12-01T11:00:00.000Z' }], senders: ['billing@example.com'] };

  test('the user name is <namespace>.<name>', () => {
    expect(userName(user())).toBe('payments.billing');
  });

  test('issue: first time, when the connection Secret lacks the current password, on a new rotate token, when the period is over; else not', () => {
    expect(issueReason(user(), undefined, undefined, NOW)).toBe('initial');
    expect(issueReason(user(), issued, undefined, NOW)).toBe('resync');
    expect(issueReason(user(), issued, '2026-12-01T10:00:00.000Z', NOW)).toBe('resync');
    expect(issueReason(user(), issued, issued.hashes[0]!.issuedAt, NOW)).toBeNull();
    expect(issueReason(user({}, { 'smtprelay.dev/rotate': 'x' }), issued, issued.hashes[0]!.issuedAt, NOW)).toBe('annotation');
    expect(issueReason(user({}, { 'smtprelay.dev/rotate': 'x' }), { ...issued, rotateToken: 'x' }, issued.hashes[0]!.issuedAt, NOW)).toBeNull();
    expect(issueReason(user({ rotation: { period: '1h' } }), issued, issued.hashes[0]!.issuedAt, NOW)).toBe('period');
    expect(issueReason(user({ rotation: { period: '2h' } }), issued, issued.hashes[0]!.issuedAt, NOW)).toBeNull();
  });

  test('a new hash: the previous one gets notAfter = now + gracePeriod (default 1h), expired ones go, senders and token follow the spec', () => {
    const withOld = { hashes: [{ hash: H1, issuedAt: 'a' }, { hash: H2, issuedAt: 'b', notAfter: '2026-12-01T11:59:00.000Z' }], senders: [] };
    const next = withNewHash(user({ rotation: { gracePeriod: '30s' } }, { 'smtprelay.dev/rotate': '7' }), withOld, '$2b$10$new', NOW);
    expect(next).toEqual({
      hashes: [{ hash: '$2b$10$new', issuedAt: NOW.toISOString() }, { hash: H1, issuedAt: 'a', notAfter: '2026-12-01T12:00:30.000Z' }],
      senders: ['billing@example.com', '@invoices.example.com'],
      rotateToken: '7',
    });
    expect(withNewHash(user(), issued, H2, NOW).hashes[1]!.notAfter).toBe('2026-12-01T13:00:00.000Z');
  });

  test('tidied drops expired hashes; nextWake is the nearest expiry or rotation', () => {
    const entry = { hashes: [{ hash: H2, issuedAt: '2026-12-01T11:30:00.000Z' }, { hash: H1, issuedAt: 'x', notAfter: '2026-12-01T12:00:10.000Z' }], senders: ['old@example.com'] };
    expect(live(entry, new Date('2026-12-01T12:00:10.000Z'))).toHaveLength(1);
    expect(tidied(user(), entry, new Date('2026-12-01T12:00:11.000Z'))).toEqual({ hashes: [entry.hashes[0]], senders: ['billing@example.com', '@invoices.example.com'] });
    expect(nextWake(user(), entry, NOW)).toBe(10_050);
    expect(nextWake(user({ rotation: { period: '31m' } }), { ...entry, hashes: [entry.hashes[0]!] }, NOW)).toBe(60_050);
    expect(nextWake(user(), { ...entry, hashes: [entry.hashes[0]!] }, NOW)).toBeUndefined();
  });
});

describe('the connection Secret', () => {
  test('host, port (587 first), username, password, url with starttls=required, smtps url, ca.crt only when given', () => {
    const ep = relayEndpoint(relay());
    expect(ep).toEqual({ hostname: 'smtp.example.com', submissionPort: 587, submissionsPort: 465 });
    expect(connectionData(ep, 'payments.billing', 'p/w+', 'CA')).toEqual({
      host: 'smtp.example.com',
      port: '587',
      username: 'payments.billing',
      password: 'p/w+',
      url: 'smtp://payments.billing:p%2Fw%2B@smtp.example.com:587?starttls=required',
      urlSmtps: 'smtps://payments.billing:p%2Fw%2B@smtp.example.com:465',
      'ca.crt': 'CA',
    });
    const only465 = relayEndpoint(relay({ listeners: { submission: { enabled: false } } }));
    const data = connectionData(only465, 'u', 'p');
    expect(data).toMatchObject({ port: '465', urlSmtps: 'smtps://u:p@smtp.example.com:465' });
    expect(Object.keys(data)).not.toContain('url');
    expect(Object.keys(data)).not.toContain('ca.crt');
  });
});

describe('relay builders', () => {
  const open = relay({ auth: { secretRef: { name: 'users' } }, users: { namespaceSelector: {} } });

  test('spec.users.namespaceSelector set: the managed users Secret is mounted (optional) and named in relay.json', () => {
    const pod = buildDeployment(open, ctx).spec!.template.spec!;
    expect(pod.volumes!.find((v) => v.name === 'managed-users')?.secret).toEqual({ secretName: 'mail-smtpusers', optional: true, defaultMode: 0o440 });
    expect(pod.containers[0]!.volumeMounts!.find((m) => m.name === 'managed-users')).toEqual({ name: 'managed-users', mountPath: MOUNTS.managedUsers, readOnly: true });
    expect(renderRelayConfig(open).managedUsersDir).toBe(MOUNTS.managedUsers);
    const closed = relay({ auth: { secretRef: { name: 'users' } } });
    expect(renderRelayConfig(closed).managedUsersDir).toBeUndefined();
    expect(buildDeployment(closed, ctx).spec!.template.spec!.volumes!.some((v) => v.name === 'managed-users')).toBe(false);
  });

  test('the pod checksum does not cover the users Secret (hot-reloaded) but still covers the TLS Secret', () => {
    const sum = (secretVersions: Record<string, string>) => buildDeployment(open, { ...ctx, secretVersions }).spec!.template.metadata!.annotations![CHECKSUM_ANNOTATION];
    const base = sum({ 'mail-tls': '100', users: '1' });
    expect(sum({ 'mail-tls': '100', users: '2' })).toBe(base);
    expect(sum({ 'mail-tls': '100', users: '2', 'mail-smtpusers': '9' })).toBe(base);
    expect(sum({ 'mail-tls': '101', users: '1' })).not.toBe(base);
  });
});

describe('the SmtpUser CRD', () => {
  test('namespaced, status subresource, short name, no category, printer columns Relay/Ready/Reason/Secret/Age (Senders wide)', () => {
    const crd = buildUserCrd();
    expect(crd.metadata.name).toBe('smtpusers.smtprelay.dev');
    expect(crd.spec.names).toMatchObject({ kind: 'SmtpUser', plural: 'smtpusers', shortNames: ['smtpu'] });
    // Not in the 'smtprelay' category: kubectl would expand `kubectl get smtprelay NAME` to both kinds and refuse.
    expect(crd.spec.names.categories).toBeUndefined();
    const v = crd.spec.versions[0]!;
    expect(v.subresources).toEqual({ status: {} });
    expect(v.additionalPrinterColumns.filter((c) => !c.priority).map((c) => c.name)).toEqual(['Relay', 'Relay NS', 'Ready', 'Reason', 'Secret', 'Age']);
    expect(v.additionalPrinterColumns.find((c) => c.name === 'Senders')?.priority).toBe(1);
    expect(v.schema.openAPIV3Schema.properties!.spec!.required).toEqual(['relayRef', 'senders', 'connectionSecretRef']);
  });
});
