// The per-pod cap on DATA transactions answers at the DATA command: with maxConcurrentData 1
// and a slow upstream, a second client's DATA waits up to upstreamAcquireTimeoutMs for the
// slot and then gets 451 4.3.2 instead of a 354, so it never uploads a message the relay has
// no room for. Once the slot is free, the next DATA gets its 354 and is delivered.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import type { RelayRuntime } from '../../../src/relay/relay.js';
import { writeAtomicDir } from '../../helpers/smtp/certs.js';
import { message, RawSmtp, sendWithNodemailer } from '../../helpers/smtp/clients.js';
import { createRelayFixture, PASSWORD, startInProcessRelay, USER, type RelayFixture } from '../../helpers/smtp/relay-fixture.js';

const ACQUIRE_TIMEOUT_MS = 400;

let fx: RelayFixture;
let relay: RelayRuntime;

beforeAll(async () => {
  fx = await createRelayFixture((c) => {
    c.limits.maxConcurrentData = 1;
    c.limits.upstreamAcquireTimeoutMs = ACQUIRE_TIMEOUT_MS;
  });
  writeAtomicDir(fx.dirs.users, { [USER]: PASSWORD, second: 'second password' });
  relay = await startInProcessRelay(fx);
});
afterAll(async () => {
  await relay?.stop(200);
  await fx?.cleanup();
});

async function upToData(user: string, pass: string): Promise<{ c: RawSmtp; reply: string | null }> {
  const c = await RawSmtp.connect(relay.port('submissions') as number, fx.ca.caCert);
  await c.reply();
  await c.cmd('EHLO client.example');
  expect(await c.cmd(`AUTH PLAIN ${Buffer.from(`\0${user}\0${pass}`).toString('base64')}`)).toMatch(/^235 /);
  expect(await c.cmd('MAIL FROM:<app@example.com>')).toMatch(/^250 /);
  expect(await c.cmd('RCPT TO:<rcpt@dest.example>')).toMatch(/^250 /);
  return { c, reply: await c.cmd('DATA') };
}

test('a DATA beyond maxConcurrentData gets 451 4.3.2 instead of its 354; the next one after is delivered', async () => {
  fx.upstream.delayMs = 2000; // the first message holds the only DATA slot this long
  const first = sendWithNodemailer({ port: relay.port('submission') as number, ca: fx.ca.caCert, user: USER, pass: PASSWORD, raw: message(500, 'holds-the-slot') });
  while (fx.upstream.dataStarted === 0) await new Promise((r) => setTimeout(r, 10));

  const second = await upToData('second', 'second password');
  expect(second.reply).toBe('451 4.3.2 Too many concurrent transactions, try again later\r\n');
  expect(await second.c.cmd('QUIT')).toMatch(/^221 /);
  second.c.close();
  const refused = await relay.metrics.dataRefusedBusy.get();
  expect(refused.values[0]?.value).toBe(1);

  expect(await first).toMatchObject({ ok: true });
  fx.upstream.delayMs = 0;
  const third = await upToData('second', 'second password');
  expect(third.reply).toMatch(/^354 /);
  third.c.write(`${message(200, 'after-the-slot-freed')}\r\n.\r\n`);
  expect(await third.c.reply()).toMatch(/^250 2\.0\.0 /);
  third.c.close();
  const subjects = fx.upstream.messages.map((m) => /^Subject: (.*)$/m.exec(m.raw.toString())?.[1]);
  expect(subjects).toEqual(['holds-the-slot', 'after-the-slot-freed']);
}, 20_000);
