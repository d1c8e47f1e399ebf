// The relay as a real process (dist/cli.js): other clients (swaks, Python smtplib),
// graceful SIGTERM, and kill -9 under traffic.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { message, sendWithNodemailer } from '../../helpers/smtp/clients.js';
import { createRelayFixture, PASSWORD, startRelayProcess, USER, type RelayFixture, type RelayProcess } from '../../helpers/smtp/relay-fixture.js';

const run = promisify(execFile);
let fx: RelayFixture;

beforeAll(async () => {
  fx = await createRelayFixture((c) => (c.limits.closeTimeoutMs = 8000));
});
afterAll(async () => {
  await fx?.cleanup();
});

function subjects(): Set<string> {
  return new Set(fx.upstream.messages.map((m) => /^Subject: (.*)$/m.exec(m.raw.toString())?.[1] ?? ''));
}

describe('other clients against the relay process', () => {
  let relay: RelayProcess;
  beforeAll(async () => {
    relay = await startRelayProcess(fx);
  });
  afterAll(async () => {
    relay?.child.kill('SIGTERM');
    await relay?.exited;
  });

  test('swaks: STARTTLS + AUTH on 587 and --tls-on-connect on 465', async () => {
    const ca = path.join(fx.ca.dir, 'ca.crt');
    const common = ['--from', 'app@example.com', '--to', 'rcpt@dest.example', '--auth', 'PLAIN', '--auth-user', USER, '--auth-password', PASSWORD, '--tls-verify', '--tls-ca-path', ca, '--tls-sni', 'relay.test.example'];
    const a = await run('swaks', ['--server', `127.0.0.1:${relay.ports.submission}`, '--tls', '--header', 'Subject: swaks-587', ...common]);
    expect(a.stdout).toMatch(/<~\s+250 2\.0\.0 Ok: relayed as/);
    const b = await run('swaks', ['--server', `127.0.0.1:${relay.ports.submissions}`, '--tls-on-connect', '--header', 'Subject: swaks-465', ...common]);
    expect(b.stdout).toMatch(/<~\s+250 2\.0\.0 Ok: relayed as/);
    expect([...subjects()]).toEqual(expect.arrayContaining(['swaks-587', 'swaks-465']));
  });

  test('Python smtplib: starttls + login + sendmail', async () => {
    const py = `
import smtplib, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
ctx.check_hostname = False  # connecting by IP; the chain is still verified
s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]), local_hostname='py.example', timeout=10)
s.starttls(context=ctx)
s.login(sys.argv[3], sys.argv[4])
s.sendmail('app@example.com', ['rcpt@dest.example'], 'Subject: python-587\\r\\n\\r\\nhello\\r\\n')
s.quit()
print('sent')
`;
    const r = await run('python3', ['-c', py, String(relay.ports.submission), path.join(fx.ca.dir, 'ca.crt'), USER, PASSWORD]);
    expect(r.stdout.trim()).toBe('sent');
    expect(subjects().has('python-587')).toBe(true);
  });

  test('metrics and health endpoints', async () => {
    const base = `http://127.0.0.1:${relay.metricsPort}`;
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    const m = await (await fetch(`${base}/metrics`)).text();
    expect(m).toMatch(/smtp_relay_messages_total\{result="delivered"\} [1-9]/);
    expect(m).toMatch(/smtp_relay_sessions_total\{listener="submission",tls_version="TLSv1\.3"\} [1-9]/);
    expect(m).toMatch(/smtp_relay_served_cert_not_after_seconds \d{10}/);
    expect(m).toMatch(/smtp_relay_upstream_duration_seconds_bucket/);
  });

  test('logs are JSON, carry a message id and result, and never the password or body', () => {
    const lines = relay.logs().split('\n').filter(Boolean);
    const msgs = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.message === 'message');
    expect(msgs.length).toBeGreaterThan(0);
    expect(msgs[0]).toMatchObject({ msgId: expect.stringMatching(/^[0-9a-f-]{36}$/), result: 'delivered', code: 250 });
    expect(relay.logs()).not.toContain(PASSWORD);
    expect(relay.logs()).not.toContain(Buffer.from(`\0${USER}\0${PASSWORD}`).toString('base64'));
    expect(relay.logs()).not.toContain('hello');
  });
});

describe('shutdown and crashes', () => {
  test('SIGTERM: an in-flight message still completes, new connections are refused, exit 0', async () => {
    const relay = await startRelayProcess(fx);
    fx.upstream.delayMs = 1500;
    try {
      const startedBefore = fx.upstream.dataStarted;
      const inFlight = sendWithNodemailer({ port: relay.ports.submission, ca: fx.ca.caCert, user: USER, pass: PASSWORD, raw: message(4096, 'in-flight-at-sigterm') });
      // SIGTERM while the upstream holds the message (it answers after delayMs).
      const until = Date.now() + 5000;
      while (fx.upstream.dataStarted === startedBefore && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
      relay.child.kill('SIGTERM');
      await new Promise((r) => setTimeout(r, 200));
      const late = await sendWithNodemailer({ port: relay.ports.submission, ca: fx.ca.caCert, user: USER, pass: PASSWORD, raw: message(100, 'after-sigterm') });
      expect(late.ok).toBe(false);
      const r = await inFlight;
      expect(r).toMatchObject({ ok: true });
      expect(await relay.exited).toBe(0);
      expect(subjects().has('in-flight-at-sigterm')).toBe(true);
      expect(subjects().has('after-sigterm')).toBe(false);
    } finally {
      fx.upstream.delayMs = 0;
      relay.child.kill('SIGKILL');
    }
  });

  test('kill -9 under traffic: every message the client got 250 for is at the upstream', async () => {
    const relay = await startRelayProcess(fx);
    fx.upstream.delayMs = 30;
    const acked: string[] = [];
    let n = 0;
    let stop = false;
    const worker = async () => {
      while (!stop) {
        const subject = `kill9-${++n}`;
        const r = await sendWithNodemailer({ port: relay.ports.submission, ca: fx.ca.caCert, user: USER, pass: PASSWORD, raw: message(2048, subject) });
        if (r.ok) acked.push(subject);
        else if (r.code === undefined) return; // the relay is gone
      }
    };
    const workers = [worker(), worker(), worker(), worker()];
    await new Promise((r) => setTimeout(r, 1500));
    relay.child.kill('SIGKILL');
    stop = true;
    await Promise.all(workers);
    await relay.exited;
    fx.upstream.delayMs = 0;
    expect(acked.length).toBeGreaterThan(0);
    const got = subjects();
    expect(acked.filter((s) => !got.has(s))).toEqual([]);
  });
});
