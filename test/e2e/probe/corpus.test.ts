// The broken-server corpus: one real SMTP server per fault, on loopback with
// openssl-made certificates. The prober must name each fault with its reason code,
// and a well-configured server must pass every check. No Kubernetes needed.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import { DEEP_SCAN_CHECKS, deepScan } from '../../../src/probe/deep-scan.js';
import { probeEndpoint } from '../../../src/probe/fast-probe.js';
import type { CheckResult, DeepScanResult, ProbeOptions, ProbeResult } from '../../../src/probe/types.js';
import { createTestPki, TEST_HOST, type TestPki } from '../../helpers/broken-smtp/certs.js';
import { startBrokenSmtp, type BrokenSmtpOptions, type RunningServer } from '../../helpers/broken-smtp/server.js';
import { cli } from './cli-run.js';

let pki: TestPki;
let caPem: string[];
const running: RunningServer[] = [];

beforeAll(() => {
  pki = createTestPki();
  caPem = [fs.readFileSync(pki.caFile, 'utf8')];
});
afterAll(async () => {
  await Promise.all(running.map((s) => s.close()));
  pki.cleanup();
});

async function serve(opts: Partial<BrokenSmtpOptions> & { leaf?: keyof Pick<TestPki, 'good' | 'rotated' | 'expired' | 'notYetValid' | 'expiringSoon' | 'wrongHost' | 'rsa'> }): Promise<number> {
  return (await serveServer(opts)).port;
}

async function serveServer(opts: Parameters<typeof serve>[0]): Promise<RunningServer> {
  const leaf = pki[opts.leaf ?? 'good'];
  const server = await startBrokenSmtp({ mode: 'starttls', key: leaf.key, cert: pki.chain(leaf), ...opts });
  running.push(server);
  return server;
}

/** The commands a probe sent, verbs only, in order. */
const verbs = (server: RunningServer) => server.commands.map((c) => /^[A-Za-z]+/.exec(c)?.[0].toUpperCase() ?? c);

function probeOpts(port: number, over: Partial<ProbeOptions> = {}): ProbeOptions {
  return { host: '127.0.0.1', port, mode: 'starttls', servername: TEST_HOST, caPem, timeoutMs: 5000, ...over };
}

/** The warn/fail reasons, sorted: the fault must be named, and nothing else blamed. */
function blamed(r: { checks: CheckResult[] }): string[] {
  return r.checks.filter((c) => c.result !== 'pass').map((c) => `${c.result}:${c.reason}`).sort();
}

const fingerprint = (pem: string) => new X509Certificate(pem).fingerprint256.replace(/:/g, '').toLowerCase();

describe('a well-configured server passes everything', () => {
  test('STARTTLS: fast probe and deep scan, all checks pass, PQ hybrid negotiated', async () => {
    const server = await serveServer({});
    const port = server.port;
    const opts = probeOpts(port, { expectedFingerprint: fingerprint(pki.good.cert) });
    const probe = await probeEndpoint(opts);
    expect(blamed(probe)).toEqual([]);
    expect(probe.verdict).toBe('healthy');
    expect(probe.handshakes).toBe(1);
    expect(probe.tls).toMatchObject({ protocol: 'TLSv1.3', group: 'X25519MLKEM768', pq: true, chainVerified: true, hostnameVerified: true });
    expect(probe.checks.map((c) => c.check)).toEqual(expect.arrayContaining(['tls-mode', 'auth-before-tls', 'certificate-expiry', 'certificate-trust', 'certificate-hostname', 'certificate-fingerprint', 'forward-secrecy', 'auth-after-tls', 'starttls-after-tls', 'open-relay']));
    expect(probe.checks.find((c) => c.check === 'open-relay')?.message).toMatch(/refused \(530 5\.7\.0/);
    expect(verbs(server)).toEqual(['EHLO', 'AUTH', 'STARTTLS', 'EHLO', 'MAIL', 'RSET', 'QUIT']);
    const deep = await deepScan(opts);
    expect(blamed(deep)).toEqual([]);
    // The names a restarted operator uses to tell deep findings from fast ones in status (deepScanFromStatus).
    expect(deep.checks.map((c) => c.check).filter((c) => !DEEP_SCAN_CHECKS.has(c))).toEqual([]);
    expect(probe.checks.map((c) => c.check).filter((c) => DEEP_SCAN_CHECKS.has(c))).toEqual([]);
    expect(deep.protocols.TLSv1.outcome).toBe('refused');
    expect(deep.protocols['TLSv1.1'].outcome).toBe('refused');
    expect(deep.protocols['TLSv1.2'].outcome).toBe('accepted');
    expect(deep.protocols['TLSv1.3'].outcome).toBe('accepted');
    expect(Object.values(deep.cipherClasses).map((a) => a.outcome)).toEqual(['refused', 'refused', 'refused']);
    expect(deep.groups).toMatchObject({ X25519MLKEM768: { outcome: 'accepted' }, X25519: { outcome: 'accepted' }, 'P-256': { outcome: 'accepted' } });
    expect(deep.renegotiation?.clientInitiated).toBe('refused');
    expect(deep.injection?.vulnerable).toBe(false);
    expect(deep.handshakes).toBeGreaterThanOrEqual(11);
  });

  test('implicit TLS (465 style)', async () => {
    const port = await serve({ mode: 'implicit' });
    const probe = await probeEndpoint(probeOpts(port, { mode: 'implicit' }));
    expect(blamed(probe)).toEqual([]);
    expect(probe.smtp.extensionsAfterTls).toEqual(expect.arrayContaining(['AUTH PLAIN LOGIN']));
  });
});

describe('certificate faults', () => {
  test('expired certificate', async () => {
    const probe = await probeEndpoint(probeOpts(await serve({ leaf: 'expired' })));
    expect(blamed(probe)).toEqual(['fail:certificate-expired']);
  });
  test('certificate not yet valid', async () => {
    const probe = await probeEndpoint(probeOpts(await serve({ leaf: 'notYetValid' })));
    expect(blamed(probe)).toEqual(['fail:certificate-not-yet-valid']);
  });
  test('certificate expiring within the warning period is a warning, not a failure', async () => {
    const probe = await probeEndpoint(probeOpts(await serve({ leaf: 'expiringSoon' })));
    expect(blamed(probe)).toEqual(['warn:certificate-expiring-soon']);
    expect(probe.verdict).toBe('warning');
  });
  test('wrong hostname', async () => {
    const probe = await probeEndpoint(probeOpts(await serve({ leaf: 'wrongHost' })));
    expect(blamed(probe)).toEqual(['fail:certificate-host-mismatch']);
    expect(probe.tls?.hostnameVerified).toBe(false);
  });
  test('self-signed certificate', async () => {
    const probe = await probeEndpoint(probeOpts(await serve({ key: pki.selfSigned.key, cert: pki.selfSigned.cert })));
    expect(blamed(probe)).toEqual(['fail:certificate-not-trusted']);
    expect(probe.checks.find((c) => c.check === 'certificate-trust')?.message).toMatch(/self-signed/);
  });
  test('missing intermediate (leaf signed by an intermediate the server does not send)', async () => {
    const probe = await probeEndpoint(probeOpts(await serve({ cert: pki.good.cert })));
    expect(blamed(probe)).toEqual(['fail:certificate-not-trusted']);
    expect(probe.checks.find((c) => c.check === 'certificate-trust')?.message).toMatch(/missing intermediate/);
  });
  test('the same chain is untrusted without our CA: the system roots alone do not vouch for it', async () => {
    const probe = await probeEndpoint(probeOpts(await serve({}), { caPem: [] }));
    expect(blamed(probe)).toEqual(['fail:certificate-not-trusted']);
  });
  test('stale certificate after rotation: serves A while B is expected', async () => {
    const probe = await probeEndpoint(probeOpts(await serve({ leaf: 'good' }), { expectedFingerprint: fingerprint(pki.rotated.cert) }));
    expect(blamed(probe)).toEqual(['fail:stale-certificate-served']);
  });
});

describe('SMTP and STARTTLS faults', () => {
  test('no STARTTLS', async () => {
    const probe = await probeEndpoint(probeOpts(await serve({ noStarttls: true })));
    expect(blamed(probe)).toEqual(['fail:starttls-not-supported']);
    expect(probe.handshakes).toBe(0);
  });
  test('AUTH offered and accepted before TLS', async () => {
    const probe = await probeEndpoint(probeOpts(await serve({ authBeforeTls: true })));
    expect(blamed(probe)).toEqual(['fail:auth-before-tls']);
  });
  test('STARTTLS command injection: a command pipelined behind STARTTLS is answered inside TLS', async () => {
    const port = await serve({ injectionVulnerable: true });
    expect(blamed(await probeEndpoint(probeOpts(port)))).toEqual([]); // the fast path cannot see it
    const deep = await deepScan(probeOpts(port));
    expect(blamed(deep)).toEqual(['fail:starttls-injection']);
  });
  test('open relay: RCPT accepted without AUTH is named, and the probe never sends DATA', async () => {
    for (const mode of ['starttls', 'implicit'] as const) {
      const server = await serveServer({ mode, openRelay: true });
      const probe = await probeEndpoint(probeOpts(server.port, { mode }));
      expect(blamed(probe)).toEqual(['fail:open-relay']);
      expect(probe.verdict).toBe('failing');
      expect(server.commands).toEqual(expect.arrayContaining(['MAIL FROM:<probe@open-relay-check.invalid>', 'RCPT TO:<postmaster@open-relay-check.invalid>']));
      expect(verbs(server).slice(-4)).toEqual(['MAIL', 'RCPT', 'RSET', 'QUIT']);
      expect(verbs(server)).not.toContain('DATA');
    }
  });
  test('a client address refused at the greeting (554): a warning that nothing could be checked, and no relaying', async () => {
    const probe = await probeEndpoint(probeOpts(await serve({ refuseClient: true })));
    expect(blamed(probe)).toEqual(['warn:client-refused']);
    expect(probe.checks.find((c) => c.check === 'open-relay')).toMatchObject({ result: 'pass', message: expect.stringMatching(/554 5\.7\.1 .*not exercised/) });
    expect(probe.tls).toBeUndefined();
  });
  test('plaintext on the implicit-TLS port', async () => {
    const probe = await probeEndpoint(probeOpts(await serve({ mode: 'implicit', plaintext: true }), { mode: 'implicit' }));
    expect(blamed(probe)).toEqual(['fail:plaintext-on-implicit-port']);
  });
  test('silent server: a clear timeout, quickly', async () => {
    const started = Date.now();
    const probe = await probeEndpoint(probeOpts(await serve({ silent: true }), { timeoutMs: 1500 }));
    expect(blamed(probe)).toEqual(['fail:timeout']);
    expect(probe.checks[0]?.check).toBe('banner');
    expect(Date.now() - started).toBeLessThan(1500 + 2000);
  });
  test('silent implicit port: the handshake times out', async () => {
    const probe = await probeEndpoint(probeOpts(await serve({ silent: true, mode: 'implicit' }), { mode: 'implicit', timeoutMs: 1500 }));
    expect(blamed(probe)).toEqual(['fail:timeout']);
    expect(probe.checks[0]?.check).toBe('handshake');
  });
  test('garbage banner', async () => {
    const probe = await probeEndpoint(probeOpts(await serve({ garbageBanner: true })));
    expect(blamed(probe)).toEqual(['fail:protocol-error']);
  });
  test('nothing listening', async () => {
    const port = await closedPort();
    const probe = await probeEndpoint(probeOpts(port));
    expect(blamed(probe)).toEqual(['fail:connection-refused']);
  });
});

describe('TLS configuration faults (deep scan)', () => {
  test('TLS 1.0 and 1.1 allowed, and really negotiated', async () => {
    const deep = await deepScan(probeOpts(await serve({ tls: { minVersion: 'TLSv1', ciphers: 'DEFAULT@SECLEVEL=0' } })));
    expect(deep.protocols.TLSv1).toMatchObject({ outcome: 'accepted', protocol: 'TLSv1' });
    expect(deep.protocols['TLSv1.1']).toMatchObject({ outcome: 'accepted', protocol: 'TLSv1.1' });
    expect(blamed(deep)).toContain('fail:legacy-protocol-accepted');
  });
  test('static RSA key exchange allowed', async () => {
    const deep = await deepScan(probeOpts(await serve({ leaf: 'rsa', tls: { ciphers: 'ECDHE-RSA-AES128-GCM-SHA256:AES128-SHA:AES256-GCM-SHA384' } })));
    expect(blamed(deep)).toEqual(['fail:weak-cipher-accepted']);
    expect(deep.cipherClasses['static-rsa']).toMatchObject({ outcome: 'accepted', cipher: expect.stringMatching(/^TLS_RSA_WITH_/) });
  });
  test('a server that only speaks static RSA has no forward secrecy on the fast path', async () => {
    const probe = await probeEndpoint(probeOpts(await serve({ leaf: 'rsa', tls: { maxVersion: 'TLSv1.2', ciphers: 'AES256-GCM-SHA384' } })));
    expect(blamed(probe)).toEqual(['fail:no-forward-secrecy']);
  });
  test('client-initiated renegotiation allowed', async () => {
    const deep = await deepScan(probeOpts(await serve({ allowRenegotiation: true })));
    expect(blamed(deep)).toEqual(['fail:client-renegotiation-allowed']);
  });
});

describe('the CLI', () => {
  test('exit 0 and JSON for a healthy server', async () => {
    const port = await serve({});
    const r = await cli([`127.0.0.1:${port}`, '--servername', TEST_HOST, '--ca', pki.caFile, '--json']);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { verdict: string; exitCode: number; probe: ProbeResult; deepScan?: DeepScanResult };
    expect(out).toMatchObject({ verdict: 'healthy', exitCode: 0 });
    expect(out.probe.tls?.group).toBe('X25519MLKEM768');
  });
  test('exit 1 for a warning, with the report naming it', async () => {
    const port = await serve({ leaf: 'expiringSoon' });
    const r = await cli([`127.0.0.1:${port}`, '--servername', TEST_HOST, '--ca', pki.caFile]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/WARN +certificate-expiry +\[certificate-expiring-soon\]/);
  });
  test('exit 2 for a failure; --deep adds the deep scan', async () => {
    const port = await serve({ tls: { minVersion: 'TLSv1', ciphers: 'DEFAULT@SECLEVEL=0' } });
    const r = await cli([`127.0.0.1:${port}`, '--servername', TEST_HOST, '--ca', pki.caFile, '--deep']);
    expect(r.code).toBe(2);
    expect(r.stdout).toMatch(/FAIL +legacy-protocols +\[legacy-protocol-accepted\]/);
  });
  test('exit 2 for an open relay, with the report naming it', async () => {
    const port = await serve({ openRelay: true });
    const r = await cli([`127.0.0.1:${port}`, '--servername', TEST_HOST, '--ca', pki.caFile]);
    expect(r.code).toBe(2);
    expect(r.stdout).toMatch(/FAIL +open-relay +\[open-relay\] RCPT TO:<postmaster@open-relay-check\.invalid> .*250/);
    expect(r.stdout).toMatch(/- open-relay: .*open relay/);
  });
  test('exit 64 for bad usage and for an unreadable --ca', async () => {
    expect((await cli(['no-port-here'])).code).toBe(64);
    const r = await cli(['127.0.0.1:25', '--ca', '/nonexistent/ca.pem']);
    expect(r.code).toBe(64);
    expect(r.stderr).toMatch(/cannot read --ca file/);
  });
});

async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}
