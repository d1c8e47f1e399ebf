// No secret ever leaves its Secret: a full scenario (operator on the real control plane, a
// relay process configured from what the operator rendered, mail sent with the real
// credentials, failed logins with wrong passwords) with every log at debug level, then
// ALL output of both processes, every Event of the namespace and the relay's status are
// searched for each password, the private key body and base64 forms of them.
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RELAY_CONFIG_KEY, type RelayConfig } from '../../src/common/relay-config.js';
import { createTestNamespace, kubeconfigPath, waitFor, type TestNamespace } from '../harness/kube.js';
import { startCaptureUpstream, type CaptureUpstream } from '../helpers/smtp/capture-upstream.js';
import { createTestCa, writeAtomicDir, type TestCa } from '../helpers/smtp/certs.js';
import { message, RawSmtp, sendWithNodemailer } from '../helpers/smtp/clients.js';
import { startRelayProcess, type RelayFixture, type RelayProcess } from '../helpers/smtp/relay-fixture.js';
import { applyIn, getJson, getRelayIn, isObserved, kubectlIn } from '../chaos/kube-fixtures.js';
import { startOperatorProcess, type OperatorProcess } from '../chaos/operator-process.js';
import { b64 } from './smtp-session.js';

jest.setTimeout(120_000);

// Known test values: each must be findable if leaked, so none is a substring of common text.
const USER_PASSWORD = 'Kx9-user-pass-7Qm2vWz';
const USER_PASSWORD_2 = 'Rt4-second-user-pass-Lp8';
const UPSTREAM_USER = 'relay-upstream-acct';
const UPSTREAM_PASSWORD = 'Up5-upstream-pass-Zc3nB';
const WRONG_PASSWORDS = ['Wr0ng-guess-one-Hh7', 'Wr0ng-guess-two-Jj8', 'Wr0ng-guess-three-Kk9'];

let ns: TestNamespace;
let ca: TestCa;
let tlsKey: string;
let upstream: CaptureUpstream;
let operator: OperatorProcess;
let relay: RelayProcess | undefined;
let root: string;
let operatorLog: string;

/** Secret data as the kubelet would mount it: one file per key. */
async function mountSecret(namespace: string, name: string, dir: string): Promise<void> {
  const s = await getJson<{ data: Record<string, string> }>(kubeconfigPath(), ['-n', namespace, 'get', 'secret', name]);
  if (!s) throw new Error(`Secret ${name} missing`);
  writeAtomicDir(dir, Object.fromEntries(Object.entries(s.data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')])));
}

beforeAll(async () => {
  const kc = kubeconfigPath();
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'secrets-scan-'));
  ca = createTestCa(path.join(root, 'pki'));
  const leaf = ca.issue('relay', ['relay.test.example', '127.0.0.1']);
  tlsKey = leaf.key;
  const upLeaf = ca.issue('upstream', ['localhost', '127.0.0.1']);
  upstream = await startCaptureUpstream({ key: upLeaf.key, cert: upLeaf.cert, user: UPSTREAM_USER, pass: UPSTREAM_PASSWORD });

  ns = await createTestNamespace('secrets-scan');
  fs.writeFileSync(path.join(root, 'tls.crt'), leaf.cert);
  fs.writeFileSync(path.join(root, 'tls.key'), leaf.key);
  fs.writeFileSync(path.join(root, 'ca.crt'), ca.caCert);
  await kubectlIn(kc, ['-n', ns.name, 'create', 'secret', 'tls', 'relay-tls', `--cert=${path.join(root, 'tls.crt')}`, `--key=${path.join(root, 'tls.key')}`]);
  fs.rmSync(path.join(root, 'tls.key'));
  await kubectlIn(kc, ['-n', ns.name, 'create', 'secret', 'generic', 'smtp-users', `--from-literal=alice=${USER_PASSWORD}`]);
  await kubectlIn(kc, ['-n', ns.name, 'create', 'secret', 'generic', 'upstream-creds', `--from-literal=username=${UPSTREAM_USER}`, `--from-literal=password=${UPSTREAM_PASSWORD}`]);
  await kubectlIn(kc, ['-n', ns.name, 'create', 'secret', 'generic', 'upstream-ca', `--from-file=ca.crt=${path.join(root, 'ca.crt')}`]);

  operatorLog = path.join(root, 'operator.log');
  process.env.OPERATOR_LOG_LEVEL = 'debug'; // the most talkative level: the worst case for leaks
  operator = startOperatorProcess({ kubeconfig: kc, namespace: ns.name, logPath: operatorLog, podName: 'secrets-op' });
});

afterAll(async () => {
  relay?.child.kill('SIGKILL');
  await relay?.exited;
  await operator?.stop();
  await upstream?.close();
  await ns?.cleanup();
  fs.rmSync(root, { recursive: true, force: true });
});

describe('a full scenario leaves no secret in logs, Events or status', () => {
  test('operator renders the relay; the relay (configured from that) delivers with the real credentials and refuses wrong ones', async () => {
    const kc = kubeconfigPath();
    await applyIn(kc, {
      apiVersion: 'smtprelay.dev/v1alpha1',
      kind: 'SmtpRelay',
      metadata: { name: 'scan', namespace: ns.name },
      spec: {
        hostname: 'relay.test.example',
        tls: { secretName: 'relay-tls' },
        auth: { secretRef: { name: 'smtp-users' } },
        upstream: { host: '127.0.0.1', port: upstream.port, tls: 'starttls', passwordSecretRef: { name: 'upstream-creds' }, caSecretRef: { name: 'upstream-ca' } },
        policy: { allowedSenderDomains: ['example.com'] },
        // The client's answer is the upstream's: every credential is used before the scan.
        queue: { mode: 'PassThrough' },
      },
    });
    await waitFor(async () => isObserved(await getRelayIn(kc, ns.name, 'scan')), { description: 'relay observed', timeoutMs: 60_000 });
    // Rotate a password while the operator watches (it sees Secret metadata only).
    await kubectlIn(kc, ['-n', ns.name, 'create', 'secret', 'generic', 'smtp-users', `--from-literal=alice=${USER_PASSWORD}`, `--from-literal=bob=${USER_PASSWORD_2}`, '--dry-run=client', '-o', 'yaml'])
      .then((y) => kubectlIn(kc, ['apply', '-f', '-'], y));

    // The relay as its pod would run it: the rendered relay.json, Secrets mounted kubelet-style.
    // The ConfigMap the operator rendered for this relay (its name depends on the queue mode).
    const cms = await getJson<{ items: { data?: Record<string, string> }[] }>(kc, ['-n', ns.name, 'get', 'configmaps', '-l', 'app.kubernetes.io/instance=scan']);
    const rendered = cms?.items.map((c) => c.data?.[RELAY_CONFIG_KEY]).find((d): d is string => d !== undefined);
    const config = JSON.parse(rendered!) as RelayConfig & { upstream: NonNullable<RelayConfig['upstream']> };
    const dirs = { tls: path.join(root, 'm-tls'), users: path.join(root, 'm-users'), creds: path.join(root, 'm-creds'), ca: path.join(root, 'm-ca') };
    await mountSecret(ns.name, 'relay-tls', dirs.tls);
    await mountSecret(ns.name, 'smtp-users', dirs.users);
    await mountSecret(ns.name, 'upstream-creds', dirs.creds);
    await mountSecret(ns.name, 'upstream-ca', dirs.ca);
    expect(config.usersDir && config.upstream.credentialsDir && config.upstream.caDir).toBeTruthy();
    config.tls.dir = dirs.tls;
    config.usersDir = dirs.users;
    config.upstream.credentialsDir = dirs.creds;
    config.upstream.caDir = dirs.ca;
    for (const l of config.listeners) l.port = 0;
    config.metricsPort = 0;
    const configPath = path.join(root, 'relay.json');
    fs.writeFileSync(configPath, JSON.stringify(config));
    const prevLevel = process.env.LOG_LEVEL;
    process.env.LOG_LEVEL = 'debug';
    try {
      relay = await startRelayProcess({ configPath } as RelayFixture);
    } finally {
      process.env.LOG_LEVEL = prevLevel;
    }

    for (const [user, pass] of [['alice', USER_PASSWORD], ['bob', USER_PASSWORD_2]]) {
      const r = await sendWithNodemailer({ port: relay.ports.submission, ca: ca.caCert, user, pass, raw: message(300, `secret-scan-${user}`) });
      expect(r).toMatchObject({ ok: true });
    }
    expect(upstream.messages.map((m) => m.user)).toEqual([UPSTREAM_USER, UPSTREAM_USER]);
    for (const wrong of WRONG_PASSWORDS) {
      const c = await RawSmtp.connect(relay.ports.submissions, ca.caCert);
      await c.reply();
      await c.cmd('EHLO x');
      expect(await c.cmd(`AUTH PLAIN ${b64(`\0alice\0${wrong}`)}`)).toMatch(/^535 /);
      await c.cmd('AUTH LOGIN');
      await c.cmd(b64('alice'));
      expect(await c.cmd(b64(wrong))).toMatch(/^535 /);
      c.close();
    }
    // Pre-TLS AUTH with the right password (refused): must not be logged either.
    const p = await RawSmtp.connect(relay.ports.submission);
    await p.reply();
    await p.cmd('EHLO x');
    expect(await p.cmd(`AUTH PLAIN ${b64(`\0alice\0${USER_PASSWORD}`)}`)).toMatch(/^538 /);
    p.close();
    relay.child.kill('SIGTERM');
    await relay.exited;
  });

  test('no password, key body or base64 form of them in operator output, relay output, Events or status', async () => {
    const kc = kubeconfigPath();
    const events = await kubectlIn(kc, ['-n', ns.name, 'get', 'events', '-o', 'json']);
    const status = JSON.stringify((await getRelayIn(kc, ns.name, 'scan'))?.status ?? {});
    const haystacks: Record<string, string> = {
      'operator output': fs.readFileSync(operatorLog, 'utf8'),
      'relay output': relay?.logs() ?? '',
      'namespace Events': events,
      'relay status': status,
    };
    // The scan is only meaningful if there is something to scan.
    expect(haystacks['operator output']!.length).toBeGreaterThan(500);
    expect(haystacks['relay output']!).toMatch(/"auth failed"/);
    expect(JSON.parse(events).items.length).toBeGreaterThan(0);

    const keyBody = tlsKey.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, '');
    const keyLines = tlsKey.split('\n').filter((l) => l && !l.startsWith('-----'));
    const passwords = [USER_PASSWORD, USER_PASSWORD_2, UPSTREAM_PASSWORD, ...WRONG_PASSWORDS];
    const needles: Record<string, string> = { 'private key body': keyBody, 'private key, base64 of the PEM': Buffer.from(tlsKey).toString('base64').slice(0, 60) };
    keyLines.forEach((l, i) => (needles[`private key line ${i + 1}`] = l));
    for (const p of passwords) {
      needles[`password ${p}`] = p;
      needles[`base64(${p})`] = b64(p).replace(/=+$/, '');
      needles[`AUTH PLAIN blob with ${p}`] = b64(`\0alice\0${p}`).replace(/=+$/, '');
    }
    needles['upstream AUTH PLAIN blob'] = b64(`\0${UPSTREAM_USER}\0${UPSTREAM_PASSWORD}`).replace(/=+$/, '');
    needles['base64 of the kubernetes Secret value (users)'] = Buffer.from(USER_PASSWORD).toString('base64').replace(/=+$/, '');

    const found: string[] = [];
    for (const [where, text] of Object.entries(haystacks)) {
      for (const [what, needle] of Object.entries(needles)) if (needle.length >= 8 && text.includes(needle)) found.push(`${what} in ${where}`);
    }
    expect(found).toEqual([]);
  });
});
