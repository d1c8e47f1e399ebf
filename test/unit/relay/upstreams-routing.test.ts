// Several upstreams: relay.json validation and normalisation, route matching, the circuit breaker.
import { describe, expect, test } from '@jest/globals';
import type { RelayRoute } from '../../../src/common/relay-config.js';
import { CircuitBreaker } from '../../../src/relay/circuit-breaker.js';
import { ConfigError, validateRelayConfig } from '../../../src/relay/config.js';
import { rewriteFromHeader } from '../../../src/relay/from-rewrite.js';
import { matchRoute, noRoute, upstreamPlan } from '../../../src/relay/routing.js';

function base(): Record<string, any> {
  return {
    hostname: 'smtp.example.com',
    listeners: [{ name: 'submission', port: 587, mode: 'starttls' }],
    tls: { dir: '/etc/smtp-relay/tls' },
    usersDir: '/etc/smtp-relay/users',
    upstream: { host: 'mail.example.net', port: 587, tls: 'starttls', credentialsDir: '/c' },
    policy: { allowedSenderDomains: ['example.com'], maxMessageBytes: 1048576, maxRecipients: 50 },
    limits: { maxConnections: 100, socketTimeoutMs: 60000, closeTimeoutMs: 30000, authFailuresPerMinute: 5 },
    metricsPort: 9090,
  };
}

const oauth = { type: 'oauth2', provider: 'microsoft', user: 'printer@corp.example', tenant: 'corp.example', clientId: 'app', secretDir: '/s' };

function several(): Record<string, any> {
  const c = base();
  delete c.upstream;
  c.upstreams = [
    { name: 'ses', host: 'email-smtp.eu-west-1.amazonaws.com', port: 587, tls: 'starttls', credentialsDir: '/ses' },
    { name: 'm365', host: 'smtp.office365.com', port: 587, tls: 'starttls', auth: { ...oauth } },
    { name: 'backup', host: 'backup.example.net', port: 465, tls: 'implicit', poolSize: 2 },
  ];
  c.routes = [
    { senderDomains: ['Corp.Example'], upstreams: ['m365', 'backup'], rewriteFrom: 'printer@corp.example' },
    { users: ['billing'], upstreams: ['ses'] },
    { upstreams: ['ses', 'backup'] },
  ];
  return c;
}

describe('relay.json upstreams and routes', () => {
  test("today's single upstream normalises to one upstream named 'default' and one catch-all route", () => {
    const cfg = validateRelayConfig(base());
    expect(cfg.upstreams).toBeUndefined();
    expect(upstreamPlan(cfg)).toEqual({
      upstreams: [{ name: 'default', host: 'mail.example.net', port: 587, tls: 'starttls', credentialsDir: '/c' }],
      routes: [{ upstreams: ['default'] }],
    });
  });

  test('several upstreams with routes pass; domains are lower-cased; the OAuth2 login is kept', () => {
    const cfg = validateRelayConfig(several());
    const plan = upstreamPlan(cfg);
    expect(plan.upstreams.map((u) => u.name)).toEqual(['ses', 'm365', 'backup']);
    expect(plan.upstreams[1]?.auth).toEqual(oauth);
    expect(plan.routes[0]).toEqual({ senderDomains: ['corp.example'], upstreams: ['m365', 'backup'], rewriteFrom: 'printer@corp.example' });
  });

  test.each([
    ['both upstream and upstreams', (c: Record<string, any>) => (c.upstream = base().upstream), /exactly one of config\.upstream .* and config\.upstreams/],
    ['neither', (c: Record<string, any>) => delete c.upstreams, /exactly one of config\.upstream/],
    ['a duplicate name', (c: Record<string, any>) => (c.upstreams[2].name = 'ses'), /config\.upstreams has the name 'ses' twice/],
    ['a bad name', (c: Record<string, any>) => (c.upstreams[0].name = 'SES_1'), /config\.upstreams\[0\]\.name 'SES_1'/],
    ['a route naming an unknown upstream', (c: Record<string, any>) => (c.routes[1].upstreams = ['sendgrid']), /config\.routes\[1\]\.upstreams\[0\] 'sendgrid' is not the name of an upstream/],
    ['a route with no upstream', (c: Record<string, any>) => (c.routes[1].upstreams = []), /config\.routes\[1\]\.upstreams must name at least one/],
    ['a route naming one twice', (c: Record<string, any>) => (c.routes[2].upstreams = ['ses', 'ses']), /config\.routes\[2\]\.upstreams names an upstream twice/],
    ['upstreams without routes', (c: Record<string, any>) => delete c.routes, /config\.routes must be a non-empty array/],
    ['auth and credentialsDir together', (c: Record<string, any>) => (c.upstreams[1].credentialsDir = '/x'), /config\.upstreams\[1\]\.auth and config\.upstreams\[1\]\.credentialsDir are both set/],
    ['a bad OAuth2 login', (c: Record<string, any>) => delete c.upstreams[1].auth.clientId, /config\.upstreams\[1\]\.auth\.clientId is required/],
    ['OAuth2 over plaintext', (c: Record<string, any>) => (c.upstreams[1].tls = 'none-insecure'), /config\.upstreams\[1\]\.auth \(OAuth2\) needs/],
    ['an empty senderDomains', (c: Record<string, any>) => (c.routes[0].senderDomains = []), /config\.routes\[0\]\.senderDomains must list/],
    ['a bad sender domain', (c: Record<string, any>) => (c.routes[0].senderDomains = ['not a domain']), /config\.routes\[0\]\.senderDomains\[0\]/],
    ['a bad user', (c: Record<string, any>) => (c.routes[1].users = ['bad user']), /config\.routes\[1\]\.users\[0\] 'bad user'/],
    ['a rewriteFrom that is no mailbox', (c: Record<string, any>) => (c.routes[0].rewriteFrom = 'corp.example'), /config\.routes\[0\]\.rewriteFrom 'corp\.example' is not a mailbox/],
    ['a bad upstream port', (c: Record<string, any>) => (c.upstreams[0].port = 0), /config\.upstreams\[0\]\.port/],
    ['a breaker cap below its cool-down', (c: Record<string, any>) => (c.circuitBreaker = { openMs: 5000, maxOpenMs: 1000 }), /config\.circuitBreaker\.maxOpenMs/],
  ])('refused: %s', (_what, mutate, message) => {
    const c = several();
    mutate(c);
    expect(() => validateRelayConfig(c)).toThrow(ConfigError);
    expect(() => validateRelayConfig(c)).toThrow(message);
  });

  test('routes next to the single upstream are refused (the shorthand has its own catch-all)', () => {
    const c = base();
    c.routes = [{ upstreams: ['default'] }];
    expect(() => validateRelayConfig(c)).toThrow(/config\.routes needs config\.upstreams/);
  });

  test('the single upstream may log in with OAuth2 too', () => {
    const c = base();
    delete c.upstream.credentialsDir;
    c.upstream.auth = { ...oauth };
    expect(upstreamPlan(validateRelayConfig(c)).upstreams[0]?.auth).toEqual(oauth);
  });
});

describe('matchRoute', () => {
  const routes: RelayRoute[] = [
    { senderDomains: ['a.example'], upstreams: ['A'] },
    { senderDomains: ['b.example'], users: ['bob'], upstreams: ['B'] },
    { users: ['carol'], upstreams: ['C'] },
    { upstreams: ['any'] },
  ];
  const pick = (sender: string, user?: string) => matchRoute(routes, sender, user)?.upstreams[0];

  test('first match wins: sender domain (case-insensitive), then domain and user together, then user, then the catch-all', () => {
    expect(pick('x@a.example', 'bob')).toBe('A');
    expect(pick('X@A.EXAMPLE')).toBe('A');
    expect(pick('x@b.example', 'bob')).toBe('B');
    expect(pick('x@b.example', 'alice')).toBe('any'); // domain matches, user does not
    expect(pick('x@b.example')).toBe('any'); // unauthenticated: never a route with users
    expect(pick('x@c.example', 'carol')).toBe('C');
    expect(pick('x@sub.a.example')).toBe('any'); // exact domains, not subdomains
  });

  test('the null sender matches only routes without senderDomains', () => {
    expect(pick('', 'carol')).toBe('C');
    expect(matchRoute(routes.slice(0, 2), '', 'bob')).toBeUndefined();
  });

  test('no route: undefined, and the refusal is 550 5.7.1 naming the sender', () => {
    expect(matchRoute(routes.slice(0, 3), 'x@z.example', 'bob')).toBeUndefined();
    expect(noRoute('x@z.example')).toEqual({ code: 550, message: '5.7.1 No route for sender <x@z.example>' });
  });
});

describe('CircuitBreaker', () => {
  function breaker() {
    const clock = { t: 1_000 };
    const b = new CircuitBreaker({ failureThreshold: 3, openMs: 1_000, maxOpenMs: 3_000, now: () => clock.t });
    return { b, clock };
  }

  test('opens after N failures in a row; a success in between resets the count', () => {
    const { b } = breaker();
    b.onFailure();
    b.onFailure();
    b.onSuccess();
    b.onFailure();
    b.onFailure();
    expect(b.state).toBe('closed');
    expect(b.tryAcquire()).toBe(true);
    b.onFailure();
    expect(b.state).toBe('open');
    expect(b.tryAcquire()).toBe(false);
    expect(b.available).toBe(false);
  });

  test('half-opens after the cool-down and lets exactly one trial through; its success closes it', () => {
    const { b, clock } = breaker();
    for (let i = 0; i < 3; i++) b.onFailure();
    clock.t += 999;
    expect(b.state).toBe('open');
    clock.t += 1;
    expect(b.state).toBe('half-open');
    expect(b.tryAcquire()).toBe(true);
    expect(b.tryAcquire()).toBe(false); // the trial is out
    b.onSuccess();
    expect(b.state).toBe('closed');
    expect(b.tryAcquire()).toBe(true);
  });

  test('a failed trial re-opens it with a doubled cool-down, up to the cap; an abandoned trial lets another try', () => {
    const { b, clock } = breaker();
    for (let i = 0; i < 3; i++) b.onFailure();
    const cooldowns: number[] = [];
    for (let round = 0; round < 4; round++) {
      const openedAt = clock.t;
      while (b.state === 'open') clock.t += 100;
      cooldowns.push(clock.t - openedAt);
      expect(b.tryAcquire()).toBe(true);
      if (round === 0) {
        b.onAbandon();
        expect(b.tryAcquire()).toBe(true);
      }
      b.onFailure();
    }
    expect(cooldowns).toEqual([1_000, 2_000, 3_000, 3_000]);
    // After a close, the cool-down starts small again.
    while (b.state === 'open') clock.t += 100;
    b.tryAcquire();
    b.onSuccess();
    for (let i = 0; i < 3; i++) b.onFailure();
    expect(b.retryAt - clock.t).toBe(1_000);
  });
});

describe('rewriteFromHeader', () => {
  test('From: becomes the mailbox, the original (folded) From: goes to Reply-To; other fields stay in order', () => {
    const block = 'Subject: hi\r\nFrom: "App One"\r\n <app@a.example>\r\nTo: x@dest.example\r\n';
    expect(rewriteFromHeader(block, 'printer@corp.example')).toBe('Subject: hi\r\nFrom: <printer@corp.example>\r\nReply-To: "App One"\r\n <app@a.example>\r\nTo: x@dest.example\r\n');
  });
  test('an existing Reply-To is kept, every From: line goes, bare LF lines come out CRLF', () => {
    const block = 'From: a@a.example\nReply-To: list@a.example\nfrom: b@a.example\n';
    expect(rewriteFromHeader(block, 'm@corp.example')).toBe('From: <m@corp.example>\r\nReply-To: list@a.example\r\n');
  });
  test('no From: at all: one is added', () => {
    expect(rewriteFromHeader('Subject: x\r\n', 'm@corp.example')).toBe('From: <m@corp.example>\r\nSubject: x\r\n');
  });
});
