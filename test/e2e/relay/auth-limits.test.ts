// AUTH throttling, per-user rate limit, DKIM signing and users-dir reload, on a relay of
// their own (throttling is per client IP, and every test connects from 127.0.0.1).
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { RelayRuntime } from '../../../src/relay/relay.js';
import { writeAtomicDir } from '../../helpers/smtp/certs.js';
import { message, RawSmtp, sendWithNodemailer } from '../../helpers/smtp/clients.js';
import { createRelayFixture, PASSWORD, startInProcessRelay, USER, type RelayFixture } from '../../helpers/smtp/relay-fixture.js';

let fx: RelayFixture;
let relay: RelayRuntime;

beforeAll(async () => {
  fx = await createRelayFixture((c) => {
    c.limits.authFailuresPerMinute = 3;
    c.policy.rateLimit = { messagesPerMinute: 1, burst: 2 };
    const relayListener = c.listeners.find((l) => l.name === 'relay');
    if (relayListener) relayListener.allowedNetworks = ['10.0.0.0/8', 'fd00::/8']; // not 127.0.0.1
  });
  const dkimDir = path.join(fx.root, 'dkim');
  fs.mkdirSync(dkimDir);
  execFileSync('openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', path.join(dkimDir, 'private.key')], { stdio: 'ignore' });
  fx.config.dkim = [{ selector: 'sel1', domain: 'example.com', keyDir: dkimDir }];
  relay = await startInProcessRelay(fx, 200);
});
afterAll(async () => {
  await relay?.stop(200);
  await fx?.cleanup();
});

const b64 = (s: string) => Buffer.from(s).toString('base64');

async function authed(user: string, pass: string): Promise<{ c: RawSmtp; reply: string | null }> {
  const c = await RawSmtp.connect(relay.port('submissions') as number, fx.ca.caCert);
  await c.reply();
  await c.cmd('EHLO client.example');
  return { c, reply: await c.cmd(`AUTH PLAIN ${b64(`\0${user}\0${pass}`)}`) };
}

describe('relay listener', () => {
  test('a client outside allowedNetworks is refused at connect: 554 5.7.1', async () => {
    const c = await RawSmtp.connect(relay.port('relay') as number);
    expect(await c.reply()).toBe('554 5.7.1 Relay access denied for this client address\r\n');
    c.close();
  });
});

describe('limits', () => {
  test('messages are DKIM-signed, then the per-user rate limit answers 450 4.7.1', async () => {
    const before = fx.upstream.messages.length;
    const a = await sendWithNodemailer({ port: relay.port('submission') as number, ca: fx.ca.caCert, user: USER, pass: PASSWORD, raw: message(500, 'dkim-1') });
    expect(a.ok).toBe(true);
    const raw = fx.upstream.messages[before]?.raw.toString() ?? '';
    expect(raw).toMatch(/^DKIM-Signature: v=1; a=rsa-sha256;/);
    expect(raw).toMatch(/d=example\.com;/);
    expect(raw).toMatch(/s=sel1;/);
    expect((await sendWithNodemailer({ port: relay.port('submission') as number, ca: fx.ca.caCert, user: USER, pass: PASSWORD })).ok).toBe(true);
    const third = await sendWithNodemailer({ port: relay.port('submission') as number, ca: fx.ca.caCert, user: USER, pass: PASSWORD });
    expect(third).toMatchObject({ ok: false, code: 450 });
    expect(third.response).toMatch(/^450 4\.7\.1 /);
  });

  test('the users dir is reloaded: a new user can log in without a restart', async () => {
    const reloads = async () => (await relay.metrics.reloads.get()).values.find((v) => v.labels.source === 'users')?.value ?? 0;
    const before = await reloads();
    writeAtomicDir(fx.dirs.users, { [USER]: PASSWORD, newbie: 'fresh-password' });
    const until = Date.now() + 3000;
    while (Date.now() < until && (await reloads()) === before) await new Promise((r) => setTimeout(r, 50));
    // Polling the metric, not AUTH: failed attempts would count against the throttle below.
    const s = await authed('newbie', 'fresh-password');
    expect(s.reply).toMatch(/^235 /);
    s.c.close();
  });

  test('after N failed AUTHs from one IP, AUTH is refused with 454 even with the right password', async () => {
    for (let i = 0; i < 3; i++) {
      const s = await authed(USER, 'wrong');
      expect(s.reply).toMatch(/^535 5\.7\.8 /);
      s.c.close();
    }
    const s = await authed(USER, PASSWORD);
    expect(s.reply).toBe('454 4.7.0 Too many authentication failures, try again later\r\n');
    s.c.close();
    const failures = (await relay.metrics.authFailures.get()).values.reduce((n, v) => n + v.value, 0);
    expect(failures).toBeGreaterThanOrEqual(4);
  });
});
