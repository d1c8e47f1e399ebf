// Several upstreams on real parts: two private Postfix instances (A and B) as upstreams, a TCP
// fault proxy in front of A that counts the connections the relay really opens, and the
// capture upstream where a fault mode is needed (4xx after the final dot, a cut mid-DATA).
// Routing by sender domain and by user, failover while A is stopped (pass-through and
// durable), the circuit breaker keeping mail off A while it is down and closing again after
// a half-open trial once A is back.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import fs from 'node:fs';
import path from 'node:path';
import type { RelayConfig, RelayNamedUpstream } from '../../../src/common/relay-config.js';
import { createLogger } from '../../../src/common/logger.js';
import { RelayRuntime } from '../../../src/relay/relay.js';
import { message, RawSmtp, sendWithNodemailer } from '../../helpers/smtp/clients.js';
import { writeAtomicDir } from '../../helpers/smtp/certs.js';
import { startPostfix, type PostfixUpstream } from '../../helpers/smtp/postfix.js';
import { createRelayFixture, PASSWORD, USER, type RelayFixture } from '../../helpers/smtp/relay-fixture.js';
import { startFaultProxy, type FaultProxy } from '../../soak/fault-proxy.js';

const USER2 = 'app2';
const PASSWORD2 = 'second user password 2468';
const OPEN_MS = 1500;

let fx: RelayFixture;
let postfixA: PostfixUpstream;
let postfixB: PostfixUpstream;
let proxyA: FaultProxy;
let postfixATls: { cert: string; key: string };
const relays: RelayRuntime[] = [];

function upstream(name: string, port: number, extra: Partial<RelayNamedUpstream> = {}): RelayNamedUpstream {
  return { name, host: '127.0.0.1', port, tls: 'starttls', caDir: fx.dirs.upstreamCa, servername: 'localhost', poolSize: 4, connectTimeoutMs: 2000, timeoutMs: 5000, ...extra };
}

/** An in-process relay on the fixture's TLS and users, with these upstreams and routes. */
async function relayWith(patch: (c: RelayConfig) => void): Promise<RelayRuntime> {
  const config: RelayConfig = structuredClone(fx.config);
  delete config.upstream;
  config.circuitBreaker = { failureThreshold: 3, openMs: OPEN_MS, maxOpenMs: 2 * OPEN_MS };
  patch(config);
  const rt = new RelayRuntime({ config, logger: createLogger('relay-test', process.env.RELAY_TEST_LOG ?? 'error'), listenHost: '127.0.0.1', metricsHost: '127.0.0.1', pollMs: 1000 });
  await rt.start();
  relays.push(rt);
  return rt;
}

function send(relay: RelayRuntime, from: string, subject: string, user = USER, pass = PASSWORD, bytes = 300) {
  return sendWithNodemailer({ port: relay.port('submission') as number, ca: fx.ca.caCert, user, pass, from, raw: message(bytes, subject) });
}

function count(pf: PostfixUpstream, prefix: string): number {
  return pf.delivered().filter((m) => m.includes(`Subject: ${prefix}`)).length;
}

async function waitCount(pf: PostfixUpstream, prefix: string, n: number, timeoutMs = 20_000): Promise<number> {
  const until = Date.now() + timeoutMs;
  while (count(pf, prefix) < n && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
  return count(pf, prefix);
}

/** Runs `jobs` with at most `width` at a time. */
async function inParallel<T>(n: number, width: number, job: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < n) {
        const i = next++;
        out[i] = await job(i);
      }
    }),
  );
  return out;
}

function health(relay: RelayRuntime, name: string) {
  return relay.queueSummary().upstreams?.find((u) => u.name === name);
}

beforeAll(async () => {
  fx = await createRelayFixture((c) => {
    c.policy.allowedSenderDomains = ['example.com', 'a.example', 'b.example', 'c.example'];
    c.policy.maxMessageBytes = 1024 * 1024;
    c.limits.dkimSpillBytes = 64 * 1024;
  });
  writeAtomicDir(fx.dirs.users, { [USER]: `${PASSWORD}\n`, [USER2]: `${PASSWORD2}\n` });
  postfixATls = fx.ca.issue('postfix-a', ['localhost', '127.0.0.1']);
  postfixA = await startPostfix(path.join(fx.root, 'postfix-a'), postfixATls);
  postfixB = await startPostfix(path.join(fx.root, 'postfix-b'), fx.ca.issue('postfix-b', ['localhost', '127.0.0.1']));
  proxyA = await startFaultProxy(postfixA.port);
}, 90_000);

afterAll(async () => {
  for (const r of relays) await r.stop(200);
  await proxyA?.close();
  await postfixA?.stop();
  await postfixB?.stop();
  await fx?.cleanup();
});

describe('routing', () => {
  test('by sender domain: 50 from a.example reach A, 50 from b.example reach B, the rest take the catch-all', async () => {
    const relay = await relayWith((c) => {
      c.upstreams = [upstream('a', postfixA.port), upstream('b', postfixB.port)];
      c.routes = [
        { senderDomains: ['a.example'], upstreams: ['a'] },
        { senderDomains: ['b.example'], upstreams: ['b'] },
        { upstreams: ['b'] },
      ];
    });
    const results = await inParallel(110, 6, (i) => (i < 50 ? send(relay, `app@a.example`, `route-a-${i}`) : i < 100 ? send(relay, `app@B.example`, `route-b-${i}`) : send(relay, 'app@example.com', `route-rest-${i}`)));
    expect(results.filter((r) => !r.ok)).toEqual([]);
    expect(await waitCount(postfixA, 'route-a-', 50)).toBe(50);
    expect(await waitCount(postfixB, 'route-b-', 50)).toBe(50);
    expect(await waitCount(postfixB, 'route-rest-', 10)).toBe(10);
    // Nothing went the wrong way.
    expect(count(postfixA, 'route-b-') + count(postfixB, 'route-a-') + count(postfixA, 'route-rest-')).toBe(0);
  }, 120_000);

  test('a route for some users only; no route for the sender: 550 5.7.1 at MAIL FROM, nothing relayed', async () => {
    const relay = await relayWith((c) => {
      c.upstreams = [upstream('a', postfixA.port), upstream('b', postfixB.port)];
      c.routes = [
        { users: [USER2], upstreams: ['b'] },
        { senderDomains: ['a.example'], upstreams: ['a'] },
      ];
    });
    expect(await send(relay, 'app@c.example', 'users-app2', USER2, PASSWORD2)).toMatchObject({ ok: true });
    expect(await send(relay, 'app@a.example', 'users-app1-a', USER, PASSWORD)).toMatchObject({ ok: true });
    expect(await waitCount(postfixB, 'users-app2', 1)).toBe(1);
    expect(await waitCount(postfixA, 'users-app1-a', 1)).toBe(1);

    // app1 from c.example: the app2-only route does not carry it, nor the a.example one.
    const c = await RawSmtp.connect(relay.port('submissions') as number, fx.ca.caCert);
    await c.reply();
    await c.cmd('EHLO client.example');
    await c.cmd(`AUTH PLAIN ${Buffer.from(`\0${USER}\0${PASSWORD}`).toString('base64')}`);
    expect(String(await c.cmd('MAIL FROM:<app@c.example>')).trim()).toBe('550 5.7.1 No route for sender <app@c.example>');
    expect(await c.cmd('MAIL FROM:<app@a.example>')).toMatch(/^250 /); // the same session, a routed sender
    c.close();
    await new Promise((r) => setTimeout(r, 300));
    expect(count(postfixA, 'users-app1-c') + count(postfixB, 'users-app1-c')).toBe(0);
  }, 60_000);
});

describe('rewriteFrom', () => {
  test('a route with rewriteFrom: envelope sender and header From: become the mailbox, the original From: goes to Reply-To', async () => {
    const relay = await relayWith((c) => {
      c.upstreams = [upstream('b', postfixB.port)];
      c.routes = [{ senderDomains: ['a.example'], upstreams: ['b'], rewriteFrom: 'printer@corp.example' }, { upstreams: ['b'] }];
    });
    const raw = message(300, 'rewrite-1').replace('From: <app@example.com>', 'From: "App One" <app@a.example>');
    expect(await sendWithNodemailer({ port: relay.port('submission') as number, ca: fx.ca.caCert, user: USER, pass: PASSWORD, from: 'app@a.example', raw })).toMatchObject({ ok: true });
    expect(await send(relay, 'app@example.com', 'rewrite-2')).toMatchObject({ ok: true }); // another route: unchanged
    expect(await waitCount(postfixB, 'rewrite-', 2)).toBe(2);
    const rewritten = postfixB.delivered().find((m) => m.includes('Subject: rewrite-1')) as string;
    expect(rewritten).toMatch(/^Return-Path: <printer@corp\.example>$/m);
    expect(rewritten).toMatch(/^From: <printer@corp\.example>$/m);
    expect(rewritten).toMatch(/^Reply-To: "App One" <app@a\.example>$/m);
    expect(rewritten).not.toMatch(/^From: "App One"/m);
    const unchanged = postfixB.delivered().find((m) => m.includes('Subject: rewrite-2')) as string;
    expect(unchanged).toMatch(/^Return-Path: <app@example\.com>$/m);
    expect(unchanged).toMatch(/^From: <app@example\.com>$/m);
    expect(unchanged).not.toMatch(/^Reply-To:/m);
  }, 60_000);
});

describe('failover and the circuit breaker', () => {
  test('pass-through: a 4xx after the final dot, and a cut mid-DATA, on the first upstream: the second gets the message from the kept copy', async () => {
    const cap = fx.upstream;
    const relay = await relayWith((c) => {
      c.upstreams = [upstream('cap', cap.port, { credentialsDir: fx.dirs.creds }), upstream('b', postfixB.port)];
      c.routes = [{ upstreams: ['cap', 'b'] }];
    });
    const before = cap.dataStarted;
    cap.fail = 'temp';
    // 300 KB: above dkimSpillBytes (64 KiB), so the copy spills to the spool dir.
    expect(await send(relay, 'app@example.com', 'replay-temp', USER, PASSWORD, 300 * 1024)).toMatchObject({ ok: true });
    cap.fail = 'close-mid-data';
    expect(await send(relay, 'app@example.com', 'replay-cut', USER, PASSWORD, 300 * 1024)).toMatchObject({ ok: true });
    cap.fail = 'none';
    expect(cap.dataStarted - before).toBe(2); // the first upstream really had both
    expect(await waitCount(postfixB, 'replay-temp', 1)).toBe(1);
    expect(await waitCount(postfixB, 'replay-cut', 1)).toBe(1);
    const delivered = postfixB.delivered().find((m) => m.includes('Subject: replay-temp')) as string;
    expect(delivered.split('x'.repeat(76)).length - 1).toBe(Math.ceil((300 * 1024) / 78)); // whole, not cut
    // A 5xx is the answer: no failover.
    cap.fail = 'perm';
    expect(await send(relay, 'app@example.com', 'replay-perm')).toMatchObject({ ok: false, code: 554 });
    cap.fail = 'none';
    // Refused at RCPT (5xx) before the upstream read any of a large body: the answer comes at
    // once, the client's DATA is still read to its end (the copy no longer holds it back).
    cap.rejectRecipients.set('nobody@dest.example', 550);
    const refusedAt = Date.now();
    const refused = await sendWithNodemailer({ port: relay.port('submission') as number, ca: fx.ca.caCert, user: USER, pass: PASSWORD, from: 'app@example.com', to: ['nobody@dest.example'], raw: message(300 * 1024, 'replay-rcpt') });
    expect(refused).toMatchObject({ ok: false, code: 550 });
    expect(Date.now() - refusedAt).toBeLessThan(5000);
    await new Promise((r) => setTimeout(r, 500));
    expect(count(postfixB, 'replay-perm') + count(postfixB, 'replay-rcpt')).toBe(0);
    // The spool keeps nothing once the messages are done.
    const spoolDir = (relay as unknown as { spool: { dir: string } }).spool.dir;
    expect(fs.readdirSync(spoolDir)).toEqual([]);
  }, 60_000);

  test('pass-through: A stopped -> every message reaches B; the breaker keeps mail off A; A back -> a half-open trial closes it', async () => {
    const relay = await relayWith((c) => {
      c.upstreams = [upstream('a', proxyA.port), upstream('b', postfixB.port)];
      c.routes = [{ upstreams: ['a', 'b'] }];
    });
    for (let i = 0; i < 3; i++) expect(await send(relay, 'app@example.com', `pt-before-${i}`)).toMatchObject({ ok: true });
    expect(await waitCount(postfixA, 'pt-before-', 3)).toBe(3);

    await postfixA.stop();
    const stoppedAt = Date.now();
    const attemptsBefore = proxyA.accepted;
    const first = await send(relay, 'app@example.com', 'pt-during-0');
    const failoverMs = Date.now() - stoppedAt;
    expect(first).toEqual({ ok: true, response: expect.stringMatching(/^250 /) });
    const started = Date.now();
    for (let i = 1; i < 30; i++) expect(await send(relay, 'app@example.com', `pt-during-${i}`)).toMatchObject({ ok: true });
    const elapsed = Date.now() - started;
    expect(await waitCount(postfixB, 'pt-during-', 30)).toBe(30);
    const attempts = proxyA.accepted - attemptsBefore;
    // 3 failures open it; then at most one trial per cool-down (the cool-down doubles each time).
    const allowed = 3 + 1 + Math.floor((Date.now() - stoppedAt) / OPEN_MS);
    process.stdout.write(`pass-through failover: first message after the stop answered 250 in ${failoverMs} ms; 30 messages in ${elapsed + failoverMs} ms; ${attempts} connection attempts at A (allowed ${allowed})\n`);
    expect(attempts).toBeGreaterThanOrEqual(3);
    expect(attempts).toBeLessThanOrEqual(allowed);
    expect(attempts).toBeLessThan(30);
    expect(['open', 'half-open']).toContain(health(relay, 'a')?.state);
    expect(health(relay, 'a')?.lastError).toMatchObject({ reason: 'UpstreamUnreachable' });
    expect(health(relay, 'b')).toEqual({ name: 'b', state: 'closed' });

    // A is back: after the cool-down the next message is the trial, goes to A and closes the breaker.
    postfixA = await startPostfix(path.join(fx.root, 'postfix-a'), postfixATls, { port: postfixA.port });
    const until = Date.now() + 4 * OPEN_MS;
    while (health(relay, 'a')?.state !== 'half-open' && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    expect(health(relay, 'a')?.state).toBe('half-open');
    expect(await send(relay, 'app@example.com', 'pt-after-0')).toMatchObject({ ok: true });
    expect(health(relay, 'a')).toEqual({ name: 'a', state: 'closed' });
    expect(await waitCount(postfixA, 'pt-after-', 1)).toBe(1);
    // The metrics say the same.
    const metrics = await relay.metrics.registry.metrics();
    expect(metrics).toMatch(/smtp_relay_upstream_up\{upstream="a"\} 1/);
    expect(metrics).toMatch(/smtp_relay_upstream_failovers_total\{upstream="a"\} [1-9]/);
  }, 120_000);

  test('durable: A stopped -> every queued message is delivered by B along the route', async () => {
    await postfixA.stop();
    const relay = await relayWith((c) => {
      c.upstreams = [upstream('a', proxyA.port), upstream('b', postfixB.port)];
      c.routes = [{ upstreams: ['a', 'b'] }];
      c.queue = { dir: path.join(fx.root, 'queue-failover'), maxAgeMs: 3_600_000, minBackoffMs: 500, maxBackoffMs: 2000 };
    });
    const stoppedAt = Date.now();
    const attemptsBefore = proxyA.accepted;
    const results = await inParallel(30, 3, (i) => send(relay, 'app@example.com', `dq-during-${i}`));
    expect(results.filter((r) => !r.ok)).toEqual([]);
    const firstAt = await (async () => {
      const until = Date.now() + 20_000;
      while (count(postfixB, 'dq-during-') === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
      return Date.now();
    })();
    expect(await waitCount(postfixB, 'dq-during-', 30)).toBe(30);
    const attempts = proxyA.accepted - attemptsBefore;
    process.stdout.write(`durable failover: first message at B ${firstAt - stoppedAt} ms after the stop (incl. its queueing); all 30 delivered in ${Date.now() - stoppedAt} ms; ${attempts} connection attempts at A\n`);
    expect(attempts).toBeLessThan(30);
    const until = Date.now() + 10_000;
    while (relay.queueSummary().depth > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    expect(relay.queueSummary()).toMatchObject({ depth: 0, mode: 'durable' });
    expect(health(relay, 'a')?.lastError?.reason).toBe('UpstreamUnreachable');
    postfixA = await startPostfix(path.join(fx.root, 'postfix-a'), postfixATls, { port: postfixA.port });
  }, 120_000);
});
