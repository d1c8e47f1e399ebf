// The prober against a real Postfix (Debian's package, private instance):
// submission with STARTTLS and smtpd_tls_auth_only, 465 wrapper mode, Postfix's
// default cipher list, AUTH allowed before TLS, and an open relay (permit_mynetworks
// with the prober inside mynetworks).
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import fs from 'node:fs';
import { deepScan } from '../../../src/probe/deep-scan.js';
import { probeEndpoint } from '../../../src/probe/fast-probe.js';
import type { CheckResult, ProbeOptions, ProbeResult } from '../../../src/probe/types.js';
import { createTestPki, TEST_HOST, type TestPki } from '../../helpers/broken-smtp/certs.js';
import { cli } from './cli-run.js';
import { startPostfixInstance, type PostfixInstance, type PostfixService } from './postfix-instance.js';

let pki: TestPki;
let postfix: PostfixInstance;

beforeAll(async () => {
  pki = createTestPki();
  postfix = await startPostfixInstance({ chainPem: pki.chain(pki.good), keyPem: pki.good.key, hostname: TEST_HOST });
}, 60_000);
afterAll(async () => {
  await postfix?.stop();
  pki?.cleanup();
});

function opts(service: PostfixService, over: Partial<ProbeOptions> = {}): ProbeOptions {
  return { host: '127.0.0.1', port: postfix.ports[service], mode: service === 'submissions' ? 'implicit' : 'starttls', servername: TEST_HOST, caPem: [fs.readFileSync(pki.caFile, 'utf8')], timeoutMs: 8000, ...over };
}
const blamed = (checks: CheckResult[]) => checks.filter((c) => c.result !== 'pass').map((c) => `${c.result}:${c.reason}`).sort();
const check = (r: { checks: CheckResult[] }, name: string) => r.checks.find((c) => c.check === name);

describe('Postfix', () => {
  test('submission with STARTTLS and smtpd_tls_auth_only: healthy, AUTH only inside TLS', async () => {
    const probe = await probeEndpoint(opts('submission'));
    expect(blamed(probe.checks)).toEqual([]);
    expect(probe.smtp.banner).toMatch(/ESMTP Postfix/);
    expect(probe.smtp.extensionsBeforeTls).toContain('STARTTLS');
    expect(probe.smtp.extensionsBeforeTls?.some((e) => e.startsWith('AUTH'))).toBe(false);
    expect(check(probe, 'auth-before-tls')?.message).toMatch(/refused \(5\d\d/);
    expect(probe.smtp.extensionsAfterTls?.some((e) => e.startsWith('AUTH'))).toBe(true);
    // Debian's OpenSSL 3.0 has no ML-KEM: X25519 is the best it offers, and the probe says so honestly.
    expect(probe.tls).toMatchObject({ protocol: 'TLSv1.3', group: 'X25519', pq: false, chainVerified: true, hostnameVerified: true });
  });

  test('submission deep scan: hardened Postfix passes everything', async () => {
    const deep = await deepScan(opts('submission'));
    expect(blamed(deep.checks)).toEqual([]);
    expect(deep.protocols.TLSv1.outcome).toBe('refused');
    expect(deep.protocols['TLSv1.1'].outcome).toBe('refused');
    expect(deep.injection?.vulnerable).toBe(false);
    expect(deep.renegotiation?.clientInitiated).toBe('refused');
  });

  test('465 wrapper mode: healthy implicit TLS', async () => {
    const probe = await probeEndpoint(opts('submissions'));
    expect(blamed(probe.checks)).toEqual([]);
    expect(probe.smtp.extensionsAfterTls?.some((e) => e.startsWith('AUTH'))).toBe(true);
  });

  test('probing the 465 port in STARTTLS mode fails fast with a hint', async () => {
    const probe = await probeEndpoint(opts('submissions', { mode: 'starttls', timeoutMs: 1500 }));
    expect(blamed(probe.checks)).toEqual(['fail:timeout']);
    expect(probe.checks[0]?.message).toMatch(/--mode implicit/);
  });

  test("Postfix's default cipher list accepts CBC-SHA1 and CCM_8 suites", async () => {
    const deep = await deepScan(opts('defaults'));
    expect(blamed(deep.checks)).toEqual(['fail:weak-cipher-accepted']);
    expect(deep.cipherClasses['cbc-sha1']?.outcome).toBe('accepted');
    expect(deep.cipherClasses['static-rsa']?.outcome).toBe('refused'); // ECDSA certificate: no RSA key exchange possible
  });

  test('smtpd_tls_auth_only=no: AUTH before TLS is named', async () => {
    const probe = await probeEndpoint(opts('authBeforeTls'));
    expect(blamed(probe.checks)).toEqual(['fail:auth-before-tls']);
    expect(probe.smtp.extensionsBeforeTls?.some((e) => e.startsWith('AUTH'))).toBe(true);
  });

  test('submission is no open relay: MAIL without AUTH taken, the outside recipient refused', async () => {
    const probe = await probeEndpoint(opts('submission'));
    expect(check(probe, 'open-relay')).toMatchObject({ result: 'pass', message: expect.stringMatching(/recipient refused without AUTH \(554 5\.7\.1 <postmaster@open-relay-check\.invalid>: Recipient address rejected/) });
  });

  test('smtpd_relay_restrictions = permit_mynetworks with the prober in mynetworks: OpenRelay, and nothing queued', async () => {
    const probe = await probeEndpoint(opts('openRelay'));
    expect(blamed(probe.checks)).toEqual(['fail:open-relay']);
    expect(check(probe, 'open-relay')?.message).toMatch(/accepted without AUTH \(250 2\.1\.5 Ok\): open relay/);
    // Postfix's own command count for the session: RCPT accepted, then RSET and QUIT, no DATA; nothing reached the queue.
    const session = /disconnect from \S+ ehlo=2 starttls=1 auth=0\/1 mail=1 rcpt=1 rset=1 quit=1 commands=/;
    for (let i = 0; i < 50 && !session.test(postfix.log()); i++) await new Promise((r) => setTimeout(r, 100)); // the log line follows QUIT
    expect(postfix.log()).toMatch(session);
    expect(postfix.log()).not.toMatch(/ data=|postfix\/cleanup|message-id=/);
  });

  test('the CLI: exit 0, report and JSON', async () => {
    const args = [`127.0.0.1:${postfix.ports.submission}`, '--mode', 'starttls', '--servername', TEST_HOST, '--ca', pki.caFile];
    const text = await cli(args);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/Verdict: HEALTHY/);
    const json = await cli([...args, '--json']);
    expect(json.code).toBe(0);
    expect((JSON.parse(json.stdout) as { probe: ProbeResult }).probe.smtp.banner).toMatch(/Postfix/);
  });
});
