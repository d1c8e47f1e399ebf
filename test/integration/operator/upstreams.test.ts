// spec.upstreams and spec.routes through the operator, end to end on real parts: the real
// kube-apiserver (CRD schema and CEL), the operator in process, the development-only local
// runtime (test/harness/local-runtime.ts) running the Deployment's pod as a real relay process
// with its Secret volumes materialised as the kubelet does (volume `items` included), and real
// Postfix upstreams, one of them stopped. GET /queue is the relay's own.
//
// - A relay with two routed upstreams (and a third whose Secret keys are renamed) reconciles to
//   a relay.json with upstreams and routes, per-upstream Secret volumes with `items`, and a
//   NetworkPolicy with egress to every upstream port; the relay process starts on it.
// - Mail for the stopped upstream's route fails; UpstreamsHealthy goes False naming that
//   upstream (and not the healthy one) with UpstreamUnavailable and ECONNREFUSED; once the
//   upstream is started and mail flows, it goes True again.
// - A missing OAuth2 Secret is Stalled/SecretNotFound naming its upstream (the metadata-only
//   Secret cache), and heals when the Secret is created.
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { SmtpRelay } from '../../../src/api/types.js';
import type { QueueSummary } from '../../../src/common/queue-summary.js';
import type { RelayConfig } from '../../../src/common/relay-config.js';
import type { OperatorHandle } from '../../../src/controller/operator.js';
import { getFreePort } from '../../harness/controlplane.js';
import { createTestNamespace, kubeconfigPath, waitFor, type TestNamespace } from '../../harness/kube.js';
import { startLocalRuntime, type LocalRelay, type LocalRuntime } from '../../harness/local-runtime.js';
import { cliPath, nodeBin } from '../../helpers/cli.js';
import { createTestCa, type TestCa } from '../../helpers/smtp/certs.js';
import { sendWithNodemailer } from '../../helpers/smtp/clients.js';
import { startPostfix, type PostfixUpstream } from '../../helpers/smtp/postfix.js';
import { applyRelay, condition, createUsersSecret, eventsFor, getChild, getRelay, kubectlOk, relayManifest, runOperatorInProcess } from './helpers.js';

jest.setTimeout(180_000);

const NAME = 'routed';
const HOST = `${NAME}.example.test`;
const PASSWORD = 'correct horse battery staple';
/** The name on the upstreams' certificates: the relay connects to 127.0.0.1 and verifies this name (spec serverName). */
const UPSTREAM_NAME = 'upstream.example.test';

let ns: TestNamespace;
let operator: OperatorHandle;
let runtime: LocalRuntime;
let workDir: string;
let ca: TestCa;
let portA: number;
let portB: number;
let upstreamA: PostfixUpstream | undefined;
let upstreamB: PostfixUpstream | undefined;
const runtimeLog: string[] = [];

beforeAll(async () => {
  if (!fs.existsSync(cliPath)) throw new Error(`${cliPath} is missing: npm run build first`);
  ns = await createTestNamespace('op-upstreams');
  workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'op-upstreams-'));
  ca = createTestCa(path.join(workDir, 'ca'));
  await createUsersSecret(ns.name);
  const leaf = ca.issue('relay', [HOST]);
  fs.writeFileSync(path.join(workDir, 'tls.crt'), leaf.cert);
  fs.writeFileSync(path.join(workDir, 'tls.key'), leaf.key);
  fs.writeFileSync(path.join(workDir, 'root.pem'), ca.caCert);
  await kubectlOk(['-n', ns.name, 'create', 'secret', 'tls', 'relay-cert', `--cert=${path.join(workDir, 'tls.crt')}`, `--key=${path.join(workDir, 'tls.key')}`]);
  // Secrets with the key names a secret store might write: the relay reads ca.crt, username, password.
  await kubectlOk(['-n', ns.name, 'create', 'secret', 'generic', 'corp-ca', `--from-file=root.pem=${path.join(workDir, 'root.pem')}`]);
  await kubectlOk(['-n', ns.name, 'create', 'secret', 'generic', 'spare-login', '--from-literal=login=spare', '--from-literal=secret=spare-password']);
  portA = await getFreePort();
  portB = await getFreePort(); // nothing listens yet: upstream b is down
  upstreamA = await startPostfix(path.join(workDir, 'postfix-a'), ca.issue('postfix-a', [UPSTREAM_NAME]), { port: portA });
  operator = await runOperatorInProcess(ns.name, ['--probe-local-endpoints']);
  runtime = await startLocalRuntime({ kubeconfig: kubeconfigPath(), namespace: ns.name, cliPath, nodeBin, workDir: path.join(workDir, 'rt'), pollMs: 250, log: (l) => runtimeLog.push(l) });
});

afterAll(async () => {
  await runtime?.stop();
  await operator?.stop();
  await upstreamA?.stop();
  await upstreamB?.stop();
  await ns?.cleanup();
  if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
});

function routedRelay(): SmtpRelay {
  const up = (name: string, port: number) => ({ name, host: '127.0.0.1', port, tls: 'starttls' as const, serverName: UPSTREAM_NAME, caSecretRef: { name: 'corp-ca', caKey: 'root.pem' } });
  return relayManifest(ns.name, NAME, {
    hostname: HOST,
    tls: { secretName: 'relay-cert' },
    upstream: undefined,
    upstreams: [up('a', portA), up('b', portB), { ...up('spare', portA), passwordSecretRef: { name: 'spare-login', usernameKey: 'login', passwordKey: 'secret' } }],
    routes: [{ senderDomains: ['b.example.com'], upstreams: ['b'] }, { upstreams: ['a'] }],
    // The operator reads GET /queue on this schedule.
    healthCheck: { interval: '10s' },
    queue: { mode: 'PassThrough' },
  });
}

async function readyPod(): Promise<LocalRelay> {
  return waitFor(() => runtime.relays().find((r) => r.name === NAME && r.ready), { description: `a ready pod of ${NAME}`, timeoutMs: 60_000, intervalMs: 200 }).catch((err: Error) => {
    throw new Error(`${err.message}\nlocal runtime log:\n${runtimeLog.slice(-40).join('\n')}`);
  });
}

async function send(pod: LocalRelay, from: string, tag: string) {
  const raw = `From: <${from}>\r\nTo: <rcpt@dest.example>\r\nSubject: ${tag}\r\nMessage-ID: <${tag}@upstreams.test>\r\n\r\nrouted by sender domain\r\n`;
  return sendWithNodemailer({ port: pod.ports.submission!, ca: ca.caCert, user: 'alice', pass: PASSWORD, servername: HOST, from, raw });
}

async function upstreamsOf(pod: LocalRelay): Promise<QueueSummary['upstreams']> {
  const res = await fetch(`http://127.0.0.1:${pod.metricsPort}/queue`);
  return ((await res.json()) as QueueSummary).upstreams;
}

describe('OAuth2 Secret references', () => {
  test('a missing OAuth2 Secret is SecretNotFound naming its upstream, from the metadata cache; creating it heals the relay', async () => {
    const name = 'oauth';
    await applyRelay(
      relayManifest(ns.name, name, {
        hostname: `${name}.example.test`,
        tls: { secretName: 'relay-cert' },
        upstream: undefined,
        upstreams: [
          {
            name: 'idp',
            host: '127.0.0.1',
            port: portA,
            oauth2: { provider: 'Generic', clientID: 'relay', scope: 'smtp', tokenEndpoint: 'http://127.0.0.1:4444/oauth2/token', user: 'relay@example.com', clientSecretRef: { name: 'idp-client', clientSecretKey: 'secret' } },
          },
        ],
        queue: { mode: 'PassThrough' },
      }),
    );
    const stalled = await waitFor(
      async () => {
        const r = await getRelay(ns.name, name);
        return condition(r, 'Stalled')?.status === 'True' ? r : undefined;
      },
      { description: 'Stalled SecretNotFound', timeoutMs: 30_000, intervalMs: 300 },
    );
    expect(condition(stalled, 'Stalled')).toMatchObject({ reason: 'SecretNotFound' });
    expect(condition(stalled, 'Stalled')!.message).toContain('Secret idp-client (the upstream OAuth2 credentials of upstream idp) was not found');
    const deployment = await waitFor(() => getChild('Deployment', 'apps/v1', ns.name, name), { description: 'the Deployment', timeoutMs: 30_000 });
    const volumes = (deployment.spec as { template: { spec: { volumes: { name: string; secret?: unknown }[] } } }).template.spec.volumes;
    expect(volumes.find((v) => v.name === 'up-idp-oauth2')?.secret).toMatchObject({ secretName: 'idp-client', items: [{ key: 'secret', path: 'client-secret' }] });

    // The Secret watch (metadata only) maps the new Secret to this relay: it heals without a spec change.
    await kubectlOk(['-n', ns.name, 'create', 'secret', 'generic', 'idp-client', '--from-literal=secret=s3cr3t']);
    await waitFor(
      async () => (condition(await getRelay(ns.name, name), 'Stalled')?.status === 'False' ? true : undefined),
      { description: 'Stalled False once the Secret exists', timeoutMs: 30_000, intervalMs: 300 },
    );
    await kubectlOk(['-n', ns.name, 'delete', 'smtprelay', name, '--wait=false']);
  });
});

describe('a relay with named upstreams and routes', () => {
  let pod: LocalRelay;

  test('reconciles to relay.json upstreams and routes, per-upstream Secret volumes with items, and egress to every upstream port', async () => {
    await applyRelay(routedRelay());
    const cm = await waitFor(() => getChild('ConfigMap', 'v1', ns.name, `${NAME}-config`), { description: 'the relay ConfigMap', timeoutMs: 30_000 });
    const config = JSON.parse((cm.data as Record<string, string>)['relay.json']!) as RelayConfig;
    expect(config.upstream).toBeUndefined();
    expect(config.upstreams!.map((u) => [u.name, u.port, u.caDir, u.credentialsDir])).toEqual([
      ['a', portA, '/etc/smtp-relay/upstreams/a/ca', undefined],
      ['b', portB, '/etc/smtp-relay/upstreams/b/ca', undefined],
      ['spare', portA, '/etc/smtp-relay/upstreams/spare/ca', '/etc/smtp-relay/upstreams/spare/credentials'],
    ]);
    expect(config.routes).toEqual([{ senderDomains: ['b.example.com'], upstreams: ['b'] }, { upstreams: ['a'] }]);

    const deployment = await waitFor(() => getChild('Deployment', 'apps/v1', ns.name, NAME), { description: 'the relay Deployment', timeoutMs: 30_000 });
    const pod0 = (deployment.spec as { template: { spec: { volumes: { name: string; secret?: { secretName: string; items?: unknown } }[] } } }).template.spec;
    const secretVolumes = Object.fromEntries(pod0.volumes.filter((v) => v.secret).map((v) => [v.name, v.secret]));
    expect(secretVolumes['up-a-ca']).toMatchObject({ secretName: 'corp-ca', items: [{ key: 'root.pem', path: 'ca.crt' }] });
    expect(secretVolumes['up-spare-cred']).toMatchObject({ secretName: 'spare-login', items: [{ key: 'login', path: 'username' }, { key: 'secret', path: 'password' }] });

    const np = await waitFor(() => getChild('NetworkPolicy', 'networking.k8s.io/v1', ns.name, NAME), { description: 'the NetworkPolicy', timeoutMs: 30_000 });
    const egressPorts = ((np.spec as { egress: { ports: { port: number }[] }[] }).egress[0]!.ports.map((p) => p.port)).sort((x, y) => x - y);
    expect(egressPorts).toEqual([portA, portB].sort((x, y) => x - y));

    // The relay process starts on it: the renamed keys arrived as the files it reads.
    pod = await readyPod();
    expect((await upstreamsOf(pod))?.map((u) => u.name)).toEqual(['a', 'b', 'spare']);
  });

  test('UpstreamsHealthy goes False naming the stopped upstream, and True again once it takes mail', async () => {
    expect((await send(pod, 'app@example.com', 'to-a')).ok).toBe(true);
    // Route b has one upstream, which is down: each message fails (451) and counts against its breaker.
    for (let i = 0; i < 3; i++) expect((await send(pod, 'app@b.example.com', `to-b-${i}`)).ok).toBe(false);
    const relay = await waitFor(
      async () => {
        const r = await getRelay(ns.name, NAME);
        return condition(r, 'UpstreamsHealthy')?.status === 'False' ? r : undefined;
      },
      { description: 'UpstreamsHealthy False', timeoutMs: 45_000, intervalMs: 500 },
    );
    const c = condition(relay, 'UpstreamsHealthy')!;
    expect(c.reason).toBe('UpstreamUnavailable');
    expect(c.message).toMatch(/^Failing upstream: b \(breaker open, UpstreamUnavailable: unreachable\)/);
    expect(c.message).not.toMatch(/\ba \(/);
    expect(c.message).not.toContain('127.0.0.1');
    await waitFor(async () => ((await eventsFor(ns.name, NAME)).some((e) => e.type === 'Warning' && e.reason === 'UpstreamUnavailable' && e.message.startsWith('Failing upstream: b ')) ? true : undefined), {
      description: 'a Warning event UpstreamUnavailable',
      timeoutMs: 15_000,
    });

    upstreamB = await startPostfix(path.join(workDir, 'postfix-b'), ca.issue('postfix-b', [UPSTREAM_NAME]), { port: portB });
    // The breaker lets a trial through (the route has no other upstream): it succeeds and closes it.
    await waitFor(async () => ((await send(pod, 'app@b.example.com', `to-b-up-${Date.now()}`)).ok ? true : undefined), { description: 'mail through b once it is up', timeoutMs: 30_000, intervalMs: 1000 });
    const healed = await waitFor(
      async () => {
        const r = await getRelay(ns.name, NAME);
        return condition(r, 'UpstreamsHealthy')?.status === 'True' ? r : undefined;
      },
      { description: 'UpstreamsHealthy True again', timeoutMs: 45_000, intervalMs: 500 },
    );
    expect(condition(healed, 'UpstreamsHealthy')).toMatchObject({ reason: 'UpstreamsAvailable', message: 'Every upstream takes mail: a, b, spare.' });
  });
});
