// spec.upstreams / spec.routes in the builders: the relay.json the relay's own validator
// accepts unchanged (so a drift between the operator's rendering and the relay's contract
// fails here), each upstream's Secrets mounted at their own directory with `items` mapping the
// named keys to the relay's fixed file names, the checksum over every Secret, NetworkPolicy
// egress, the operator's allow-list, and the UpstreamsHealthy condition (quiet: a moving
// counter writes nothing).
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, test } from '@jest/globals';
import { parse } from 'yaml';
import type { SmtpRelay, SmtpRelaySpec } from '../../../src/api/types.js';
import type { QueueSummary, UpstreamHealth } from '../../../src/common/queue-summary.js';
import { MOUNTS } from '../../../src/common/relay-config.js';
import { buildDeployment, configChecksum } from '../../../src/controller/builders/deployment.js';
import { renderRelayConfig, renderRelayConfigJson } from '../../../src/controller/builders/configmap.js';
import { buildNetworkPolicy } from '../../../src/controller/builders/networkpolicy.js';
import { desiredChildren } from '../../../src/controller/builders/index.js';
import { upstreamsHealthyCondition } from '../../../src/controller/queue/upstreams-health.js';
import type { QueueObservation } from '../../../src/controller/queue/index.js';
import { Reason } from '../../../src/controller/reasons.js';
import { computeStatus, type Observed } from '../../../src/controller/status.js';
import { eventFor } from '../../../src/controller/reconciler.js';
import { checkTenancy } from '../../../src/controller/tenancy.js';
import { statusWriteDecision } from '../../../src/controller/tls-health/churn.js';
import { validateRelayConfig } from '../../../src/relay/config.js';
import { repoRoot } from '../../helpers/cli.js';
import { ctx, relay } from './fixtures.js';

const load = (file: string): SmtpRelay => {
  const r = parse(fs.readFileSync(path.join(repoRoot, file), 'utf8')) as SmtpRelay;
  return { ...r, metadata: { ...r.metadata, namespace: 'mail', uid: 'u-1', generation: 1 } };
};

const full = () => load('test/fixtures/valid/upstreams-routes.yaml');
const SAMPLES = [
  'deploy/samples/smtprelay-ses.yaml',
  'deploy/samples/smtprelay-ses-sendgrid.yaml',
  'deploy/samples/smtprelay-mailgun.yaml',
  'deploy/samples/smtprelay-microsoft365.yaml',
  'deploy/samples/smtprelay-microsoft365-certificate.yaml',
  'deploy/samples/smtprelay-google-workspace.yaml',
];

function secretVolumes(r: SmtpRelay) {
  const pod = buildDeployment({ ...r, spec: { ...r.spec, queue: { mode: 'PassThrough' } } }, ctx).spec!.template.spec!;
  const mounts = new Map(pod.containers[0]!.volumeMounts!.map((m) => [m.name, m]));
  return new Map(pod.volumes!.filter((v) => v.secret).map((v) => [v.name, { secret: v.secret!, mount: mounts.get(v.name)! }]));
}

describe('relay.json', () => {
  test('a full spec renders a relay.json the relay\'s own validateRelayConfig accepts unchanged', () => {
    const rendered = renderRelayConfig(full());
    const json = JSON.parse(JSON.stringify(rendered)) as unknown;
    expect(validateRelayConfig(json)).toEqual(rendered);
  });

  test.each(SAMPLES)('sample %s renders every child and a relay.json the relay accepts', (file) => {
    const r = load(file);
    expect(desiredChildren(r, ctx).length).toBeGreaterThan(3);
    const rendered = renderRelayConfig(r);
    expect(validateRelayConfig(JSON.parse(JSON.stringify(rendered)))).toEqual(rendered);
  });

  test('upstreams and routes as the relay reads them', () => {
    const c = renderRelayConfig(full());
    expect(c.upstream).toBeUndefined();
    expect(c.upstreams!.map((u) => u.name)).toEqual(['mailgun-shop', 'm365', 'gmail', 'idp']);
    expect(c.upstreams![0]).toEqual({
      name: 'mailgun-shop',
      host: 'smtp.eu.mailgun.org',
      port: 587,
      tls: 'starttls',
      credentialsDir: '/etc/smtp-relay/upstreams/mailgun-shop/credentials',
      caDir: '/etc/smtp-relay/upstreams/mailgun-shop/ca',
    });
    expect(c.upstreams![1]!.auth).toEqual({
      type: 'oauth2',
      provider: 'microsoft',
      user: 'relay@contoso.com',
      tenant: 'contoso.onmicrosoft.com',
      clientId: '11111111-1111-1111-1111-111111111111',
      clientAuth: 'private_key_jwt',
      secretDir: '/etc/smtp-relay/upstreams/m365/oauth2',
    });
    expect(c.upstreams![1]!.servername).toBe('smtp.office365.com');
    expect(c.upstreams![2]!.auth).toEqual({ type: 'oauth2', provider: 'google', user: 'relay@example.com', secretDir: '/etc/smtp-relay/upstreams/gmail/oauth2' });
    expect(c.upstreams![3]!.auth).toMatchObject({ provider: 'generic', tokenEndpoint: 'http://127.0.0.1:4444/oauth2/token', scope: 'smtp', clientId: 'relay' });
    expect(c.routes).toEqual([
      { senderDomains: ['shop.example.com'], upstreams: ['mailgun-shop'] },
      { users: ['printer'], upstreams: ['m365'], rewriteFrom: 'relay@contoso.com' },
      { senderDomains: ['example.com'], users: ['billing'], upstreams: ['gmail', 'idp'] },
      { upstreams: ['gmail', 'm365'] },
    ]);
  });

  test('upstreams without routes: one catch-all through every upstream in list order', () => {
    const c = renderRelayConfig(load('deploy/samples/smtprelay-ses-sendgrid.yaml'));
    expect(c.routes).toEqual([{ upstreams: ['ses', 'sendgrid'] }]);
  });

  test('the spec.upstream shorthand renders relay.json `upstream` as before', () => {
    const c = renderRelayConfig(relay({ upstream: { host: 'smtp.example.net', passwordSecretRef: { name: 'creds' }, caSecretRef: { name: 'ca' } } }));
    expect(c.upstreams).toBeUndefined();
    expect(c.routes).toBeUndefined();
    expect(c.upstream).toEqual({ host: 'smtp.example.net', port: 587, tls: 'starttls', credentialsDir: MOUNTS.upstreamCredentials, caDir: MOUNTS.upstreamCa });
  });
});

describe('Secret volumes', () => {
  test('each upstream\'s Secrets mount read-only at their own directory, the named keys projected onto the relay\'s file names', () => {
    const v = secretVolumes(full());
    expect(v.get('up-mailgun-shop-cred')).toEqual({
      secret: { secretName: 'mailgun-shop', items: [{ key: 'login', path: 'username' }, { key: 'secret', path: 'password' }], defaultMode: 0o440 },
      mount: { name: 'up-mailgun-shop-cred', mountPath: '/etc/smtp-relay/upstreams/mailgun-shop/credentials', readOnly: true },
    });
    expect(v.get('up-mailgun-shop-ca')!.secret.items).toEqual([{ key: 'root.pem', path: 'ca.crt' }]);
    expect(v.get('up-m365-oauth2')!.secret).toEqual({
      secretName: 'm365-cert',
      items: [{ key: 'tls.crt', path: 'tls.crt' }, { key: 'tls.key', path: 'tls.key' }],
      defaultMode: 0o440,
    });
    // Google: only the key file; the client secret next to it only with a clientID.
    expect(v.get('up-gmail-oauth2')!.secret.items).toEqual([{ key: 'key.json', path: 'service-account.json' }]);
    expect(v.get('up-idp-oauth2')!.secret.items).toEqual([{ key: 'secret', path: 'client-secret' }]);
    for (const { mount } of v.values()) expect(mount.readOnly).toBe(true);
  });

  test('the shorthand with default keys keeps today\'s volume (no items: no pod roll on upgrade); named keys add items', () => {
    const plain = secretVolumes(relay({ upstream: { host: 'smtp.example.net', passwordSecretRef: { name: 'creds' } } }));
    expect(plain.get('upstream-credentials')!.secret).toEqual({ secretName: 'creds', defaultMode: 0o440 });
    const keyed = secretVolumes(relay({ upstream: { host: 'smtp.example.net', passwordSecretRef: { name: 'creds', usernameKey: 'user', passwordKey: 'password' } } }));
    expect(keyed.get('upstream-credentials')!.secret.items).toEqual([{ key: 'user', path: 'username' }, { key: 'password', path: 'password' }]);
  });

  test('the pod checksum covers every upstream Secret (resourceVersion only)', () => {
    const r = full();
    const versions = { 'mail-tls': '1', users: '1', 'mailgun-shop': '1', 'corp-ca': '1', 'm365-cert': '1', 'google-sa': '1', 'idp-client': '1' };
    const base = configChecksum(r, { ...ctx, secretVersions: versions });
    for (const name of ['mailgun-shop', 'corp-ca', 'm365-cert', 'google-sa', 'idp-client']) {
      expect(configChecksum(r, { ...ctx, secretVersions: { ...versions, [name]: '2' } })).not.toBe(base);
    }
  });

  test('the shorthand\'s checksum is computed as before spec.upstreams existed (existing relays do not roll)', () => {
    const r = relay({ upstream: { host: 'smtp.example.net', passwordSecretRef: { name: 'creds' }, caSecretRef: { name: 'ca' } } });
    const versions = { 'mail-tls': '100', creds: '5', ca: '7' };
    const before = createHash('sha256')
      .update(renderRelayConfigJson(r))
      .update('\0tls=mail-tls@100')
      .update('\0upstreamCredentials=creds@5')
      .update('\0upstreamCa=ca@7')
      .digest('hex');
    expect(configChecksum(r, { ...ctx, secretVersions: versions })).toBe(before);
  });
});

describe('NetworkPolicy egress', () => {
  const egressPorts = (spec: Partial<SmtpRelaySpec>) =>
    buildNetworkPolicy(relay(spec), ctx).spec.egress!.map((e) => e.ports!.map((p) => `${p.protocol}/${p.port}`));

  test('every upstream port, and 443 when an OAuth2 upstream must reach its token endpoint', () => {
    expect(egressPorts(full().spec)).toEqual([['TCP/443', 'TCP/465', 'TCP/587', 'TCP/4444'], ['UDP/53', 'TCP/53']]);
    expect(egressPorts({ upstream: undefined, upstreams: [{ name: 'a', host: 'a.example.net', port: 2525 }, { name: 'b', host: 'b.example.net' }] })).toEqual([['TCP/587', 'TCP/2525'], ['UDP/53', 'TCP/53']]);
  });

  test('the shorthand: its port only', () => {
    expect(egressPorts({ upstream: { host: 'smtp.example.net', port: 465, tls: 'implicit' } })).toEqual([['TCP/465'], ['UDP/53', 'TCP/53']]);
  });
});

describe('--allowed-upstream-hosts', () => {
  const policy = { defaultImage: 'img', allowedRelayImages: [], allowedClusterIssuers: ['*'], allowedUpstreamHosts: ['*.mailgun.org', 'smtp.office365.com', 'smtp.gmail.com'] };

  test('applies to every upstream and to a tokenEndpoint the spec sets', () => {
    const problems = checkTenancy(full(), policy);
    expect(problems.map((p) => p.reason)).toEqual([Reason.UpstreamHostNotAllowed, Reason.UpstreamHostNotAllowed]);
    expect(problems[0]!.message).toContain('spec.upstreams[idp].host 127.0.0.1');
    expect(problems[1]!.message).toContain('spec.upstreams[idp].oauth2.tokenEndpoint host 127.0.0.1');
  });
});

describe('UpstreamsHealthy', () => {
  const summary = (upstreams: UpstreamHealth[] | undefined, over: Partial<QueueSummary> = {}): QueueSummary => ({
    mode: 'durable',
    accepting: true,
    draining: false,
    depth: 0,
    deferred: 0,
    oldestAgeSeconds: 0,
    bytes: 0,
    ...(upstreams ? { upstreams } : {}),
    ...over,
  });
  const pods = (...s: QueueSummary[]) => s.map((summary, i) => ({ name: `mail-${i}`, ordinal: i, summary }));
  const closed = (name: string): UpstreamHealth => ({ name, state: 'closed' });
  const authFailed: UpstreamHealth = {
    name: 'm365',
    state: 'open',
    lastError: { message: 'token endpoint said invalid_client: AADSTS7000215 Invalid client secret provided. Trace ID: 1234', at: '2026-12-01T12:00:00Z', reason: 'UpstreamAuthFailed', oauthError: 'invalid_client' },
  };
  const refused: UpstreamHealth = { name: 'ses', state: 'open', lastError: { message: 'connect ECONNREFUSED 10.0.0.9:587', at: '2026-12-01T12:00:00Z', reason: 'UpstreamUnreachable' } };
  const throttled: UpstreamHealth = {
    name: 'ses',
    state: 'half-open',
    lastError: { code: 454, message: '454 4.7.0 Throttling failure: Maximum sending rate exceeded. id=abc123', at: '2026-12-01T12:00:00Z', reason: 'UpstreamDeferred' },
  };

  test('Unknown until a relay reports its upstreams', () => {
    expect(upstreamsHealthyCondition([])).toMatchObject({ status: 'Unknown', reason: Reason.UpstreamsNotObserved });
    expect(upstreamsHealthyCondition(pods(summary(undefined)))).toMatchObject({ status: 'Unknown', reason: Reason.UpstreamsNotObserved });
  });

  test('a closed breaker whose last transaction was deferred (throttling) fails; a 5xx (one message\'s problem) does not', () => {
    const deferred: UpstreamHealth = { ...throttled, state: 'closed' };
    expect(upstreamsHealthyCondition(pods(summary([deferred])))).toMatchObject({ status: 'False', reason: Reason.UpstreamRejecting });
    expect(upstreamsHealthyCondition(pods(summary([deferred]))).message).toContain('ses (breaker closed, UpstreamRejecting: 454 4.7.0)');
    const bounced: UpstreamHealth = { name: 'ses', state: 'closed', lastError: { code: 550, message: '550 5.1.1 no such user', at: '2026-12-01T12:00:00Z', reason: 'UpstreamDeferred' } };
    expect(upstreamsHealthyCondition(pods(summary([bounced])))).toMatchObject({ status: 'True' });
  });

  test('a refused login names the OAuth2 code, not the relay\'s own 451 4.4.1', () => {
    const login: UpstreamHealth = { name: 'm365', state: 'open', lastError: { code: 451, message: '4.4.1 Upstream refused the relay credentials, try again later', at: '2026-12-01T12:00:00Z', reason: 'UpstreamAuthFailed', oauthError: 'unauthorized_client' } };
    expect(upstreamsHealthyCondition(pods(summary([login]))).message).toContain('m365 (breaker open, UpstreamAuthFailed: unauthorized_client)');
  });

  test('True when every breaker is closed in every pod', () => {
    const c = upstreamsHealthyCondition(pods(summary([closed('ses'), closed('sendgrid')]), summary([closed('ses'), closed('sendgrid')])));
    expect(c).toMatchObject({ status: 'True', reason: Reason.UpstreamsAvailable, message: 'Every upstream takes mail: sendgrid, ses.' });
  });

  test('False naming the failing upstream with its reason and codes, never its reply text', () => {
    const c = upstreamsHealthyCondition(pods(summary([closed('ses'), closed('m365')]), summary([closed('ses'), authFailed])));
    expect(c).toMatchObject({ status: 'False', reason: Reason.UpstreamAuthFailed });
    expect(c.message).toContain('m365 (breaker open, UpstreamAuthFailed: invalid_client)');
    expect(c.message).not.toContain('AADSTS');
    expect(c.message).not.toContain('Trace ID');
    expect(c.message).not.toContain('ses (');
  });

  test('reasons: unreachable, rejecting (4xx), and the worst names the condition', () => {
    expect(upstreamsHealthyCondition(pods(summary([refused])))).toMatchObject({ status: 'False', reason: Reason.UpstreamUnavailable });
    expect(upstreamsHealthyCondition(pods(summary([refused]))).message).toContain('ses (breaker open, UpstreamUnavailable: unreachable ECONNREFUSED)');
    // The relay's own text for a connection failure (4.4.1) is not the upstream's: no code from it.
    const own: UpstreamHealth = { name: 'ses', state: 'open', lastError: { message: '4.4.1 Upstream unavailable, try again later', at: '2026-12-01T12:00:00Z', reason: 'UpstreamUnreachable' } };
    expect(upstreamsHealthyCondition(pods(summary([own]))).message).toContain('ses (breaker open, UpstreamUnavailable: unreachable)');
    const slow: UpstreamHealth = { name: 'ses', state: 'open', lastError: { message: '4.4.2 Upstream timed out, try again later', at: '2026-12-01T12:00:00Z', reason: 'UpstreamTimeout' } };
    expect(upstreamsHealthyCondition(pods(summary([slow]))).message).toContain('ses (breaker open, UpstreamUnavailable: timeout)');
    const t = upstreamsHealthyCondition(pods(summary([throttled])));
    expect(t).toMatchObject({ status: 'False', reason: Reason.UpstreamRejecting });
    // Half-open shows as open: a breaker turns half-open by time alone, and status must not.
    expect(t.message).toContain('ses (breaker open, UpstreamRejecting: 454 4.7.0)');
    // Two pods disagree: the worse state is reported; several upstreams: auth first.
    const both = upstreamsHealthyCondition(pods(summary([throttled, closed('m365')]), summary([refused, authFailed])));
    expect(both.reason).toBe(Reason.UpstreamAuthFailed);
    expect(both.message).toContain('Failing upstreams: m365 (breaker open, UpstreamAuthFailed: invalid_client); ses (breaker open, UpstreamUnavailable: unreachable ECONNREFUSED)');
  });

  test('Events: Warning when an upstream starts failing (or fails differently), Normal when all recover, none for Unknown', () => {
    const c = (status: 'True' | 'False' | 'Unknown', reason: string) => ({ type: 'UpstreamsHealthy', status, reason, message: 'm', lastTransitionTime: '2026-12-01T12:00:00Z' });
    expect(eventFor('UpstreamsHealthy', 'True', c('False', Reason.UpstreamUnavailable))).toEqual({ type: 'Warning' });
    expect(eventFor('UpstreamsHealthy', 'False', c('False', Reason.UpstreamAuthFailed))).toEqual({ type: 'Warning' });
    expect(eventFor('UpstreamsHealthy', 'False', c('True', Reason.UpstreamsAvailable))).toEqual({ type: 'Normal' });
    expect(eventFor('UpstreamsHealthy', undefined, c('True', Reason.UpstreamsAvailable))).toBeUndefined();
    expect(eventFor('UpstreamsHealthy', undefined, c('Unknown', Reason.UpstreamsNotObserved))).toBeUndefined();
  });

  describe('in the status (churn rule)', () => {
    const tlsSecret = { notBefore: '2026-01-01T00:00:00Z', notAfter: '2027-06-01T00:00:00Z', fingerprint: 'ab'.repeat(32) };
    const r = relay({ tls: { secretName: 'own-cert' }, queue: { mode: 'Durable' } });
    const now = new Date('2026-12-01T12:00:00Z');
    const observed = (...s: QueueSummary[]): Observed => {
      const queue: QueueObservation = { durable: true, pods: pods(...s), stranded: [], desiredReplicas: s.length };
      return { problems: [], probe: { enabled: false }, tlsSecret, queue };
    };

    test('a moving counter, a new error time and new reply text write nothing', () => {
      const before = computeStatus(r, observed(summary([refused, authFailed], { depth: 3, deferred: 3, oldestAgeSeconds: 400 })), now);
      expect(before.conditions?.find((c) => c.type === 'UpstreamsHealthy')).toMatchObject({ status: 'False', reason: Reason.UpstreamAuthFailed });
      const later = { ...authFailed, lastError: { ...authFailed.lastError!, at: '2026-12-01T12:05:00Z', message: 'token endpoint said invalid_client: AADSTS7000215 Trace ID: 9999' } };
      const refusedLater = { ...refused, lastError: { ...refused.lastError!, at: '2026-12-01T12:05:00Z', message: 'connect ECONNREFUSED 10.0.0.10:587' } };
      const after = computeStatus({ ...r, status: before }, observed(summary([refusedLater, later], { depth: 90, deferred: 90, oldestAgeSeconds: 500, bytes: 1e6 })), new Date(now.getTime() + 300_000));
      expect(statusWriteDecision(before, after)).toEqual({ write: false });
    });

    test('an open breaker turning half-open (time alone) writes nothing', () => {
      const before = computeStatus(r, observed(summary([refused])), now);
      const after = computeStatus({ ...r, status: before }, observed(summary([{ ...refused, state: 'half-open' }])), new Date(now.getTime() + 10_000));
      expect(statusWriteDecision(before, after)).toEqual({ write: false });
    });

    test('a breaker that closes writes once', () => {
      const before = computeStatus(r, observed(summary([refused])), now);
      const after = computeStatus({ ...r, status: before }, observed(summary([closed('ses')])), now);
      expect(statusWriteDecision(before, after)).toEqual({ write: true, why: 'changed' });
      expect(after.conditions?.find((c) => c.type === 'UpstreamsHealthy')).toMatchObject({ status: 'True' });
    });
  });
});
