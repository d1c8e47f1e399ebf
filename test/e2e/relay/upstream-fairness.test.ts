// One sender must not starve the upstream pool. A real relay process, a slow upstream
// (3 s before it answers each message), a pool of 4, at most 2 slots per sender, and a 1.5 s
// acquire timeout. Sender A opens 6 transactions at once: 2 go through, the other 4 are
// answered 451 4.4.5 once the acquire timeout has passed (never an unbounded wait), and
// sender B, arriving while A's transactions wait, is delivered in the time of its own
// upstream transaction. The sender is the authenticated user on the submission listeners
// and the client address on the unauthenticated relay listener. Before the fix A took the
// whole pool, B queued behind A (~6 s, twice the upstream time), and A's excess waited for
// as long as the pool stayed busy, without a bound.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { writeAtomicDir } from '../../helpers/smtp/certs.js';
import { message, sendWithNodemailer, type SendOptions } from '../../helpers/smtp/clients.js';
import { createRelayFixture, PASSWORD, startRelayProcess, USER, type RelayFixture, type RelayProcess } from '../../helpers/smtp/relay-fixture.js';

const UPSTREAM_DELAY_MS = 3000;
const POOL = 4;
const PER_SENDER = 2;
const ACQUIRE_TIMEOUT_MS = 1500;
const A_PARALLEL = 6;
/** Connect, TLS and AUTH of the test client, and scheduling on a shared 2-core machine. */
const SLACK_MS = 1000;

let fx: RelayFixture;
let relay: RelayProcess;

beforeAll(async () => {
  fx = await createRelayFixture((c) => {
    c.upstream.poolSize = POOL;
    c.upstream.timeoutMs = 30_000;
    c.limits.upstreamPerUserConcurrency = PER_SENDER;
    c.limits.upstreamAcquireTimeoutMs = ACQUIRE_TIMEOUT_MS;
  });
  writeAtomicDir(fx.dirs.users, { [USER]: PASSWORD, 'user-b': 'password of b' });
  fx.upstream.delayMs = UPSTREAM_DELAY_MS;
  relay = await startRelayProcess(fx);
}, 30_000);

afterAll(async () => {
  if (relay && relay.child.exitCode === null) {
    relay.child.kill('SIGTERM');
    await relay.exited;
  }
  await fx?.cleanup();
});

async function timed(o: SendOptions): Promise<Awaited<ReturnType<typeof sendWithNodemailer>> & { ms: number }> {
  const t0 = Date.now();
  const r = await sendWithNodemailer(o);
  return { ...r, ms: Date.now() - t0 };
}

async function acquireTimeouts(scope: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${relay.metricsPort}/metrics`)).text();
  const m = new RegExp(`^smtp_relay_upstream_acquire_timeouts_total\\{scope="${scope}"\\} (\\d+)`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

/** A sends A_PARALLEL at once; B sends one 300 ms later. */
async function burstThenOther(a: (i: number) => SendOptions, b: SendOptions) {
  const aRuns = Array.from({ length: A_PARALLEL }, (_, i) => timed(a(i)));
  await new Promise((r) => setTimeout(r, 300));
  const bRun = timed(b);
  return { aResults: await Promise.all(aRuns), bResult: await bRun };
}

function expectFairOutcome(aResults: Array<Awaited<ReturnType<typeof timed>>>, bResult: Awaited<ReturnType<typeof timed>>): void {
  // B is not queued behind A: delivered in its own upstream time, well before A's first frees a slot and B's own runs.
  expect(bResult).toMatchObject({ ok: true });
  expect(bResult.ms).toBeLessThan(UPSTREAM_DELAY_MS + ACQUIRE_TIMEOUT_MS);
  const delivered = aResults.filter((r) => r.ok);
  const refused = aResults.filter((r) => !r.ok);
  expect(delivered).toHaveLength(PER_SENDER);
  expect(refused).toHaveLength(A_PARALLEL - PER_SENDER);
  for (const r of refused) {
    expect(r.response).toBe('451 4.4.5 Too many messages in flight for this client, try again later');
    // Answered once the acquire timeout has passed: it did wait, and not without bound.
    expect(r.ms).toBeGreaterThanOrEqual(ACQUIRE_TIMEOUT_MS);
    expect(r.ms).toBeLessThan(ACQUIRE_TIMEOUT_MS + SLACK_MS);
  }
}

describe('upstream pool fairness (real relay process, slow upstream)', () => {
  test('authenticated: user A cannot starve user B; A gets 451 4.4.5 after the acquire timeout', async () => {
    const before = await acquireTimeouts('owner');
    const port = relay.ports.submission;
    const { aResults, bResult } = await burstThenOther(
      (i) => ({ port, ca: fx.ca.caCert, user: USER, pass: PASSWORD, raw: message(300, `user-a-${i}`) }),
      { port, ca: fx.ca.caCert, user: 'user-b', pass: 'password of b', raw: message(300, 'user-b') },
    );
    expectFairOutcome(aResults, bResult);
    expect((await acquireTimeouts('owner')) - before).toBe(A_PARALLEL - PER_SENDER);
    const subjects = fx.upstream.messages.map((m) => /^Subject: (.*)$/m.exec(m.raw.toString())?.[1]);
    expect(subjects).toContain('user-b');
  }, 30_000);

  test('relay listener (no AUTH): the sender is the client address', async () => {
    await new Promise((r) => setTimeout(r, UPSTREAM_DELAY_MS)); // the previous test's transactions are done
    const before = await acquireTimeouts('owner');
    const port = relay.ports.relay;
    const { aResults, bResult } = await burstThenOther(
      (i) => ({ port, ca: fx.ca.caCert, from: 'app@apps.example', localAddress: '127.0.0.2', raw: message(300, `client-a-${i}`) }),
      { port, ca: fx.ca.caCert, from: 'app@apps.example', localAddress: '127.0.0.3', raw: message(300, 'client-b') },
    );
    expectFairOutcome(aResults, bResult);
    expect((await acquireTimeouts('owner')) - before).toBe(A_PARALLEL - PER_SENDER);
    expect(relay.child.exitCode).toBeNull();
  }, 30_000);
});
