// PROXY protocol v2 on the public listeners, behind a real HAProxy (TCP mode, send-proxy-v2)
// connecting from 127.0.0.7, the only trusted proxy. Everything on loopback: a client's
// loopback address (127.0.0.x) is who it is, and per-client limits (2 connections) show
// which address the relay counted.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { startHaproxy, type Haproxy } from '../../helpers/haproxy.js';
import { message, RawSmtp, sendWithNodemailer } from '../../helpers/smtp/clients.js';
import { proxyV2Header } from '../../helpers/smtp/proxy-v2.js';
import { createRelayFixture, PASSWORD, startRelayProcess, USER, type RelayFixture, type RelayProcess } from '../../helpers/smtp/relay-fixture.js';

const PROXY_SOURCE = '127.0.0.7';
const TOO_MANY_CONNECTIONS = '421 4.7.0 Too many connections from your address\r\n';

let fx: RelayFixture;
let relay: RelayProcess;
let haproxy: Haproxy;

beforeAll(async () => {
  fx = await createRelayFixture((c) => {
    for (const l of c.listeners) if (l.name !== 'relay') l.proxyProtocol = { trustedProxies: [`${PROXY_SOURCE}/32`] };
    Object.assign(c.limits, { maxConnectionsPerClient: 2, preTlsTimeoutMs: 1500 });
  });
  relay = await startRelayProcess(fx);
  haproxy = await startHaproxy({ source: PROXY_SOURCE, frontends: { submission: { backendPort: relay.ports.submission }, submissions: { backendPort: relay.ports.submissions } } });
});
afterAll(async () => {
  await haproxy?.stop();
  relay?.child.kill('SIGKILL');
  await relay?.exited;
  await fx?.cleanup();
});

interface LogLine {
  message: string;
  client?: string;
  peer?: string;
  reason?: string;
}
const logLines = (): LogLine[] =>
  relay
    .logs()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LogLine);
const refusedClients = () => logLines().filter((l) => l.message === 'too many connections from one client').map((l) => l.client);

/** Closes sessions and gives the relay a moment to release their per-client slots. */
async function closeAll(sessions: { c: RawSmtp }[]): Promise<void> {
  sessions.forEach((s) => s.c.close());
  await new Promise((r) => setTimeout(r, 200));
}

/** A session through HAProxy's 587 frontend, from the client address `from`. */
async function viaProxy(from: string): Promise<{ c: RawSmtp; greeting: string | null }> {
  const c = await RawSmtp.connect(haproxy.ports.submission as number, undefined, { localAddress: from });
  return { c, greeting: await c.reply() };
}

describe('through HAProxy (trusted, send-proxy-v2)', () => {
  test('a client from 127.0.0.5 is 127.0.0.5 to the relay: its 3rd connection is refused, 127.0.0.6 gets in', async () => {
    const held = [await viaProxy('127.0.0.5'), await viaProxy('127.0.0.5')];
    expect(held.map((h) => h.greeting?.slice(0, 4))).toEqual(['220 ', '220 ']);
    const third = await viaProxy('127.0.0.5');
    expect(third.greeting).toBe(TOO_MANY_CONNECTIONS);
    const other = await viaProxy('127.0.0.6');
    expect(other.greeting).toMatch(/^220 /);
    expect(refusedClients()).toEqual(['127.0.0.5']);
    await closeAll([...held, third, other]);
  });

  test('STARTTLS + AUTH on 587 and implicit TLS on 465 work through the proxy', async () => {
    const a = await sendWithNodemailer({ port: haproxy.ports.submission as number, ca: fx.ca.caCert, user: USER, pass: PASSWORD, localAddress: '127.0.0.8', raw: message(2000, 'via-haproxy-587') });
    expect(a).toMatchObject({ ok: true });
    const b = await sendWithNodemailer({ port: haproxy.ports.submissions as number, implicit: true, ca: fx.ca.caCert, user: USER, pass: PASSWORD, localAddress: '127.0.0.8', raw: message(2000, 'via-haproxy-465') });
    expect(b).toMatchObject({ ok: true });
    const subjects = fx.upstream.messages.map((m) => /^Subject: (.*)$/m.exec(m.raw.toString())?.[1]);
    expect(subjects).toEqual(expect.arrayContaining(['via-haproxy-587', 'via-haproxy-465']));
  });
});

describe('a forged header from an untrusted peer is not honoured', () => {
  test('127.0.0.1 sends a v2 header claiming 127.0.0.5 (at its limit): it is served as 127.0.0.1, the header is only garbage', async () => {
    const held = [await viaProxy('127.0.0.5'), await viaProxy('127.0.0.5')];
    expect(held.map((h) => h.greeting?.slice(0, 4))).toEqual(['220 ', '220 ']);
    const refusedBefore = refusedClients().length;
    const forged = proxyV2Header({ source: { address: '127.0.0.5', port: 5555 }, destination: { address: '127.0.0.1', port: relay.ports.submission } });
    const c = await RawSmtp.connect(relay.ports.submission, undefined, { localAddress: '127.0.0.1' });
    c.socket.write(forged);
    // Honoured, it would be refused as 127.0.0.5 (421). Not honoured: a greeting, then the
    // header's bytes are SMTP lines; its signature's own "QUIT\n" ends the session (221).
    expect(await c.reply()).toMatch(/^220 /);
    const rest = await c.pending(500);
    expect(rest).toMatch(/^221 /m);
    expect(rest).not.toContain('421');
    expect(refusedClients().length).toBe(refusedBefore);
    c.close();
    await closeAll(held);
  });
});

describe('the trusted proxy must send a valid header', () => {
  async function fromProxyAddress(first?: Buffer | string): Promise<{ received: string; closed: boolean; ms: number }> {
    const t0 = Date.now();
    const c = await RawSmtp.connect(relay.ports.submission, undefined, { localAddress: PROXY_SOURCE });
    if (first !== undefined) c.socket.write(first);
    const until = Date.now() + 4000;
    while (!c.socket.destroyed && !c.socket.readableEnded && Date.now() < until) await new Promise((r) => setTimeout(r, 25));
    const closed = c.socket.destroyed || c.socket.readableEnded;
    const received = await c.pending(0);
    c.close();
    return { received, closed, ms: Date.now() - t0 };
  }

  test('plain SMTP instead of a header: closed without a greeting', async () => {
    const r = await fromProxyAddress('EHLO client.example\r\n');
    expect(r).toMatchObject({ received: '', closed: true });
  });

  test('a v1 (text) header: closed without a greeting', async () => {
    const r = await fromProxyAddress(`PROXY TCP4 127.0.0.5 127.0.0.1 5555 ${relay.ports.submission}\r\n`);
    expect(r).toMatchObject({ received: '', closed: true });
  });

  test('nothing at all: closed after the header timeout (preTlsTimeoutMs)', async () => {
    const r = await fromProxyAddress();
    expect(r).toMatchObject({ received: '', closed: true });
    expect(r.ms).toBeGreaterThanOrEqual(1400);
    const refusals = logLines().filter((l) => l.message.startsWith('PROXY header missing or invalid'));
    expect(refusals.length).toBeGreaterThanOrEqual(3);
    expect(refusals.every((l) => l.peer === PROXY_SOURCE)).toBe(true);
  });

  test('LOCAL (the proxy\'s own health check): served as the proxy itself', async () => {
    const c = await RawSmtp.connect(relay.ports.submission, undefined, { localAddress: PROXY_SOURCE });
    c.socket.write(Buffer.concat([proxyV2Header({ command: 0 }), Buffer.from('')]));
    expect(await c.reply()).toMatch(/^220 /);
    expect(await c.cmd('QUIT')).toMatch(/^221 /);
    c.close();
  });

  test('TCP6 sources: one IPv6 /64 is one client for the per-client limit', async () => {
    const open = async (source: string) => {
      const c = await RawSmtp.connect(relay.ports.submission, undefined, { localAddress: PROXY_SOURCE });
      c.socket.write(proxyV2Header({ source: { address: source, port: 40000 }, destination: { address: '2001:db8::1', port: 587 } }));
      return { c, greeting: await c.reply() };
    };
    const a = await open('2001:db8:0:1::5');
    const b = await open('2001:db8:0:1:ffff::6');
    const c3 = await open('2001:db8:0:1::7');
    const otherNet = await open('2001:db8:0:2::5');
    expect([a, b, c3, otherNet].map((s) => s.greeting?.slice(0, 4))).toEqual(['220 ', '220 ', '421 ', '220 ']);
    expect(refusedClients()).toContain('2001:db8:0:1::7');
    await closeAll([a, b, c3, otherNet]);
  });
});
