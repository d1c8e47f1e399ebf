// SmtpUser end to end, on the real API server with real relay processes (the development-only
// local runtime plays kubelet) and a real upstream: a team in another namespace applies one
// SmtpUser and an app that reads only the connection Secret sends mail with swaks; rotation
// keeps the old password for the grace period, without restarting the relay; deleting the
// SmtpUser revokes it within seconds; refusals are status reasons.
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { SmtpUser } from '../../../src/api/smtpuser.js';
import type { OperatorHandle } from '../../../src/controller/operator.js';
import { getObject } from '../../../src/kube/apply.js';
import { createTestNamespace, kubeconfigPath, waitFor, type TestNamespace } from '../../harness/kube.js';
import { startLocalRuntime, type LocalRelay, type LocalRuntime } from '../../harness/local-runtime.js';
import { cliPath, nodeBin } from '../../helpers/cli.js';
import { startCaptureUpstream, type CaptureUpstream } from '../../helpers/smtp/capture-upstream.js';
import { createTestCa } from '../../helpers/smtp/certs.js';
import { adminKube, applyRelay, createUsersSecret, kubectlOk, relayManifest, runOperatorInProcess } from './helpers.js';

jest.setTimeout(180_000);
const run = promisify(execFile);

const HOST = 'outbound.example.test';
const GRACE_S = 10;
let relayNs: TestNamespace;
let appNs: TestNamespace;
let deniedNs: TestNamespace;
let operator: OperatorHandle;
let runtime: LocalRuntime;
let upstream: CaptureUpstream;
let workDir: string;
const runtimeLog: string[] = [];

beforeAll(async () => {
  if (!fs.existsSync(cliPath)) throw new Error(`${cliPath} is missing: npm run build first`);
  relayNs = await createTestNamespace('users-relay');
  appNs = await createTestNamespace('users-app');
  deniedNs = await createTestNamespace('users-denied');
  workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'op-users-'));
  const ca = createTestCa(path.join(workDir, 'ca'));
  const leaf = ca.issue('relay', [HOST]);
  const up = ca.issue('upstream', ['127.0.0.1', 'localhost']);
  for (const [f, v] of Object.entries({ 'tls.crt': leaf.cert, 'tls.key': leaf.key, 'ca.crt': ca.caCert })) fs.writeFileSync(path.join(workDir, f), v);
  await createUsersSecret(relayNs.name);
  // The relay's certificate from a private CA: the TLS Secret carries ca.crt, as cert-manager's CA issuer writes it.
  await kubectlOk(['-n', relayNs.name, 'create', 'secret', 'generic', 'relay-cert', '--type=kubernetes.io/tls', ...['tls.crt', 'tls.key', 'ca.crt'].map((f) => `--from-file=${f}=${path.join(workDir, f)}`)]);
  await kubectlOk(['-n', relayNs.name, 'create', 'secret', 'generic', 'upstream-ca', `--from-file=ca.crt=${path.join(workDir, 'ca.crt')}`]);
  await kubectlOk(['-n', relayNs.name, 'create', 'secret', 'generic', 'upstream-creds', '--from-literal=username=relay', '--from-literal=password=upstream-secret']);
  upstream = await startCaptureUpstream({ key: up.key, cert: up.cert, user: 'relay', pass: 'upstream-secret' });
  operator = await runOperatorInProcess([relayNs.name, appNs.name, deniedNs.name].join(','));
  runtime = await startLocalRuntime({ kubeconfig: kubeconfigPath(), namespace: relayNs.name, cliPath, nodeBin, workDir: path.join(workDir, 'rt'), pollMs: 250, log: (l) => runtimeLog.push(l) });
  await applyRelay(
    relayManifest(relayNs.name, 'outbound', {
      hostname: HOST,
      tls: { secretName: 'relay-cert' },
      upstream: { host: '127.0.0.1', port: upstream.port, tls: 'starttls', caSecretRef: { name: 'upstream-ca' }, passwordSecretRef: { name: 'upstream-creds' } },
      policy: { allowedSenderDomains: ['example.com', 'invoices.example.com'] },
      // Only the app namespace may attach (a namespaced operator knows namespaces by name).
      users: { namespaceSelector: { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: [appNs.name] }] } },
    }),
  );
  await relayProcess();
});

afterAll(async () => {
  // While the operator still runs: its finalizer must not outlive it.
  for (const n of [appNs, deniedNs]) if (n) await kubectlOk(['-n', n.name, 'delete', 'smtpusers', '--all', '--wait=true', '--timeout=30s']).catch(() => undefined);
  await runtime?.stop();
  await operator?.stop();
  await upstream?.close();
  for (const n of [relayNs, appNs, deniedNs]) await n?.cleanup();
  if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
});

async function relayProcess(): Promise<LocalRelay> {
  return waitFor(async () => runtime.relays().find((r) => r.namespace === relayNs.name && r.name === 'outbound' && r.ready && r.pid !== undefined), {
    description: 'relay process ready',
    timeoutMs: 60_000,
    intervalMs: 200,
  }).catch((err: Error) => {
    throw new Error(`${err.message}\nlocal runtime log:\n${runtimeLog.slice(-30).join('\n')}`);
  });
}

function smtpUser(namespace: string, name: string, senders: string[], extra: Partial<SmtpUser['spec']> = {}): SmtpUser {
  return {
    apiVersion: 'smtprelay.dev/v1alpha1',
    kind: 'SmtpUser',
    metadata: { name, namespace },
    spec: { relayRef: { name: 'outbound', namespace: relayNs.name }, senders, connectionSecretRef: { name: `smtp-${name}` }, ...extra },
  };
}

async function getUser(namespace: string, name: string): Promise<SmtpUser | undefined> {
  return (await getObject(adminKube(), { apiVersion: 'smtprelay.dev/v1alpha1', kind: 'SmtpUser', namespace, name })) as unknown as SmtpUser | undefined;
}

async function readyOf(namespace: string, name: string, ok: (c: { status: string; reason: string; message: string }) => boolean): Promise<SmtpUser> {
  return waitFor(async () => {
    const u = await getUser(namespace, name);
    const c = u?.status?.conditions?.find((x) => x.type === 'Ready');
    return c && ok(c) ? u : undefined;
  }, { description: `${namespace}/${name} Ready`, timeoutMs: 30_000, intervalMs: 200 });
}

async function connectionSecret(namespace: string, name: string): Promise<{ data: Record<string, string>; annotations: Record<string, string> } | undefined> {
  const s = (await getObject(adminKube(), { apiVersion: 'v1', kind: 'Secret', namespace, name })) as unknown as { data?: Record<string, string>; metadata: { annotations?: Record<string, string> } } | undefined;
  if (!s) return undefined;
  return { data: Object.fromEntries(Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')])), annotations: s.metadata.annotations ?? {} };
}

/** swaks as an app would run it: every value from the connection Secret; only the address is the local runtime's (no DNS for the hostname here). */
async function swaks(secret: Record<string, string>, opts: { password?: string; from?: string; quitAfter?: string } = {}): Promise<{ ok: boolean; out: string }> {
  const relay = await relayProcess();
  const caFile = path.join(workDir, `ca-${Date.now()}-${Math.random().toString(36).slice(2)}.crt`);
  fs.writeFileSync(caFile, secret['ca.crt'] ?? '');
  const port = relay.ports[Number(secret.port) === 587 ? 'submission' : 'submissions'];
  const args = [
    '--server', `127.0.0.1:${port}`, '--tls', '--tls-verify', '--tls-ca-path', caFile, '--tls-sni', secret.host!,
    '--auth', 'PLAIN', '--auth-user', secret.username!, '--auth-password', opts.password ?? secret.password!,
    '--from', opts.from ?? 'billing@example.com', '--to', 'rcpt@dest.example', '--header', `Subject: smtpuser ${Date.now()}`,
    ...(opts.quitAfter ? ['--quit-after', opts.quitAfter] : []),
  ];
  try {
    const r = await run('swaks', args, { timeout: 20_000 });
    return { ok: true, out: r.stdout };
  } catch (err) {
    return { ok: false, out: `${(err as { stdout?: string }).stdout ?? ''}` };
  } finally {
    fs.rmSync(caFile, { force: true });
  }
}

describe('SmtpUser', () => {
  let secret: Record<string, string>;

  test('a user in another namespace gets a connection Secret, and swaks with only its values sends mail', async () => {
    await kubectlOk(['apply', '-f', '-'], JSON.stringify(smtpUser(appNs.name, 'billing', ['billing@example.com', '@invoices.example.com'], { rotation: { gracePeriod: `${GRACE_S}s` } })));
    const user = await readyOf(appNs.name, 'billing', (c) => c.status === 'True');
    expect(user.status).toMatchObject({ username: `${appNs.name}.billing`, relay: { hostname: HOST, submissionPort: 587, submissionsPort: 465 }, observedGeneration: 1 });
    expect(user.metadata.finalizers).toContain('smtprelay.dev/smtpuser');
    const s = await connectionSecret(appNs.name, 'smtp-billing');
    expect(Object.keys(s!.data).sort()).toEqual(['ca.crt', 'host', 'password', 'port', 'url', 'urlSmtps', 'username']);
    process.stdout.write(`CONNECTION SECRET KEYS ${appNs.name}/smtp-billing: ${Object.keys(s!.data).sort().join(', ')}\n`);
    secret = s!.data;
    expect(secret).toMatchObject({ host: HOST, port: '587', username: `${appNs.name}.billing` });
    expect(secret.password!.length).toBeGreaterThanOrEqual(43); // 32 random bytes, base64url
    expect(secret.url).toBe(`smtp://${appNs.name}.billing:${secret.password}@${HOST}:587?starttls=required`);
    expect(secret['ca.crt']).toContain('BEGIN CERTIFICATE');
    // The relay's store holds the hash, never the password.
    const store = (await getObject(adminKube(), { apiVersion: 'v1', kind: 'Secret', namespace: relayNs.name, name: 'outbound-smtpusers' })) as unknown as { data: Record<string, string> };
    const entry = Buffer.from(store.data[`${appNs.name}.billing`]!, 'base64').toString('utf8');
    expect(entry).toMatch(/"hash":"\$2b\$10\$/);
    expect(entry).not.toContain(secret.password);

    const sent = await waitFor(async () => {
      const r = await swaks(secret);
      return r.ok ? r : undefined;
    }, { description: 'swaks with the connection Secret', timeoutMs: 20_000, intervalMs: 500 });
    expect(sent.out).toMatch(/<~\s+250 2\.0\.0 Ok: relayed as/);
    // The managed senders feed the login-to-sender binding.
    const other = await swaks(secret, { from: 'someone@example.com' });
    expect(other.out).toMatch(/<~\*?\s*553 5\.7\.1 Sender address <someone@example\.com> not owned by user/);
    const domain = await swaks(secret, { from: 'any@invoices.example.com' });
    expect(domain.ok).toBe(true);
  });

  test('rotation: a new password at once, the old one works for the grace period then fails; the relay process is not restarted', async () => {
    const pidBefore = (await relayProcess()).pid;
    const before = await connectionSecret(appNs.name, 'smtp-billing');
    await kubectlOk(['-n', appNs.name, 'annotate', 'smtpuser', 'billing', 'smtprelay.dev/rotate=1']);
    const after = await waitFor(async () => {
      const s = await connectionSecret(appNs.name, 'smtp-billing');
      return s && s.data.password !== before!.data.password ? s : undefined;
    }, { description: 'rotated password', timeoutMs: 20_000, intervalMs: 200 });
    const rotatedAt = Date.now();
    const newWorks = await waitFor(async () => ((await swaks(after.data, { quitAfter: 'AUTH' })).ok ? true : undefined), { description: 'new password works', timeoutMs: 15_000, intervalMs: 300 });
    expect(newWorks).toBe(true);
    const oldDuringGrace = await swaks(secret, { quitAfter: 'AUTH' });
    expect(Date.now() - rotatedAt).toBeLessThan(GRACE_S * 1000); // still inside the grace period
    expect(oldDuringGrace.ok).toBe(true);
    await new Promise((r) => setTimeout(r, Math.max(0, GRACE_S * 1000 - (Date.now() - rotatedAt)) + 1500));
    const oldAfterGrace = await swaks(secret, { quitAfter: 'AUTH' });
    expect(oldAfterGrace.ok).toBe(false);
    expect(oldAfterGrace.out).toMatch(/535/);
    expect((await swaks(after.data)).ok).toBe(true);
    expect((await relayProcess()).pid).toBe(pidBefore);
    expect(runtimeLog.filter((l) => /started relay replica/.test(l))).toHaveLength(1);
    secret = after.data;
    const reasons = await waitFor(async () => {
      const list = JSON.parse(await kubectlOk(['-n', appNs.name, 'get', 'events', '-o', 'json'])) as { items: { reason: string; involvedObject: { kind: string; name: string } }[] };
      const r = list.items.filter((e) => e.involvedObject.kind === 'SmtpUser' && e.involvedObject.name === 'billing').map((e) => e.reason);
      return r.includes('PasswordRotated') ? r : undefined;
    }, { description: 'Events on issue and rotation', timeoutMs: 10_000 });
    expect(reasons).toEqual(expect.arrayContaining(['PasswordIssued', 'PasswordRotated']));
    // The expired hash leaves the store (level-based: requeued at the grace expiry).
    await waitFor(async () => {
      const store = (await getObject(adminKube(), { apiVersion: 'v1', kind: 'Secret', namespace: relayNs.name, name: 'outbound-smtpusers' })) as unknown as { data: Record<string, string> };
      const entry = JSON.parse(Buffer.from(store.data[`${appNs.name}.billing`]!, 'base64').toString('utf8')) as { hashes: unknown[] };
      return entry.hashes.length === 1 ? true : undefined;
    }, { description: 'expired hash removed from the store', timeoutMs: 10_000, intervalMs: 250 });
  });

  test('refusals: a namespace the relay does not select, and senders outside its domains; no Secret either way', async () => {
    await kubectlOk(['apply', '-f', '-'], JSON.stringify(smtpUser(deniedNs.name, 'intruder', ['intruder@example.com'])));
    const denied = await readyOf(deniedNs.name, 'intruder', (c) => c.status === 'False');
    expect(denied.status!.conditions!.find((c) => c.type === 'Ready')).toMatchObject({ reason: 'NamespaceNotAllowed', message: expect.stringContaining(deniedNs.name) });
    await kubectlOk(['apply', '-f', '-'], JSON.stringify(smtpUser(appNs.name, 'spoofer', ['ceo@elsewhere.example', 'ok@example.com'])));
    const spoof = await readyOf(appNs.name, 'spoofer', (c) => c.status === 'False');
    expect(spoof.status!.conditions!.find((c) => c.type === 'Ready')).toMatchObject({ reason: 'SendersNotAllowed', message: expect.stringContaining('ceo@elsewhere.example') });
    // Admission (the CRD's CEL): relayRef cannot move (the old relay would keep the hash), senders must be addresses or @domains.
    const moved = await kubectlOk(['-n', appNs.name, 'patch', 'smtpuser', 'spoofer', '--type=merge', '-p', '{"spec":{"relayRef":{"name":"other"}}}']).then(() => 'admitted', (err: Error) => err.message);
    expect(moved).toMatch(/relayRef is immutable/);
    const bad = await kubectlOk(['apply', '-f', '-'], JSON.stringify(smtpUser(appNs.name, 'bad', ['not-an-address']))).then(() => 'admitted', (err: Error) => err.message);
    expect(bad).toMatch(/each senders entry must be an address/);
    expect(await connectionSecret(deniedNs.name, 'smtp-intruder')).toBeUndefined();
    expect(await connectionSecret(appNs.name, 'smtp-spoofer')).toBeUndefined();
    const table = await kubectlOk(['get', 'smtpusers', '-A']);
    process.stdout.write(`KUBECTL GET SMTPUSERS -A\n${table}\n`);
    expect(table).toMatch(/NAMESPACE\s+NAME\s+RELAY\s+RELAY NS\s+READY\s+REASON\s+SECRET\s+AGE/);
    expect(table).toMatch(new RegExp(`${appNs.name}\\s+billing\\s+outbound\\s+${relayNs.name}\\s+True\\s+Issued\\s+smtp-billing`));
  });

  test('deletion: AUTH fails within seconds, and the store no longer has the user', async () => {
    expect((await swaks(secret, { quitAfter: 'AUTH' })).ok).toBe(true);
    const t0 = Date.now();
    await kubectlOk(['-n', appNs.name, 'delete', 'smtpuser', 'billing', '--wait=false']);
    await waitFor(async () => (!(await swaks(secret, { quitAfter: 'AUTH' })).ok ? true : undefined), { description: 'AUTH refused after deletion', timeoutMs: 15_000, intervalMs: 100 });
    const revokedMs = Date.now() - t0;
    process.stdout.write(`FIGURE SmtpUser revocation: kubectl delete -> AUTH refused by the relay ${revokedMs} ms\n`);
    expect(revokedMs).toBeLessThan(10_000);
    await waitFor(async () => ((await getUser(appNs.name, 'billing')) === undefined ? true : undefined), { description: 'SmtpUser gone (finalizer removed)', timeoutMs: 10_000 });
    const store = (await getObject(adminKube(), { apiVersion: 'v1', kind: 'Secret', namespace: relayNs.name, name: 'outbound-smtpusers' })) as unknown as { data?: Record<string, string> };
    expect(Object.keys(store.data ?? {})).not.toContain(`${appNs.name}.billing`);
  });
});
