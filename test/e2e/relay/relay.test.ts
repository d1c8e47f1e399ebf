// The relay end to end with real peers: nodemailer / raw sockets / openssl s_client as
// clients, a capture upstream (smtp-server with STARTTLS + AUTH) behind it.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFile, execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import type { RelayRuntime } from '../../../src/relay/relay.js';
import { message, RawSmtp, sendWithNodemailer } from '../../helpers/smtp/clients.js';
import { createRelayFixture, PASSWORD, startInProcessRelay, USER, type RelayFixture } from '../../helpers/smtp/relay-fixture.js';

let fx: RelayFixture;
let relay: RelayRuntime;
let sub: number;
let subs: number;
let rel: number;

beforeAll(async () => {
  fx = await createRelayFixture();
  relay = await startInProcessRelay(fx, 200);
  sub = relay.port('submission') as number;
  subs = relay.port('submissions') as number;
  rel = relay.port('relay') as number;
});
afterAll(async () => {
  await relay?.stop(200);
  await fx?.cleanup();
});

function b64(s: string): string {
  return Buffer.from(s).toString('base64');
}

async function tlsSession(): Promise<RawSmtp> {
  const c = await RawSmtp.connect(sub);
  expect(await c.reply()).toMatch(/^220 /);
  await c.cmd('EHLO client.example');
  expect(await c.cmd('STARTTLS')).toMatch(/^220 /);
  await c.starttls(fx.ca.caCert);
  expect(await c.cmd('EHLO client.example')).toMatch(/^250/);
  return c;
}

describe('delivery', () => {
  test('STARTTLS + AUTH on 587 relays the message and answers 250 after the upstream accepted it', async () => {
    const before = fx.upstream.messages.length;
    const r = await sendWithNodemailer({ port: sub, ca: fx.ca.caCert, user: USER, pass: PASSWORD, raw: message(2048, 'starttls-1') });
    expect(r).toMatchObject({ ok: true });
    expect(r.response).toMatch(/^250 2\.0\.0 Ok: relayed as [0-9a-f-]{36}/);
    const got = fx.upstream.messages[before];
    expect(got?.to).toEqual(['rcpt@dest.example']);
    expect(got?.raw.toString()).toContain('Subject: starttls-1');
    expect(got?.user).toBe('relay');
    expect(got?.tlsProtocol).toMatch(/^TLSv1\.[23]$/);
  });

  test('implicit TLS on 465 relays too', async () => {
    const before = fx.upstream.messages.length;
    const r = await sendWithNodemailer({ port: subs, implicit: true, ca: fx.ca.caCert, user: USER, pass: PASSWORD, raw: message(1024, 'implicit-1') });
    expect(r.ok).toBe(true);
    expect(fx.upstream.messages[before]?.raw.toString()).toContain('Subject: implicit-1');
  });

  test('the served TLS: TLS 1.3 with the PQ hybrid group for a Node 24 client', async () => {
    const s = tls.connect({ host: '127.0.0.1', port: subs, ca: fx.ca.caCert, servername: 'relay.test.example' });
    await new Promise<void>((resolve, reject) => s.once('secureConnect', resolve).once('error', reject));
    expect(s.getProtocol()).toBe('TLSv1.3');
    expect(s.getEphemeralKeyInfo()).toMatchObject({ name: 'X25519MLKEM768' });
    expect(crypto.createHash('sha256').update(s.getPeerX509Certificate()!.raw).digest('hex')).toBe(fx.leaf.fingerprint);
    s.destroy();
  });

  test('REQUIRETLS is advertised after TLS only, and propagated upstream', async () => {
    const c = await RawSmtp.connect(sub);
    await c.reply();
    const plainEhlo = await c.cmd('EHLO client.example');
    expect(plainEhlo).not.toMatch(/REQUIRETLS/);
    expect(plainEhlo).not.toMatch(/AUTH/); // no AUTH offered before TLS
    await c.cmd('STARTTLS');
    await c.starttls(fx.ca.caCert);
    const ehlo = await c.cmd('EHLO client.example');
    expect(ehlo).toMatch(/250-REQUIRETLS/);
    expect(ehlo).toMatch(/SIZE 65536/);
    expect(ehlo).toMatch(/AUTH PLAIN LOGIN/);
    expect(await c.cmd(`AUTH PLAIN ${b64(`\0${USER}\0${PASSWORD}`)}`)).toMatch(/^235 /);
    const before = fx.upstream.messages.length;
    expect(await c.cmd('MAIL FROM:<app@example.com> REQUIRETLS')).toMatch(/^250 /);
    expect(await c.cmd('RCPT TO:<a@dest.example>')).toMatch(/^250 /);
    expect(await c.cmd('DATA')).toMatch(/^354 /);
    expect(await c.cmd(`${message(100, 'requiretls')}\r\n.`)).toMatch(/^250 2\.0\.0/);
    expect(fx.upstream.messages[before]?.requireTLS).toBe(true);
    c.close();
  });
});

describe('refusals', () => {
  test('AUTH before STARTTLS: 538 5.7.11; MAIL before STARTTLS: 530 5.7.0', async () => {
    const c = await RawSmtp.connect(sub);
    expect(await c.reply()).toMatch(/^220 /);
    await c.cmd('EHLO client.example');
    expect(await c.cmd(`AUTH PLAIN ${b64(`\0${USER}\0${PASSWORD}`)}`)).toBe('538 5.7.11 Encryption required for requested authentication mechanism\r\n');
    expect(await c.cmd('MAIL FROM:<app@example.com>')).toBe('530 5.7.0 Must issue a STARTTLS command first\r\n');
    expect(await c.cmd('RCPT TO:<a@dest.example>')).toBe('530 5.7.0 Must issue a STARTTLS command first\r\n');
    c.close();
  });

  test('STARTTLS command injection: plaintext pipelined after STARTTLS is discarded', async () => {
    const c = await RawSmtp.connect(sub);
    await c.reply();
    await c.cmd('EHLO client.example');
    c.write('STARTTLS\r\nNOOP\r\nMAIL FROM:<app@example.com>\r\n');
    expect(await c.reply()).toMatch(/^220 /);
    await c.starttls(fx.ca.caCert);
    // No reply may arrive for the injected NOOP/MAIL inside the TLS session.
    // (smtp-server 3.21.6 retires the plaintext parser at STARTTLS; this proves it end to end.)
    expect(await c.pending(500)).toBe('');
    expect(await c.cmd('NOOP')).toMatch(/^250 /);
    // And the injected MAIL did not start a transaction either.
    await c.cmd('EHLO client.example');
    expect(await c.cmd('RCPT TO:<a@dest.example>')).toMatch(/^5\d\d /);
    c.close();
  });

  test('unauthenticated MAIL after TLS is refused on 587 (no open relay)', async () => {
    const c = await tlsSession();
    expect(await c.cmd('MAIL FROM:<app@example.com>')).toMatch(/^530 /);
    c.close();
  });

  test('wrong password: 535; unknown user: 535, same reply', async () => {
    const c = await tlsSession();
    expect(await c.cmd(`AUTH PLAIN ${b64(`\0${USER}\0wrong`)}`)).toBe('535 5.7.8 Authentication credentials invalid\r\n');
    expect(await c.cmd(`AUTH PLAIN ${b64('\0nobody\0wrong')}`)).toBe('535 5.7.8 Authentication credentials invalid\r\n');
    c.close();
  });

  test('disallowed sender domain refused; percent-hack, source route and quoted local part refused', async () => {
    const c = await tlsSession();
    expect(await c.cmd(`AUTH PLAIN ${b64(`\0${USER}\0${PASSWORD}`)}`)).toMatch(/^235 /);
    expect(await c.cmd('MAIL FROM:<app@evil.example>')).toMatch(/^550 5\.7\.1 Sender domain evil\.example is not allowed/);
    expect(await c.cmd('MAIL FROM:<App@EXAMPLE.com>')).toMatch(/^250 /); // case-insensitive
    expect(await c.cmd('RCPT TO:<victim%other.example@dest.example>')).toMatch(/^553 5\.1\.3 Percent-hack/);
    expect(await c.cmd('RCPT TO:<"victim@other.example"@dest.example>')).toMatch(/^5\d\d /);
    expect(await c.cmd('RCPT TO:<other.example!victim@dest.example>')).toMatch(/^553 5\.1\.3 Bang-path/);
    c.close();
  });

  test('recipient limit: 452 4.5.3', async () => {
    const c = await tlsSession();
    await c.cmd(`AUTH PLAIN ${b64(`\0${USER}\0${PASSWORD}`)}`);
    await c.cmd('MAIL FROM:<app@example.com>');
    for (let i = 0; i < 5; i++) expect(await c.cmd(`RCPT TO:<r${i}@dest.example>`)).toMatch(/^250 /);
    expect(await c.cmd('RCPT TO:<r9@dest.example>')).toBe('452 4.5.3 Too many recipients\r\n');
    c.close();
  });

  test('oversized message: 552 5.3.4 and nothing delivered', async () => {
    const before = fx.upstream.messages.length;
    const r = await sendWithNodemailer({ port: sub, ca: fx.ca.caCert, user: USER, pass: PASSWORD, raw: message(100 * 1024, 'too-big') });
    expect(r.ok).toBe(false);
    expect(r.code).toBe(552);
    expect(r.response).toMatch(/^552 5\.3\.4 /);
    await new Promise((res) => setTimeout(res, 200));
    expect(fx.upstream.messages.slice(before).some((m) => m.raw.toString().includes('too-big'))).toBe(false);
  });

  test('relay listener: allowed network + allowed sender domain only, others refused', async () => {
    const c = await RawSmtp.connect(rel);
    expect(await c.reply()).toMatch(/^220 /);
    await c.cmd('EHLO app.cluster.local');
    expect(await c.cmd('MAIL FROM:<app@example.com>')).toMatch(/^550 5\.7\.1 /); // allowed by policy, not by this listener
    expect(await c.cmd('MAIL FROM:<noreply@apps.example>')).toMatch(/^250 /);
    expect(await c.cmd('RCPT TO:<someone@dest.example>')).toMatch(/^250 /);
    expect(await c.cmd('DATA')).toMatch(/^354 /);
    const before = fx.upstream.messages.length;
    expect(await c.cmd(`${message(100, 'relay-listener')}\r\n.`)).toMatch(/^250 /);
    expect(fx.upstream.messages[before]?.from).toBe('noreply@apps.example');
    c.close();
  });
});

describe('upstream failures: nothing acknowledged is lost, nothing refused is delivered', () => {
  test('upstream 4xx -> client 451; 5xx -> 554 passed back', async () => {
    fx.upstream.fail = 'temp';
    const t = await sendWithNodemailer({ port: sub, ca: fx.ca.caCert, user: USER, pass: PASSWORD });
    fx.upstream.fail = 'perm';
    const p = await sendWithNodemailer({ port: sub, ca: fx.ca.caCert, user: USER, pass: PASSWORD });
    fx.upstream.fail = 'none';
    expect(t).toMatchObject({ ok: false, code: 451 });
    expect(t.response).toMatch(/^451 4\./);
    expect(p).toMatchObject({ ok: false, code: 554 });
    expect(p.response).toMatch(/^554 5\..*Content rejected/);
  });

  test('upstream drops the connection mid-DATA -> client 451, message not stored', async () => {
    fx.upstream.fail = 'close-mid-data';
    const before = fx.upstream.messages.length;
    const r = await sendWithNodemailer({ port: sub, ca: fx.ca.caCert, user: USER, pass: PASSWORD, raw: message(20 * 1024, 'mid-data') });
    fx.upstream.fail = 'none';
    expect(r).toMatchObject({ ok: false, code: 451 });
    expect(fx.upstream.messages.length).toBe(before);
  });

  test('upstream never answers the end of DATA -> client 451 4.4.2 after the transaction timeout', async () => {
    fx.upstream.fail = 'hang';
    const r = await sendWithNodemailer({ port: sub, ca: fx.ca.caCert, user: USER, pass: PASSWORD, raw: message(1000, 'hang') });
    fx.upstream.fail = 'none';
    expect(r).toMatchObject({ ok: false, code: 451 });
    expect(r.response).toMatch(/^451 4\.4\.2 /);
  });

  test('partial recipient rejection: whole message refused, delivered to nobody', async () => {
    fx.upstream.rejectRecipients.set('gone@dest.example', 550);
    const before = fx.upstream.messages.length;
    const dataBefore = fx.upstream.dataStarted;
    const r = await sendWithNodemailer({ port: sub, ca: fx.ca.caCert, user: USER, pass: PASSWORD, to: ['ok@dest.example', 'gone@dest.example'] });
    fx.upstream.rejectRecipients.clear();
    expect(r).toMatchObject({ ok: false, code: 550 });
    expect(r.response).toMatch(/gone@dest\.example.*relayed to no recipient/);
    await new Promise((res) => setTimeout(res, 300));
    expect(fx.upstream.messages.length).toBe(before);
    expect(fx.upstream.dataStarted - dataBefore).toBeLessThanOrEqual(1);
  });
});

describe('TLS policy (openssl s_client)', () => {
  // Asynchronous on purpose: the relay runs in this process and must keep answering.
  function openssl(args: string[], input: string): Promise<{ stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      const child = execFile('openssl', args, { encoding: 'utf8', timeout: 10_000 }, (_err, stdout, stderr) => resolve({ stdout, stderr }));
      child.stdin?.end(input);
    });
  }
  async function sClient(args: string[]): Promise<{ ok: boolean; out: string }> {
    const r = await openssl(['s_client', '-connect', `127.0.0.1:${subs}`, '-servername', 'relay.test.example', ...args], 'Q\n');
    const out = `${r.stdout}\n${r.stderr}`;
    return { ok: /Cipher is (?!\(NONE\))/.test(out), out };
  }
  test.each([['-tls1'], ['-tls1_1']])('%s is refused', async (flag) => {
    const r = await sClient([flag, '-cipher', 'DEFAULT@SECLEVEL=0']);
    expect(r.ok).toBe(false);
    expect(r.out).toMatch(/alert|no protocols available|wrong version|unsupported protocol/i);
  });
  test('static-RSA / CBC-SHA1 cipher (AES128-SHA) is refused, ECDHE-GCM works', async () => {
    expect((await sClient(['-tls1_2', '-cipher', 'AES128-SHA'])).ok).toBe(false);
    expect((await sClient(['-tls1_2', '-cipher', 'ECDHE-RSA-AES128-SHA'])).ok).toBe(false);
    const good = await sClient(['-tls1_2', '-cipher', 'ECDHE-ECDSA-AES128-GCM-SHA256']);
    expect(good.out).toMatch(/New, TLSv1\.2, Cipher is ECDHE-ECDSA-AES128-GCM-SHA256/);
  });
  test('STARTTLS listener through openssl s_client -starttls smtp', async () => {
    const r = await openssl(['s_client', '-connect', `127.0.0.1:${sub}`, '-starttls', 'smtp', '-CAfile', path.join(fx.ca.dir, 'ca.crt'), '-verify_return_error', '-servername', 'relay.test.example'], 'Q\n');
    expect(r.stdout).toMatch(/Verify return code: 0 \(ok\)/);
    expect(r.stdout).toMatch(/New, TLSv1\.3/);
  });
  test('renegotiation is refused on TLS 1.2', async () => {
    // 'R' asks s_client to renegotiate; the server answers with a no_renegotiation alert.
    const r = await openssl(['s_client', '-connect', `127.0.0.1:${subs}`, '-tls1_2'], 'R\n');
    expect(`${r.stdout}${r.stderr}`).toMatch(/New, TLSv1\.2/);
    expect(`${r.stdout}${r.stderr}`).toMatch(/no renegotiation/);
  });
});

describe('hot reload', () => {
  test('a Kubernetes-style ..data swap is served within 2 s, under traffic, with no failed session', async () => {
    const old = relay.fingerprint;
    let stop = false;
    const results: boolean[] = [];
    const traffic = (async () => {
      while (!stop) {
        const r = await sendWithNodemailer({ port: sub, ca: fx.ca.caCert, user: USER, pass: PASSWORD });
        results.push(r.ok);
      }
    })();
    await new Promise((r) => setTimeout(r, 300));
    const next = fx.rotate();
    const t0 = Date.now();
    let served = '';
    while (Date.now() - t0 < 2000) {
      const s = tls.connect({ host: '127.0.0.1', port: subs, ca: fx.ca.caCert, servername: 'relay.test.example' });
      await new Promise<void>((resolve, reject) => s.once('secureConnect', resolve).once('error', reject));
      served = crypto.createHash('sha256').update(s.getPeerX509Certificate()!.raw).digest('hex');
      s.destroy();
      if (served === next.fingerprint) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(served).toBe(next.fingerprint);
    expect(served).not.toBe(old);
    // The STARTTLS listener serves the new pair as well.
    const c = await RawSmtp.connect(sub);
    await c.reply();
    await c.cmd('EHLO client.example');
    await c.cmd('STARTTLS');
    const upgraded = await c.starttls(fx.ca.caCert);
    expect(crypto.createHash('sha256').update(upgraded.getPeerX509Certificate()!.raw).digest('hex')).toBe(next.fingerprint);
    c.close();
    await new Promise((r) => setTimeout(r, 300));
    stop = true;
    await traffic;
    expect(results.length).toBeGreaterThan(0);
    expect(results.every(Boolean)).toBe(true);
  });

  test('a broken pair keeps the old one serving and counts a reload failure', async () => {
    const current = relay.fingerprint;
    const other = fx.ca.issue('relay', ['relay.test.example']);
    const failuresBefore = (await relay.metrics.reloadFailures.get()).values.find((v) => v.labels.source === 'tls')?.value ?? 0;
    // Key from another pair: must be refused.
    fx.rotate({ ...other, key: fx.ca.issue('x', ['x.example']).key });
    const until = Date.now() + 3000;
    let failures = failuresBefore;
    while (Date.now() < until && failures === failuresBefore) {
      await new Promise((r) => setTimeout(r, 100));
      failures = (await relay.metrics.reloadFailures.get()).values.find((v) => v.labels.source === 'tls')?.value ?? 0;
    }
    expect(failures).toBe(failuresBefore + 1);
    expect(relay.fingerprint).toBe(current);
    const r = await sendWithNodemailer({ port: sub, ca: fx.ca.caCert, user: USER, pass: PASSWORD });
    expect(r.ok).toBe(true);
  });
});

describe('start-up', () => {
  test('no key pair: the relay process exits non-zero with a clear error', async () => {
    const bad = { ...fx.config, tls: { ...fx.config.tls, dir: path.join(fx.root, 'missing-tls') } };
    const p = path.join(fx.root, 'bad.json');
    fs.writeFileSync(p, JSON.stringify(bad));
    const { cliPath, nodeBin } = await import('../../helpers/cli.js');
    let code = 0;
    let out = '';
    try {
      execFileSync(nodeBin, [cliPath, 'relay', '--config', p], { encoding: 'utf8', stdio: 'pipe', timeout: 15_000 });
    } catch (err) {
      const e = err as { status: number; stderr: string };
      code = e.status;
      out = e.stderr;
    }
    expect(code).toBe(1);
    expect(out).toMatch(/no TLS key pair/);
  });
});
