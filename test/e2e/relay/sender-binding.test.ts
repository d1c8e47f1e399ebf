// Login-to-sender binding (issue 11 item 4) against the relay as a real process, with
// Python smtplib as the client: user app1 is bound to app1@example.com. It may not use
// another envelope sender, nor another header From:, and a refused message must not reach
// the upstream at all (DKIM would sign it with our domain).
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { createRelayFixture, PASSWORD, startRelayProcess, USER, type RelayFixture, type RelayProcess } from '../../helpers/smtp/relay-fixture.js';

const run = promisify(execFile);
let fx: RelayFixture;
let relay: RelayProcess;

beforeAll(async () => {
  fx = await createRelayFixture((c) => {
    c.policy.senderLogins = { [USER]: [`${USER}@example.com`] };
  });
  relay = await startRelayProcess(fx);
});
afterAll(async () => {
  relay?.child.kill('SIGTERM');
  await relay?.exited;
  await fx?.cleanup();
});

// STARTTLS + AUTH on 587, then one transaction; prints what the server answered, as JSON.
const PY = `
import json, smtplib, ssl, sys
port, ca, user, password, mail_from = sys.argv[1:6]
msg = sys.stdin.read()
ctx = ssl.create_default_context(cafile=ca)
ctx.check_hostname = False  # connecting by IP; the chain is still verified
s = smtplib.SMTP('127.0.0.1', int(port), local_hostname='py.example', timeout=15)
s.starttls(context=ctx)
s.login(user, password)
out = {}
try:
    s.sendmail(mail_from, ['rcpt@dest.example'], msg)
    out = {'stage': 'sent'}
except smtplib.SMTPSenderRefused as e:
    out = {'stage': 'mail', 'code': e.smtp_code, 'text': e.smtp_error.decode()}
except smtplib.SMTPDataError as e:
    out = {'stage': 'data', 'code': e.smtp_code, 'text': e.smtp_error.decode()}
s.quit()
print(json.dumps(out))
`;

async function send(mailFrom: string, headerFrom: string, subject: string): Promise<{ stage: string; code?: number; text?: string }> {
  const child = run('python3', ['-c', PY, String(relay.ports.submission), path.join(fx.ca.dir, 'ca.crt'), USER, PASSWORD, mailFrom]);
  child.child.stdin?.end(`From: ${headerFrom}\r\nTo: <rcpt@dest.example>\r\nSubject: ${subject}\r\n\r\nhello\r\n`);
  return JSON.parse((await child).stdout) as { stage: string; code?: number; text?: string };
}

async function metric(name: string): Promise<string> {
  return (await (await fetch(`http://127.0.0.1:${relay.metricsPort}/metrics`)).text()).split('\n').filter((l) => l.startsWith(name)).join('\n');
}

function subjects(): string[] {
  return fx.upstream.messages.map((m) => /^Subject: (.*)$/m.exec(m.raw.toString())?.[1] ?? '');
}

describe('user app1 bound to app1@example.com', () => {
  test('MAIL FROM another address of an allowed domain: 553 5.7.1 not owned', async () => {
    const r = await send('other@example.com', '<app1@example.com>', 'envelope-forged');
    expect(r).toEqual({ stage: 'mail', code: 553, text: '5.7.1 Sender address <other@example.com> not owned by user <app1>' });
    expect(subjects()).not.toContain('envelope-forged');
  });

  test('right MAIL FROM, header From: ceo@example.com: 553 5.7.1 after the data, and the upstream received nothing', async () => {
    const before = { messages: fx.upstream.messages.length, data: fx.upstream.dataStarted };
    const r = await send('app1@example.com', 'The CEO <ceo@example.com>', 'header-forged');
    expect(r).toEqual({ stage: 'data', code: 553, text: '5.7.1 Sender address <ceo@example.com> not owned by user <app1>' });
    expect(fx.upstream.messages.length).toBe(before.messages);
    expect(fx.upstream.dataStarted).toBe(before.data); // not even a DATA command went upstream
  });

  test('header From: with an owned address but a forged display address, and a second From: header: refused', async () => {
    const a = await send('app1@example.com', '"ceo@example.com" <app1@example.com>', 'display-forged');
    expect(a).toMatchObject({ stage: 'data', code: 553 });
    const b = await send('app1@example.com', 'app1@example.com\r\nFrom: ceo@example.com', 'two-froms');
    expect(b).toMatchObject({ stage: 'data', code: 553, text: '5.7.1 From: header refused: more than one From: header' });
    expect(subjects()).not.toEqual(expect.arrayContaining(['display-forged']));
    expect(subjects()).not.toEqual(expect.arrayContaining(['two-froms']));
  });

  test('the right sender, folded header From: with a display name: delivered, unchanged', async () => {
    const r = await send('app1@example.com', 'App One\r\n <App1@Example.com>', 'owned');
    expect(r).toEqual({ stage: 'sent' });
    await fx.upstream.waitFor(1);
    const m = fx.upstream.messages.find((x) => x.raw.toString().includes('Subject: owned'));
    expect(m?.from).toBe('app1@example.com');
    expect(m?.raw.toString()).toContain('From: App One\r\n <App1@Example.com>\r\n');
  });

  test('a plaintext password in the users dir is warned about by user name, never by value', () => {
    const warnings = relay
      .logs()
      .split('\n')
      .filter((l) => l.includes('plaintext password'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(warnings).toEqual([expect.objectContaining({ level: 'warn', user: USER })]);
    expect(relay.logs()).not.toContain(PASSWORD);
  });

  test('refusals are counted by where they happened', async () => {
    const m = await metric('smtp_relay_sender_login_mismatch_total');
    expect(m).toMatch(/smtp_relay_sender_login_mismatch_total\{where="envelope"\} 1$/m);
    expect(m).toMatch(/smtp_relay_sender_login_mismatch_total\{where="header"\} 3$/m);
  });
});
