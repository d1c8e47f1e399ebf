// The AUTH throttle and bcrypt off the event loop (issue 11 item 6), against the relay as a
// real process, with bcrypt-hashed users as in production:
//  - parallel guesses from one address: the slot is taken before the password is checked,
//    so at most the limit is ever verified, the rest get 454 at once;
//  - 50 bcrypt verifications run in a worker: the relay's event loop keeps answering.
// Per-user lockout across addresses is in test/security/auth.test.ts; the IPv6 /64 keying is
// unit-tested (test/unit/relay/auth-throttle.test.ts): only ::1 exists on this loopback.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import bcrypt from 'bcryptjs';
import { writeAtomicDir } from '../../helpers/smtp/certs.js';
import { RawSmtp } from '../../helpers/smtp/clients.js';
import { createRelayFixture, PASSWORD, startRelayProcess, USER, type RelayFixture, type RelayProcess } from '../../helpers/smtp/relay-fixture.js';

const LIMIT = 5;
const COST = 10; // a usual production cost; bcryptjs takes ~0.1 s per verification here
let fx: RelayFixture;
let relay: RelayProcess;

beforeAll(async () => {
  fx = await createRelayFixture((c) => {
    c.limits.authFailuresPerMinute = LIMIT;
    c.limits.maxConnectionsPerClient = 200; // many sessions from 127.0.0.1 on purpose
    c.limits.connectionRatePerMinute = 1000;
  });
  writeAtomicDir(fx.dirs.users, { [USER]: bcrypt.hashSync(PASSWORD, COST), victim: bcrypt.hashSync('victim-password', COST) });
  relay = await startRelayProcess(fx);
});
afterAll(async () => {
  relay?.child.kill('SIGTERM');
  await relay?.exited;
  await fx?.cleanup();
});

const b64 = (s: string) => Buffer.from(s).toString('base64');

/** One AUTH PLAIN, waiting long enough for a queue of bcrypt verifications. */
async function auth(c: RawSmtp, user: string, pass: string): Promise<string | null> {
  c.write(`AUTH PLAIN ${b64(`\0${user}\0${pass}`)}\r\n`);
  const r = await c.reply(60_000);
  c.close();
  return r;
}

/** n sessions on 465, greeted and EHLO'd, ready for AUTH. */
async function sessions(n: number): Promise<RawSmtp[]> {
  return Promise.all(
    Array.from({ length: n }, async () => {
      const c = await RawSmtp.connect(relay.ports.submissions, fx.ca.caCert);
      await c.reply();
      await c.cmd('EHLO client.example');
      return c;
    }),
  );
}

async function scrape(): Promise<string> {
  return (await fetch(`http://127.0.0.1:${relay.metricsPort}/metrics`)).text();
}
function value(metrics: string, re: RegExp): number {
  return Number(re.exec(metrics)?.[1] ?? 'NaN');
}
function throttledTotal(metrics: string): number {
  return [...metrics.matchAll(/^smtp_relay_auth_throttled_total\{[^}]*\} (\S+)$/gm)].reduce((n, m) => n + Number(m[1]), 0);
}

describe('bcrypt runs off the event loop', () => {
  // Runs first: it needs 127.0.0.1 unthrottled (successes do not count as failures).
  test('50 parallel bcrypt verifications: all succeed, and the relay event loop stays responsive', async () => {
    const clients = await sessions(50);
    await scrape(); // prom-client resets its event-loop-delay histogram on every scrape
    const started = Date.now();
    let maxHealthMs = 0;
    let polling = true;
    const poller = (async () => {
      while (polling) {
        const t = Date.now();
        await fetch(`http://127.0.0.1:${relay.metricsPort}/healthz`);
        maxHealthMs = Math.max(maxHealthMs, Date.now() - t);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const replies = await Promise.all(clients.map((c) => auth(c, USER, PASSWORD)));
    const wallMs = Date.now() - started;
    polling = false;
    await poller;
    const lagMaxMs = value(await scrape(), /^nodejs_eventloop_lag_max_seconds (\S+)$/m) * 1000;
    // The figures, for the report (stderr, not an assertion on speed).
    process.stderr.write(`[auth-throttle e2e] 50 bcrypt(cost ${COST}) verifications: wall ${wallMs} ms, relay event-loop lag max ${lagMaxMs.toFixed(1)} ms, /healthz max ${maxHealthMs} ms\n`);
    expect(replies.every((r) => r?.startsWith('235 '))).toBe(true);
    // On the main thread the 50 verifications would hold the loop for about their whole CPU
    // time (several seconds); in the worker the loop only ever waits for short tasks.
    expect(wallMs).toBeGreaterThan(1000); // the work really was slow
    expect(lagMaxMs).toBeLessThan(wallMs / 4);
  });
});

describe('parallel guessing from one address', () => {
  test(`20 wrong passwords sent at once: at most ${LIMIT} are verified (535), the rest are refused with 454`, async () => {
    const clients = await sessions(20);
    const throttledBefore = throttledTotal(await scrape());
    const replies = await Promise.all(clients.map((c, i) => auth(c, 'victim', `guess-${i}`)));
    const codes = replies.map((r) => r?.slice(0, 3));
    expect(codes.filter((c) => c === '535').length).toBeLessThanOrEqual(LIMIT);
    expect(codes.filter((c) => c === '454').length).toBeGreaterThanOrEqual(20 - LIMIT);
    expect(codes.every((c) => c === '535' || c === '454')).toBe(true);
    // Every refusal before verification is counted (smtp_relay_auth_throttled_total).
    expect(throttledTotal(await scrape()) - throttledBefore).toBe(codes.filter((c) => c === '454').length);
  });
});
