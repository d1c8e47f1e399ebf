// The in-cluster certificate chosen by SNI (config.tls.internal, spec.tls.internalCertificate):
// openssl s_client asks for the Service name and gets the internal certificate, asks for the
// public name, no name or an unknown one and gets the public certificate, on 587 (STARTTLS)
// and 465 (implicit TLS) alike; a rotated internal certificate is served without a restart.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFile } from 'node:child_process';
import path from 'node:path';
import type { RelayRuntime } from '../../../src/relay/relay.js';
import { fingerprintOf, writeAtomicDir, type Leaf } from '../../helpers/smtp/certs.js';
import { createRelayFixture, RELAY_HOST, startInProcessRelay, type RelayFixture } from '../../helpers/smtp/relay-fixture.js';

const SVC = 'outbound.mail.svc';
const SVC_NAMES = [SVC, `${SVC}.cluster.local`, 'outbound.mail', 'outbound'];

let fx: RelayFixture;
let relay: RelayRuntime;
let internal: Leaf;
let internalDir: string;

beforeAll(async () => {
  fx = await createRelayFixture();
  internal = fx.ca.issue('internal', SVC_NAMES);
  internalDir = path.join(fx.root, 'internal-tls');
  writeAtomicDir(internalDir, { 'tls.crt': internal.cert, 'tls.key': internal.key });
  fx.config.tls.internal = { dir: internalDir, serverNames: SVC_NAMES };
  relay = await startInProcessRelay(fx, 200);
});
afterAll(async () => {
  await relay?.stop();
  await fx?.cleanup();
});

interface Served {
  fingerprint?: string;
  verified: boolean;
  out: string;
}

/** One handshake with openssl s_client; what it was served and whether it verified for `verifyName`. */
function sClient(listener: 'submission' | 'submissions', sni: string | null, verifyName: string): Promise<Served> {
  const args = ['s_client', '-connect', `127.0.0.1:${relay.port(listener)}`, '-CAfile', path.join(fx.ca.dir, 'ca.crt'), '-verify_hostname', verifyName];
  if (listener === 'submission') args.push('-starttls', 'smtp');
  args.push(...(sni === null ? ['-noservername'] : ['-servername', sni]));
  return new Promise((resolve) => {
    // Asynchronous on purpose: the relay runs in this process and must keep answering.
    const child = execFile('openssl', args, { encoding: 'utf8', timeout: 10_000 }, (_err, stdout, stderr) => {
      const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(stdout)?.[0];
      resolve({ fingerprint: pem ? fingerprintOf(pem) : undefined, verified: /Verify return code: 0 \(ok\)/.test(stdout), out: `${stdout}\n${stderr}` });
    });
    child.stdin?.end('Q\n');
  });
}

describe.each(['submission', 'submissions'] as const)('%s', (listener) => {
  test.each(SVC_NAMES)('SNI %s gets the internal certificate, valid for that name', async (name) => {
    const r = await sClient(listener, name, name);
    expect(r.fingerprint).toBe(internal.fingerprint);
    expect(r.verified).toBe(true);
  });
  test('SNI of the public hostname gets the public certificate', async () => {
    const r = await sClient(listener, RELAY_HOST, RELAY_HOST);
    expect(r.fingerprint).toBe(fx.leaf.fingerprint);
    expect(r.verified).toBe(true);
  });
  test('no SNI gets the public certificate', async () => {
    const r = await sClient(listener, null, RELAY_HOST);
    expect(r.fingerprint).toBe(fx.leaf.fingerprint);
    expect(r.verified).toBe(true);
  });
  test('an SNI name in neither certificate gets the public certificate (which then does not verify for it)', async () => {
    const r = await sClient(listener, 'other.mail.svc', 'other.mail.svc');
    expect(r.fingerprint).toBe(fx.leaf.fingerprint);
    expect(r.verified).toBe(false);
  });
});

describe('hot reload of the internal certificate', () => {
  async function servedFor(name: string, want: string): Promise<string | undefined> {
    let got: string | undefined;
    for (const until = Date.now() + 5000; Date.now() < until; ) {
      got = (await sClient('submissions', name, name)).fingerprint;
      if (got === want) return got;
      await new Promise((r) => setTimeout(r, 100));
    }
    return got;
  }

  test('a ..data swap of the internal Secret is served for the Service names; the public name keeps its certificate', async () => {
    const next = fx.ca.issue('internal', SVC_NAMES);
    writeAtomicDir(internalDir, { 'tls.crt': next.cert, 'tls.key': next.key });
    expect(await servedFor(SVC, next.fingerprint)).toBe(next.fingerprint);
    expect((await sClient('submission', `${SVC}.cluster.local`, `${SVC}.cluster.local`)).fingerprint).toBe(next.fingerprint);
    expect((await sClient('submission', RELAY_HOST, RELAY_HOST)).fingerprint).toBe(fx.leaf.fingerprint);
    internal = next;
  });

  test('a rotated public certificate keeps the internal one for the Service names', async () => {
    const next = fx.rotate();
    expect(await servedFor(RELAY_HOST, next.fingerprint)).toBe(next.fingerprint);
    expect((await sClient('submission', null, RELAY_HOST)).fingerprint).toBe(next.fingerprint);
    expect((await sClient('submission', SVC, SVC)).fingerprint).toBe(internal.fingerprint);
  });

  test('a broken internal key pair is refused and the previous one keeps serving', async () => {
    const other = fx.ca.issue('internal', SVC_NAMES);
    writeAtomicDir(internalDir, { 'tls.crt': other.cert, 'tls.key': internal.key }); // key of another certificate
    await new Promise((r) => setTimeout(r, 1500));
    expect((await sClient('submissions', SVC, SVC)).fingerprint).toBe(internal.fingerprint);
    expect(fingerprintOf(other.cert)).not.toBe(internal.fingerprint);
  });
});
