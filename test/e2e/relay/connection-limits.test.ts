// Pre-login exhaustion (Postfix anvil is the reference), on the relay as a real process:
// per-client connection count and rate, a command cap before AUTH, and idle timeouts that
// are shorter before TLS and before AUTH than after. Each test's clients come from their
// own loopback address (127.0.0.x = one client each).
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { message, RawSmtp, sendWithNodemailer } from '../../helpers/smtp/clients.js';
import { createRelayFixture, PASSWORD, startRelayProcess, USER, type RelayFixture, type RelayProcess } from '../../helpers/smtp/relay-fixture.js';

const LIMITS = { maxConnections: 20, maxConnectionsPerClient: 3, connectionRatePerMinute: 10, preAuthCommands: 20, preTlsTimeoutMs: 800, preAuthTimeoutMs: 1600, socketTimeoutMs: 30_000 };
const TOO_MANY_CONNECTIONS = '421 4.7.0 Too many connections from your address\r\n';
const TOO_MANY_COMMANDS = '421 4.7.0 Too many commands before authentication, closing connection\r\n';

let fx: RelayFixture;
let relay: RelayProcess;

beforeAll(async () => {
  fx = await createRelayFixture((c) => Object.assign(c.limits, LIMITS));
  relay = await startRelayProcess(fx);
});
afterAll(async () => {
  relay?.child.kill('SIGKILL');
  await relay?.exited;
  await fx?.cleanup();
});

const b64 = (s: string) => Buffer.from(s).toString('base64');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function metric(pattern: RegExp): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${relay.metricsPort}/metrics`)).text();
  const m = pattern.exec(text);
  return m ? Number(m[1]) : 0;
}

describe('per-client connection limits', () => {
  test('20 slow NOOP clients from 127.0.0.2 cannot hold the 20 slots: 3 get in, a client from 127.0.0.1 still sends', async () => {
    const attackers = await Promise.all(Array.from({ length: 20 }, () => RawSmtp.connect(relay.ports.submission, undefined, { localAddress: '127.0.0.2' })));
    const greetings = await Promise.all(attackers.map((c) => c.reply()));
    // The admitted ones stay: a NOOP every 300 ms keeps them under the pre-TLS idle timeout.
    const keepAlive = setInterval(() => attackers.forEach((c) => !c.socket.destroyed && c.write('NOOP\r\n')), 300);
    try {
      const legit = await sendWithNodemailer({ port: relay.ports.submission, ca: fx.ca.caCert, user: USER, pass: PASSWORD, localAddress: '127.0.0.1', raw: message(300, 'legit-under-flood') });
      expect(legit).toMatchObject({ ok: true });
      expect(greetings.filter((g) => g?.startsWith('220 ')).length).toBe(3);
      expect(greetings.filter((g) => g === TOO_MANY_CONNECTIONS).length).toBe(17);
      expect(await metric(/smtp_relay_connections_refused_total\{listener="submission",reason="client_concurrency"\} (\d+)/)).toBe(17);
    } finally {
      clearInterval(keepAlive);
      attackers.forEach((c) => c.close());
    }
    expect(fx.upstream.messages.some((m) => m.raw.toString().includes('Subject: legit-under-flood'))).toBe(true);
  });

  test('connection rate: the 11th connection within a minute from 127.0.0.3 gets 421, 127.0.0.1 does not notice', async () => {
    for (let i = 0; i < 10; i++) {
      const c = await RawSmtp.connect(relay.ports.relay, undefined, { localAddress: '127.0.0.3' });
      expect([i, await c.reply()]).toEqual([i, expect.stringMatching(/^220 /)]);
      await c.cmd('QUIT');
      c.close();
    }
    const over = await RawSmtp.connect(relay.ports.relay, undefined, { localAddress: '127.0.0.3' });
    expect(await over.reply()).toBe(TOO_MANY_CONNECTIONS);
    over.close();
    const other = await RawSmtp.connect(relay.ports.relay, undefined, { localAddress: '127.0.0.1' });
    expect(await other.reply()).toMatch(/^220 /);
    other.close();
    expect(await metric(/smtp_relay_connections_refused_total\{listener="relay",reason="client_rate"\} (\d+)/)).toBe(1);
  });
});

describe('commands before AUTH', () => {
  test('25 NOOPs before TLS on 587: the 21st is answered 421 4.7.0 and the connection is closed', async () => {
    const c = await RawSmtp.connect(relay.ports.submission, undefined, { localAddress: '127.0.0.4' });
    expect(await c.reply()).toMatch(/^220 /);
    const replies: (string | null)[] = [];
    for (let i = 0; i < 25 && !c.socket.destroyed; i++) replies.push(await c.cmd('NOOP'));
    expect(replies.slice(0, 20).every((r) => r?.startsWith('250 '))).toBe(true);
    expect(replies[20]).toBe(TOO_MANY_COMMANDS);
    expect(replies.slice(21).every((r) => r === null)).toBe(true);
    c.close();
  });

  test('commands before and after STARTTLS count together', async () => {
    const c = await RawSmtp.connect(relay.ports.submission, undefined, { localAddress: '127.0.0.4' });
    await c.reply();
    await c.cmd('EHLO client.example');
    expect(await c.cmd('STARTTLS')).toMatch(/^220 /);
    await c.starttls(fx.ca.caCert);
    const replies = [await c.cmd('EHLO client.example')]; // command 3
    for (let i = 0; i < 20 && !c.socket.destroyed; i++) replies.push(await c.cmd('NOOP'));
    expect(replies.slice(0, 18).filter((r) => !r?.startsWith("250"))).toEqual([]); // commands 3..20
    expect(replies[18]).toBe(TOO_MANY_COMMANDS);
    c.close();
  });

  test('after AUTH there is no cap: 40 NOOPs are answered', async () => {
    const c = await RawSmtp.connect(relay.ports.submissions, fx.ca.caCert, { localAddress: '127.0.0.4' });
    await c.reply();
    await c.cmd('EHLO client.example');
    expect(await c.cmd(`AUTH PLAIN ${b64(`\0${USER}\0${PASSWORD}`)}`)).toMatch(/^235 /);
    for (let i = 0; i < 40; i++) expect([i, await c.cmd('NOOP')]).toEqual([i, expect.stringMatching(/^250 /)]);
    c.close();
  });

  test('relay listener (no AUTH): 10 messages in one session pass the cap; 25 NOOPs before any MAIL do not', async () => {
    const c = await RawSmtp.connect(relay.ports.relay, undefined, { localAddress: '127.0.0.5' });
    await c.reply();
    await c.cmd('EHLO client.example');
    for (let i = 0; i < 10; i++) {
      expect(await c.cmd('MAIL FROM:<noreply@apps.example>')).toMatch(/^250 /);
      expect(await c.cmd('RCPT TO:<rcpt@dest.example>')).toMatch(/^250 /);
      expect(await c.cmd('DATA')).toMatch(/^354 /);
      expect([i, await c.cmd(`Subject: relay-session-${i}\r\n\r\nbody\r\n.`)]).toEqual([i, expect.stringMatching(/^250 /)]);
      expect(await c.cmd('RSET')).toMatch(/^250 /);
    }
    c.close();
    const flood = await RawSmtp.connect(relay.ports.relay, undefined, { localAddress: '127.0.0.5' });
    await flood.reply();
    const replies: (string | null)[] = [];
    for (let i = 0; i < 25 && !flood.socket.destroyed; i++) replies.push(await flood.cmd('NOOP'));
    expect(replies[20]).toBe(TOO_MANY_COMMANDS);
    flood.close();
  });
});

describe('idle timeouts before TLS and before AUTH', () => {
  async function idleUntilDropped(c: RawSmtp): Promise<{ reply: string | null; ms: number }> {
    const t0 = Date.now();
    const reply = await c.reply(6000);
    return { reply, ms: Date.now() - t0 };
  }

  test(`before TLS: dropped after preTlsTimeoutMs (${LIMITS.preTlsTimeoutMs} ms), not socketTimeoutMs`, async () => {
    const c = await RawSmtp.connect(relay.ports.submission, undefined, { localAddress: '127.0.0.6' });
    await c.reply();
    const { reply, ms } = await idleUntilDropped(c);
    expect(reply).toMatch(/^421 /);
    expect(ms).toBeLessThan(3000);
    c.close();
  });

  test(`after STARTTLS, before AUTH: dropped after preAuthTimeoutMs (${LIMITS.preAuthTimeoutMs} ms)`, async () => {
    const c = await RawSmtp.connect(relay.ports.submission, undefined, { localAddress: '127.0.0.6' });
    await c.reply();
    await c.cmd('EHLO client.example');
    await c.cmd('STARTTLS');
    await c.starttls(fx.ca.caCert);
    expect(await c.cmd('EHLO client.example')).toMatch(/^250/);
    const { reply, ms } = await idleUntilDropped(c);
    expect(reply).toMatch(/^421 /);
    expect(ms).toBeGreaterThanOrEqual(LIMITS.preAuthTimeoutMs - 200);
    expect(ms).toBeLessThan(4000);
    c.close();
  });

  test('implicit TLS (465), before AUTH: dropped after preAuthTimeoutMs; after AUTH an idle session stays', async () => {
    const pre = await RawSmtp.connect(relay.ports.submissions, fx.ca.caCert, { localAddress: '127.0.0.6' });
    await pre.reply();
    const dropped = await idleUntilDropped(pre);
    expect(dropped.reply).toMatch(/^421 /);
    expect(dropped.ms).toBeLessThan(4000);
    pre.close();

    const post = await RawSmtp.connect(relay.ports.submissions, fx.ca.caCert, { localAddress: '127.0.0.6' });
    await post.reply();
    await post.cmd('EHLO client.example');
    expect(await post.cmd(`AUTH PLAIN ${b64(`\0${USER}\0${PASSWORD}`)}`)).toMatch(/^235 /);
    await sleep(LIMITS.preAuthTimeoutMs + 1500);
    expect(await post.cmd('NOOP')).toMatch(/^250 /);
    post.close();
  });
});
