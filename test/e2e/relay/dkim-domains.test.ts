// DKIM for several domains, through a real relay process and the capture upstream: each
// message is signed with the key whose domain aligns with its header From: (exact, or a
// parent domain), the signature verifies against that domain's public key with an
// independent verifier (test/helpers/smtp/dkim-verify.ts), a From: that aligns with no key
// goes out unsigned and is counted, GET /dkim serves the public keys, and each key reloads
// on its own.
import { generateKeyPairSync } from 'node:crypto';
import http from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createRelayFixture, PASSWORD, startRelayProcess, USER, type RelayFixture, type RelayProcess } from '../../helpers/smtp/relay-fixture.js';
import { sendWithNodemailer } from '../../helpers/smtp/clients.js';
import { writeAtomicDir } from '../../helpers/smtp/certs.js';
import { dkimSignatures, verifyDkim } from '../../helpers/smtp/dkim-verify.js';

function rsaKey(): { pem: string; spki: Buffer } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { pem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, spki: publicKey.export({ type: 'spki', format: 'der' }) };
}

const exampleKey = rsaKey();
const appsKey = rsaKey();
const appsKeyRotated = rsaKey();

let fx: RelayFixture;
let relay: RelayProcess;

function get(pathname: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: relay.metricsPort, path: pathname }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
}

async function sendFrom(headerFrom: string, subject: string): Promise<string> {
  const raw = `From: ${headerFrom}\r\nTo: <rcpt@dest.example>\r\nSubject: ${subject}\r\nMessage-ID: <${subject}@example.com>\r\n\r\nHello  there \r\n\r\nsecond line\r\n\r\n\r\n`;
  const r = await sendWithNodemailer({ port: relay.ports.submission, ca: fx.ca.caCert, user: USER, pass: PASSWORD, from: 'app@example.com', raw });
  expect({ subject, ok: r.ok, error: r.error }).toEqual({ subject, ok: true, error: undefined });
  const got = fx.upstream.messages.find((m) => m.raw.toString('latin1').includes(`Subject: ${subject}\r\n`));
  if (!got) throw new Error(`${subject} did not reach the upstream`);
  return got.raw.toString('latin1');
}

beforeAll(async () => {
  fx = await createRelayFixture((c) => {
    // Header From: must be an allowed sender domain too (sender binding): these are the ones the tests use.
    c.policy.allowedSenderDomains = ['example.com', 'apps.example', 'mail.apps.example', 'other.example', 'notexample.com'];
    c.dkim = [
      { domain: 'example.com', selector: 's1', keyDir: '' },
      { domain: 'apps.example', selector: 's2', keyDir: '' },
    ];
  });
  const dirs = { 'example.com': path.join(fx.root, 'dkim', 'example.com'), 'apps.example': path.join(fx.root, 'dkim', 'apps.example') };
  writeAtomicDir(dirs['example.com'], { 'private.key': exampleKey.pem });
  writeAtomicDir(dirs['apps.example'], { 'private.key': appsKey.pem });
  for (const k of fx.config.dkim!) k.keyDir = dirs[k.domain as keyof typeof dirs];
  fx.config.spoolDir = path.join(fx.root, 'spool');
  const fs = await import('node:fs');
  fs.writeFileSync(fx.configPath, JSON.stringify(fx.config, null, 2));
  relay = await startRelayProcess(fx);
}, 60_000);

afterAll(async () => {
  if (relay && relay.child.exitCode === null) {
    relay.child.kill('SIGTERM');
    await relay.exited;
  }
  await fx?.cleanup();
});

describe('DKIM with one key per domain (real relay process)', () => {
  test('From: example.com is signed d=example.com s=s1 and verifies with that key only', async () => {
    const raw = await sendFrom('App <app@example.com>', 'dkim-example');
    const sigs = dkimSignatures(raw);
    expect(sigs).toHaveLength(1);
    expect(sigs[0]).toMatchObject({ domain: 'example.com', selector: 's1' });
    expect(verifyDkim(raw, exampleKey.spki)).toMatchObject({ ok: true });
    expect(verifyDkim(raw, appsKey.spki)).toMatchObject({ ok: false, why: 'b= does not verify with this key' });
  });

  test('From: apps.example is signed d=apps.example s=s2; a subdomain aligns with its parent (relaxed)', async () => {
    const exact = await sendFrom('<billing@apps.example>', 'dkim-apps');
    expect(dkimSignatures(exact)[0]).toMatchObject({ domain: 'apps.example', selector: 's2' });
    expect(verifyDkim(exact, appsKey.spki)).toMatchObject({ ok: true });
    const sub = await sendFrom('<news@mail.apps.example>', 'dkim-apps-sub');
    expect(dkimSignatures(sub)).toHaveLength(1);
    expect(dkimSignatures(sub)[0]).toMatchObject({ domain: 'apps.example', selector: 's2' });
    expect(verifyDkim(sub, appsKey.spki)).toMatchObject({ ok: true });
  });

  test('a From: that aligns with no key is relayed unsigned and counted, never signed with another domain', async () => {
    const before = Number(/^smtp_relay_dkim_unsigned_total (\d+)/m.exec(await get('/metrics'))?.[1] ?? 'NaN');
    const foreign = await sendFrom('<someone@other.example>', 'dkim-foreign');
    expect(dkimSignatures(foreign)).toHaveLength(0);
    // A look-alike that only ends in a key's domain is not a subdomain of it.
    const lookalike = await sendFrom('<x@notexample.com>', 'dkim-lookalike');
    expect(dkimSignatures(lookalike)).toHaveLength(0);
    // Two domains in From: cannot both align with one key.
    const two = await sendFrom('<a@example.com>, <b@apps.example>', 'dkim-two');
    expect(dkimSignatures(two)).toHaveLength(0);
    const after = Number(/^smtp_relay_dkim_unsigned_total (\d+)/m.exec(await get('/metrics'))?.[1] ?? 'NaN');
    expect(after - before).toBe(3);
  });

  test('GET /dkim serves each domain\'s public key; a rotated key reloads alone', async () => {
    const served = JSON.parse(await get('/dkim')) as { keys: { domain: string; selector: string; publicKey: string }[] };
    expect(served.keys).toEqual([
      { domain: 'apps.example', selector: 's2', publicKey: appsKey.spki.toString('base64') },
      { domain: 'example.com', selector: 's1', publicKey: exampleKey.spki.toString('base64') },
    ]);
    writeAtomicDir(path.join(fx.root, 'dkim', 'apps.example'), { 'private.key': appsKeyRotated.pem });
    const deadline = Date.now() + 15_000;
    let keys = served.keys;
    while (Date.now() < deadline && keys.find((k) => k.domain === 'apps.example')?.publicKey !== appsKeyRotated.spki.toString('base64')) {
      await new Promise((r) => setTimeout(r, 200));
      keys = (JSON.parse(await get('/dkim')) as typeof served).keys;
    }
    expect(keys.find((k) => k.domain === 'apps.example')?.publicKey).toBe(appsKeyRotated.spki.toString('base64'));
    expect(keys.find((k) => k.domain === 'example.com')?.publicKey).toBe(exampleKey.spki.toString('base64'));
    const rotated = await sendFrom('<billing@apps.example>', 'dkim-rotated');
    expect(verifyDkim(rotated, appsKeyRotated.spki)).toMatchObject({ ok: true });
    const still = await sendFrom('<app@example.com>', 'dkim-example-2');
    expect(verifyDkim(still, exampleKey.spki)).toMatchObject({ ok: true });
  }, 30_000);
});
