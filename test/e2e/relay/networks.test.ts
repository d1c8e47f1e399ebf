// The relay listener's allow-list on a dual-stack listener (bound to ::), with the relay as
// a real process: an IPv4 client arrives as ::ffff:127.0.0.1 and must be matched as the
// IPv4 client 127.0.0.1, against IPv4 entries only; an IPv6 client against IPv6 entries only.
import { afterAll, afterEach, beforeAll, describe, expect, test } from '@jest/globals';
import fs from 'node:fs';
import path from 'node:path';
import { RawSmtp } from '../../helpers/smtp/clients.js';
import { createRelayFixture, startRelayProcess, type RelayFixture, type RelayProcess } from '../../helpers/smtp/relay-fixture.js';

let fx: RelayFixture;
const running: RelayProcess[] = [];

beforeAll(async () => {
  fx = await createRelayFixture();
});
afterEach(async () => {
  for (const p of running.splice(0)) {
    p.child.kill('SIGKILL');
    await p.exited;
  }
});
afterAll(async () => {
  await fx?.cleanup();
});

/** A dual-stack relay process whose relay listener allows only `networks`. */
async function dualStackRelay(name: string, networks: string[]): Promise<RelayProcess> {
  const config = structuredClone(fx.config);
  for (const l of config.listeners) if (l.name === 'relay') l.allowedNetworks = networks;
  const configPath = path.join(fx.root, `${name}.json`);
  fs.writeFileSync(configPath, JSON.stringify(config));
  const p = await startRelayProcess({ configPath }, { listenHost: '::' });
  running.push(p);
  return p;
}

/** Greeting, then a whole transaction on the relay listener (no TLS, no AUTH: allowed network). */
async function relayTransaction(port: number, host: string, subject: string): Promise<string[]> {
  const c = await RawSmtp.connect(port, undefined, { host });
  const replies = [await c.reply()];
  if (replies[0]?.startsWith('220 ')) {
    for (const line of ['EHLO client.example', 'MAIL FROM:<noreply@apps.example>', 'RCPT TO:<rcpt@dest.example>', 'DATA', `Subject: ${subject}\r\n\r\nbody\r\n.`]) replies.push(await c.cmd(line));
  }
  c.close();
  return replies.map((r) => (r ?? 'closed').split(/\r?\n/).filter(Boolean).pop() ?? '');
}

const delivered = (subject: string) => fx.upstream.messages.some((m) => m.raw.toString().includes(`Subject: ${subject}\r\n`));

describe('relay listener allow-list on a dual-stack listener', () => {
  test("['127.0.0.0/8']: a client arriving as ::ffff:127.0.0.1 is the IPv4 client 127.0.0.1, accepted and relayed; ::1 is refused", async () => {
    const p = await dualStackRelay('v4-only', ['127.0.0.0/8']);
    const replies = await relayTransaction(p.ports.relay, '::ffff:127.0.0.1', 'mapped-accepted');
    expect(replies[0]).toMatch(/^220 /);
    expect(replies.at(-1)).toMatch(/^250 2\.0\.0 Ok: relayed as /);
    expect(delivered('mapped-accepted')).toBe(true);
    expect(await relayTransaction(p.ports.relay, '::1', 'v6-refused')).toEqual(['554 5.7.1 Relay access denied for this client address']);
    expect(delivered('v6-refused')).toBe(false);
  });

  test("['fd00::/8'] only: the IPv4-mapped client is refused 554, nothing reaches the upstream", async () => {
    const p = await dualStackRelay('v6-only', ['fd00::/8']);
    const before = fx.upstream.messages.length;
    expect(await relayTransaction(p.ports.relay, '::ffff:127.0.0.1', 'mapped-refused')).toEqual(['554 5.7.1 Relay access denied for this client address']);
    expect(await relayTransaction(p.ports.relay, '127.0.0.1', 'v4-refused')).toEqual(['554 5.7.1 Relay access denied for this client address']);
    expect(fx.upstream.messages.length).toBe(before);
  });

  test("['::1/128']: the IPv6 loopback client is accepted, the IPv4 one is not", async () => {
    const p = await dualStackRelay('v6-loopback', ['::1/128']);
    expect((await relayTransaction(p.ports.relay, '::1', 'v6-accepted')).at(-1)).toMatch(/^250 2\.0\.0 Ok: relayed as /);
    expect(delivered('v6-accepted')).toBe(true);
    expect(await relayTransaction(p.ports.relay, '::ffff:127.0.0.1', 'mapped-refused-2')).toEqual(['554 5.7.1 Relay access denied for this client address']);
  });
});
