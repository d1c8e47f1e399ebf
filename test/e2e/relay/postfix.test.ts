// A real Postfix (private instance, smtpd with STARTTLS) as the relay's upstream.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import path from 'node:path';
import type { RelayRuntime } from '../../../src/relay/relay.js';
import { message, RawSmtp, sendWithNodemailer } from '../../helpers/smtp/clients.js';
import { startPostfix, type PostfixUpstream } from '../../helpers/smtp/postfix.js';
import { createRelayFixture, PASSWORD, startInProcessRelay, USER, type RelayFixture } from '../../helpers/smtp/relay-fixture.js';

let fx: RelayFixture;
let postfix: PostfixUpstream;
let relay: RelayRuntime;

beforeAll(async () => {
  fx = await createRelayFixture();
  postfix = await startPostfix(path.join(fx.root, 'postfix'), fx.ca.issue('postfix', ['localhost', '127.0.0.1']));
  // Postfix relays for 127.0.0.0/8 without SASL: no upstream credentials here.
  fx.config.upstream = { ...fx.config.upstream, port: postfix.port, credentialsDir: undefined };
  relay = await startInProcessRelay(fx);
}, 60_000);
afterAll(async () => {
  await relay?.stop(200);
  await postfix?.stop();
  await fx?.cleanup();
});

async function waitDelivered(subject: string): Promise<string | undefined> {
  const until = Date.now() + 10_000;
  while (Date.now() < until) {
    const hit = postfix.delivered().find((m) => m.includes(`Subject: ${subject}`));
    if (hit) return hit;
    await new Promise((r) => setTimeout(r, 100));
  }
  return undefined;
}

describe('relay -> Postfix', () => {
  test('a message submitted with STARTTLS + AUTH is delivered by Postfix, received over TLS', async () => {
    const r = await sendWithNodemailer({ port: relay.port('submission') as number, ca: fx.ca.caCert, user: USER, pass: PASSWORD, raw: message(3000, 'via-postfix') });
    expect(r.ok).toBe(true);
    const delivered = await waitDelivered('via-postfix');
    expect(delivered).toBeDefined();
    // Postfix's Received header: "with ESMTPS" = the relay came in over TLS.
    expect(delivered).toMatch(/from relay\.test\.example [^\n]*\n\s+by upstream\.test\.example \(Postfix\) with ESMTPS id/);
  });

  test('REQUIRETLS asked by the client, Postfix lacks it: 550 5.7.30, nothing delivered', async () => {
    const c = await RawSmtp.connect(relay.port('submissions') as number, fx.ca.caCert);
    await c.reply();
    await c.cmd('EHLO client.example');
    await c.cmd(`AUTH PLAIN ${Buffer.from(`\0${USER}\0${PASSWORD}`).toString('base64')}`);
    expect(await c.cmd('MAIL FROM:<app@example.com> REQUIRETLS')).toMatch(/^250 /);
    await c.cmd('RCPT TO:<x@dest.example>');
    expect(await c.cmd('DATA')).toMatch(/^354 /);
    expect(await c.cmd(`${message(100, 'requiretls-postfix')}\r\n.`)).toMatch(/^550 5\.7\.30 /);
    c.close();
    await new Promise((r) => setTimeout(r, 500));
    expect(postfix.delivered().some((m) => m.includes('requiretls-postfix'))).toBe(false);
  });
});
