// Authentication attacks against the relay as a real process: no AUTH mechanism works
// before TLS, mechanisms we do not offer are refused, password guessing is throttled per
// client IP across listeners, and the relay listener has no AUTH at all.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import crypto from 'node:crypto';
import { writeAtomicDir } from '../helpers/smtp/certs.js';
import { sendWithNodemailer } from '../helpers/smtp/clients.js';
import { createRelayFixture, PASSWORD, startRelayProcess, USER, type RelayFixture, type RelayProcess } from '../helpers/smtp/relay-fixture.js';
import { b64, code, openSession, type ListenerName, type SessionOptions } from './smtp-session.js';

const LIMIT = 3;

let fx: RelayFixture;
let relay: RelayProcess;
let o: SessionOptions;

beforeAll(async () => {
  fx = await createRelayFixture((c) => (c.limits.authFailuresPerMinute = LIMIT));
  relay = await startRelayProcess(fx);
  o = { ports: relay.ports, ca: fx.ca.caCert };
});
afterAll(async () => {
  relay?.child.kill('SIGKILL');
  await relay?.exited;
  await fx?.cleanup();
});

const plain = `AUTH PLAIN ${b64(`\0${USER}\0${PASSWORD}`)}`;
const xoauth2 = `AUTH XOAUTH2 ${b64(`user=${USER}\x01auth=Bearer ${PASSWORD}\x01\x01`)}`;

describe('AUTH is impossible without TLS on 587', () => {
  test.each([
    ['PLAIN with initial response', [plain]],
    ['PLAIN, credentials on the next line', ['AUTH PLAIN', b64(`\0${USER}\0${PASSWORD}`)]],
    ['LOGIN', ['AUTH LOGIN', b64(USER), b64(PASSWORD)]],
    ['LOGIN with initial response', [`AUTH LOGIN ${b64(USER)}`, b64(PASSWORD)]],
    ['CRAM-MD5', ['AUTH CRAM-MD5', b64(`${USER} ${crypto.createHmac('md5', PASSWORD).update('<1.1@relay>').digest('hex')}`)]],
    ['XOAUTH2', [xoauth2]],
    ['lower-case verb', [`auth plain ${b64(`\0${USER}\0${PASSWORD}`)}`]],
  ])('%s: refused (538/503/504), never 235 or 334', async (_name, lines) => {
    const { c, ehlo } = await openSession(o, 'submission', false);
    expect(ehlo).not.toMatch(/AUTH/); // not even advertised
    const replies: (string | null)[] = [];
    for (const line of lines) replies.push(await c.cmd(line));
    const first = code(replies[0] ?? null);
    expect([538, 503, 504]).toContain(first);
    // Follow-up lines are not credentials to the server: they are unknown commands.
    for (const r of replies) expect(r).not.toMatch(/^(235|334)/);
    // And the session is still unauthenticated: MAIL needs TLS first.
    expect(code(await c.cmd('MAIL FROM:<app@example.com>'))).toBe(530);
    c.close();
  });
});

describe('mechanisms we do not offer, over TLS', () => {
  test.each(['submission', 'submissions'] as ListenerName[])('%s: EHLO offers PLAIN and LOGIN only; CRAM-MD5 and XOAUTH2 are refused with 504', async (listener) => {
    const { c, ehlo } = await openSession(o, listener, true);
    expect(ehlo).toMatch(/^250-AUTH PLAIN LOGIN\r$/m);
    expect(code(await c.cmd('AUTH CRAM-MD5'))).toBe(504);
    expect(code(await c.cmd(xoauth2))).toBe(504);
    expect(code(await c.cmd('AUTH GSSAPI'))).toBe(504);
    c.close();
  });
});

describe('no AUTH on the relay listener', () => {
  test.each([false, true])('after STARTTLS: %s -- not advertised, every mechanism refused with 5xx', async (tls) => {
    const { c, ehlo } = await openSession(o, 'relay', tls);
    expect(ehlo).not.toMatch(/AUTH/);
    for (const line of [plain, 'AUTH LOGIN', 'AUTH CRAM-MD5', xoauth2]) {
      const r = await c.cmd(line);
      expect(code(r)).toBeGreaterThanOrEqual(500);
      expect(r).not.toMatch(/^(235|334)/);
    }
    c.close();
  });
});

async function tryAuth(listener: ListenerName, user: string, pass: string, mechanism: 'PLAIN' | 'LOGIN' = 'PLAIN'): Promise<string | null> {
  const { c } = await openSession(o, listener, true);
  let r: string | null;
  if (mechanism === 'PLAIN') r = await c.cmd(`AUTH PLAIN ${b64(`\0${user}\0${pass}`)}`);
  else {
    await c.cmd('AUTH LOGIN');
    await c.cmd(b64(user));
    r = await c.cmd(b64(pass));
  }
  c.close();
  return r;
}

describe('password guessing is throttled per client IP', () => {
  // Runs last in this file: afterwards 127.0.0.1 is throttled for a minute.
  test(`${LIMIT} failures (PLAIN on 587, LOGIN on 465, unknown user) -> the right password is refused with 454 on both listeners`, async () => {
    expect(await tryAuth('submission', USER, 'guess-1')).toMatch(/^535 5\.7\.8 /);
    expect(await tryAuth('submissions', USER, 'guess-2', 'LOGIN')).toMatch(/^535 5\.7\.8 /);
    expect(await tryAuth('submission', 'nobody', 'guess-3')).toMatch(/^535 5\.7\.8 /);
    const throttled = '454 4.7.0 Too many authentication failures, try again later\r\n';
    expect(await tryAuth('submission', USER, PASSWORD)).toBe(throttled);
    expect(await tryAuth('submissions', USER, PASSWORD, 'LOGIN')).toBe(throttled);
    // Same answer for a wrong password: the throttle reveals nothing about the guess.
    expect(await tryAuth('submission', USER, 'guess-4')).toBe(throttled);
  });
});

// The window is limits.authFailureWindowMs (default one minute); a 3 s window proves recovery
// without a soak run.
test('the throttle recovers after the window (limits.authFailureWindowMs): the right password works again', async () => {
  const fresh = await createRelayFixture((c) => {
    c.limits.authFailuresPerMinute = 2;
    c.limits.authFailureWindowMs = 3_000;
  });
  const p = await startRelayProcess(fresh);
  const so = { ports: p.ports, ca: fresh.ca.caCert };
  const attempt = async (pass: string) => {
    const { c } = await openSession(so, 'submission', true);
    const r = await c.cmd(`AUTH PLAIN ${b64(`\0${USER}\0${pass}`)}`);
    c.close();
    return r;
  };
  try {
    expect(await attempt('wrong-1')).toMatch(/^535 /);
    expect(await attempt('wrong-2')).toMatch(/^535 /);
    expect(await attempt(PASSWORD)).toMatch(/^454 /);
    await new Promise((r) => setTimeout(r, 1_000));
    expect(await attempt(PASSWORD)).toMatch(/^454 /); // still inside the window
    await new Promise((r) => setTimeout(r, 2_500));
    expect(await attempt(PASSWORD)).toMatch(/^235 /);
  } finally {
    p.child.kill('SIGKILL');
    await p.exited;
    await fresh.cleanup();
  }
}, 60_000);

// Issue 11 item 6: the throttle also counts per user name, so a password spray from many
// addresses (127.0.0.2, .3, .4: one guess each, under any per-address limit) locks that one
// account for the window, and only that account: another user from the same address works.
describe('password spraying one account from many addresses', () => {
  test(`${LIMIT} wrong guesses from ${LIMIT} addresses -> the right password is refused with 454 from a fifth address; another user is not affected`, async () => {
    const sprayFx = await createRelayFixture((c) => (c.limits.authFailuresPerMinute = LIMIT));
    writeAtomicDir(sprayFx.dirs.users, { [USER]: PASSWORD, bystander: 'bystander-password' });
    const p = await startRelayProcess(sprayFx);
    const send = (localAddress: string, user: string, pass: string) =>
      sendWithNodemailer({ port: p.ports.submission, ca: sprayFx.ca.caCert, user, pass, localAddress });
    try {
      for (let i = 0; i < LIMIT; i++) expect(await send(`127.0.0.${2 + i}`, USER, `guess-${i}`)).toMatchObject({ ok: false, code: 535 });
      expect(await send('127.0.0.9', USER, PASSWORD)).toMatchObject({ ok: false, code: 454 });
      expect(await send('127.0.0.9', 'bystander', 'bystander-password')).toMatchObject({ ok: true });
      expect(sprayFx.upstream.messages).toHaveLength(1); // only the bystander's message went out
    } finally {
      p.child.kill('SIGKILL');
      await p.exited;
      await sprayFx.cleanup();
    }
  });
});
