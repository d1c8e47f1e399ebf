// DNS health of mail authentication through the operator, on real parts: the real
// kube-apiserver, the operator in process, the development-only local runtime running the
// relay as a real process (which serves its DKIM public key on GET /dkim), and a real
// authoritative DNS server (Knot DNS) serving the sender domain's zone on loopback.
//
// - SPF, DMARC and the relay's own DKIM key published: MailAuthentication=True and
//   status.senderDomains filled, with dkim Valid (compared with the key the relay serves;
//   the operator never reads the DKIM Secret).
// - The same answers a day later (the monitor's clock advanced): looked up again, no status write.
// - The zone changed (knotc zone-reload) to another key and no DMARC: False, DkimKeyMismatch,
//   a Warning Event; Ready is untouched (advice only).
import { afterAll, beforeAll, expect, jest, test } from '@jest/globals';
import { generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { SmtpRelay } from '../../../src/api/types.js';
import { createLogger } from '../../../src/common/logger.js';
import { createRelayEventRecorder } from '../../../src/controller/events.js';
import { parseOperatorFlags, type OperatorOptions } from '../../../src/controller/flags.js';
import { createTxtLookup, dkimRecordFor, type TxtLookup } from '../../../src/controller/mail-auth/index.js';
import { startOperator, type OperatorHandle } from '../../../src/controller/operator.js';
import { loadKubeConfig } from '../../../src/kube/client.js';
import { getFreePort } from '../../harness/controlplane.js';
import { createTestNamespace, kubeconfigPath, waitFor, type TestNamespace } from '../../harness/kube.js';
import { startLocalRuntime, type LocalRuntime } from '../../harness/local-runtime.js';
import { cliPath, nodeBin } from '../../helpers/cli.js';
import { startKnot, txtStrings, zoneFile, type KnotServer } from '../../helpers/dns/knot.js';
import { createTestCa } from '../../helpers/smtp/certs.js';
import { applyRelay, condition, createUsersSecret, eventsFor, getRelay, kubectlOk, relayManifest } from './helpers.js';

jest.setTimeout(180_000);

const DOMAIN = 'good.test';
const SPF = 'v=spf1 include:_spf.upstream.test -all';
const signing = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingPem = signing.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
const signingSpki = signing.publicKey.export({ type: 'spki', format: 'der' });
const strangerSpki = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'der' });

const goodZone = (serial: number) =>
  zoneFile(DOMAIN, [`@ TXT "${SPF}"`, '_dmarc TXT "v=DMARC1; p=reject; pct=100"', `s1._domainkey TXT ${txtStrings(dkimRecordFor(signingSpki))}`], serial);
const brokenZone = (serial: number) => zoneFile(DOMAIN, [`@ TXT "${SPF}"`, `s1._domainkey TXT ${txtStrings(dkimRecordFor(strangerSpki))}`], serial);

let ns: TestNamespace;
let operator: OperatorHandle;
let runtime: LocalRuntime;
let knot: KnotServer;
let workDir: string;
/** The monitor's clock runs ahead by this much: "a day later" without waiting a day. */
let clockOffsetMs = 0;
/** Past the daily re-check with its jitter (24 h +- 10%, src/controller/mail-auth/schedule.ts). */
const A_DAY_LATER_MS = 27 * 3_600_000;
let lookups = 0;
const runtimeLog: string[] = [];

beforeAll(async () => {
  if (!fs.existsSync(cliPath)) throw new Error(`${cliPath} is missing: npm run build first`);
  ns = await createTestNamespace('op-mail-auth');
  workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'op-mail-auth-'));
  knot = await startKnot(path.join(workDir, 'knot'), { zones: { [DOMAIN]: goodZone(1) } });
  const ca = createTestCa(path.join(workDir, 'ca'));
  const leaf = ca.issue('relay', ['mailauth.example.test']);
  fs.writeFileSync(path.join(workDir, 'tls.crt'), leaf.cert);
  fs.writeFileSync(path.join(workDir, 'tls.key'), leaf.key);
  fs.writeFileSync(path.join(workDir, 'dkim.pem'), signingPem);
  await createUsersSecret(ns.name);
  await kubectlOk(['-n', ns.name, 'create', 'secret', 'tls', 'relay-cert', `--cert=${path.join(workDir, 'tls.crt')}`, `--key=${path.join(workDir, 'tls.key')}`]);
  // The key under a name of its own: keySecretRef.privateKeyKey projects it onto private.key.
  await kubectlOk(['-n', ns.name, 'create', 'secret', 'generic', 'dkim-good', `--from-file=dkim.pem=${path.join(workDir, 'dkim.pem')}`]);

  const opts = parseOperatorFlags(
    ['--namespace', ns.name, '--leader-elect=false', '--tls-probe=off', '--metrics-port=0', '--health-port=0', '--bind-address=127.0.0.1', '--probe-local-endpoints', '--resync=2s', '--dns-servers', knot.server],
    {},
  ) as OperatorOptions;
  expect(opts).toMatchObject({ mailAuthCheck: true, dnsServers: [knot.server] });
  const dns: TxtLookup = createTxtLookup({ servers: opts.dnsServers, timeoutMs: 1000, tries: 1 });
  const kc = loadKubeConfig({ kubeconfig: kubeconfigPath() });
  const logger = createLogger('operator-test', process.env.LOG_LEVEL ?? 'error');
  operator = await startOperator(opts, {
    kubeConfig: kc,
    logger,
    recordEvent: createRelayEventRecorder(kc, logger),
    // The real resolver against Knot, counted; the monitor's clock can be moved ahead.
    mailAuth: { lookup: (name) => ((lookups += 1), dns(name)), now: () => Date.now() + clockOffsetMs },
  });
  runtime = await startLocalRuntime({ kubeconfig: kubeconfigPath(), namespace: ns.name, cliPath, nodeBin, workDir: path.join(workDir, 'rt'), pollMs: 250, log: (l) => runtimeLog.push(l) });
});

afterAll(async () => {
  await runtime?.stop();
  await operator?.stop();
  await knot?.stop();
  await ns?.cleanup();
  if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
});

async function waitForRelay(description: string, ok: (r: SmtpRelay) => boolean, timeoutMs = 60_000): Promise<SmtpRelay> {
  return waitFor(
    async () => {
      const r = await getRelay(ns.name, 'mailauth');
      return r && ok(r) ? r : undefined;
    },
    { description, timeoutMs, intervalMs: 200 },
  ).catch(async (err: Error) => {
    const r = await getRelay(ns.name, 'mailauth');
    throw new Error(`${err.message}\nstatus: ${JSON.stringify(r?.status, null, 2)}\nlocal runtime log:\n${runtimeLog.slice(-30).join('\n')}`);
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('a relay whose sender domain publishes SPF, DMARC and its DKIM key: MailAuthentication=True, senderDomains filled', async () => {
  const upstreamPort = await getFreePort(); // nothing listens: no mail is sent in this test
  await applyRelay(
    relayManifest(ns.name, 'mailauth', {
      hostname: 'mailauth.example.test',
      tls: { secretName: 'relay-cert' },
      upstream: { host: '127.0.0.1', port: upstreamPort, tls: 'starttls' },
      policy: { allowedSenderDomains: [DOMAIN] },
      dkim: { keys: [{ domain: DOMAIN, selector: 's1', keySecretRef: { name: 'dkim-good', privateKeyKey: 'dkim.pem' } }] },
      healthCheck: { interval: '10s' }, // GET /queue and GET /dkim every 10 s
    }),
  );
  const r = await waitForRelay('MailAuthentication=True with dkim Valid', (x) => condition(x, 'MailAuthentication')?.status === 'True' && x.status?.senderDomains?.[0]?.dkim.state === 'Valid');
  expect(condition(r, 'MailAuthentication')).toMatchObject({ reason: 'MailAuthenticationValid', message: `SPF, DMARC and DKIM (where the relay signs) are published for ${DOMAIN}.` });
  expect(r.status!.senderDomains).toEqual([
    { domain: DOMAIN, dkim: { state: 'Valid', selector: 's1' }, dmarc: { state: 'Found', policy: 'reject', percentage: 100 }, spf: { state: 'Found', record: SPF } },
  ]);
});

test('the same DNS answers a day later: looked up again, and no status write', async () => {
  // Settle: Ready (the local runtime runs the pod) and no write for a few reconciles.
  await waitForRelay('Ready=True', (x) => condition(x, 'Ready')?.status === 'True');
  let before = (await getRelay(ns.name, 'mailauth'))!;
  for (let quiet = 0; quiet < 3; ) {
    await sleep(2_000);
    const now = (await getRelay(ns.name, 'mailauth'))!;
    quiet = now.metadata.resourceVersion === before.metadata.resourceVersion ? quiet + 1 : 0;
    before = now;
  }
  const lookupsBefore = lookups;
  clockOffsetMs += A_DAY_LATER_MS;
  // The resync (2 s) reconciles the relay; the monitor finds the check due and looks up the three records again.
  await waitFor(() => (lookups >= lookupsBefore + 3 ? true : undefined), { description: 'the daily re-check', timeoutMs: 20_000, intervalMs: 100 });
  await sleep(5_000); // the reconcile that reads the new results, and a couple more
  const after = (await getRelay(ns.name, 'mailauth'))!;
  expect(after.metadata.resourceVersion).toBe(before.metadata.resourceVersion);
  expect(condition(after, 'MailAuthentication')?.status).toBe('True');
});

test('the zone changes to another key and loses DMARC: False with DkimKeyMismatch, a Warning Event, Ready untouched', async () => {
  await knot.setZone(DOMAIN, brokenZone(2));
  clockOffsetMs += A_DAY_LATER_MS;
  const r = await waitForRelay('MailAuthentication=False', (x) => condition(x, 'MailAuthentication')?.status === 'False');
  const c = condition(r, 'MailAuthentication')!;
  expect(c.reason).toBe('DkimKeyMismatch');
  expect(c.message).toContain(`${DOMAIN}: the DKIM key at s1._domainkey.${DOMAIN} is not the signing key; publish TXT "${dkimRecordFor(signingSpki)}"`);
  expect(c.message).toContain('no DMARC record');
  expect(r.status!.senderDomains).toEqual([{ domain: DOMAIN, dkim: { state: 'KeyMismatch', selector: 's1' }, dmarc: { state: 'Missing' }, spf: { state: 'Found', record: SPF } }]);
  expect(condition(r, 'Ready')?.status).toBe('True');
  const events = await waitFor(
    async () => {
      const list = await eventsFor(ns.name, 'mailauth');
      return list.some((e) => e.reason === 'DkimKeyMismatch') ? list : undefined;
    },
    { description: 'the DkimKeyMismatch Event', timeoutMs: 15_000, intervalMs: 200 },
  );
  expect(events.find((e) => e.reason === 'DkimKeyMismatch')).toMatchObject({ type: 'Warning', message: expect.stringContaining('is not the signing key') });
  expect(events.find((e) => e.reason === 'MailAuthenticationValid')).toMatchObject({ type: 'Normal' });
});
