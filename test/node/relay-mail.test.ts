// A relay as users run it, on the real node of `npm run cluster:up`: the operator (2 pods)
// reconciles an SmtpRelay whose certificate comes from cert-manager's test-ca ClusterIssuer;
// the relay pods are scheduled, started by the kubelet and reached through their
// ClusterIP Service (kube-proxy); they deliver into a real upstream on NODE_IP. Deleting the
// namespace then completes (the real namespace controller and garbage collector).
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { kubectl, waitFor } from '../harness/kube.js';
import { startCaptureUpstream, type CaptureUpstream } from '../helpers/smtp/capture-upstream.js';
import { createTestCa } from '../helpers/smtp/certs.js';
import { sendWithNodemailer } from '../helpers/smtp/clients.js';
import { runClientPod } from './client-pod.js';

const NODE_IP = process.env.SRO_NODE_IP ?? '198.18.0.1';
const NS = `node-relay-${process.pid}`;
const RELAY = 'mail';
const HOSTNAME = `${RELAY}.${NS}.svc`;

interface Conditioned {
  status?: { conditions?: { type: string; status: string; reason?: string; message?: string }[] };
}

async function run(args: string[], input?: string): Promise<string> {
  const r = await kubectl(args, { input, timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr.trim()}`);
  return r.stdout;
}

let upstream: CaptureUpstream;
let tmp: string;

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'node-relay-'));
  const ca = createTestCa(tmp);
  const leaf = ca.issue('upstream', [NODE_IP]);
  upstream = await startCaptureUpstream({ key: leaf.key, cert: leaf.cert, user: 'relay', pass: 'upstream-secret', host: NODE_IP });
  await run(['create', 'namespace', NS]);
  await run(['-n', NS, 'create', 'secret', 'generic', 'upstream-creds', '--from-literal=username=relay', '--from-literal=password=upstream-secret']);
  await run(['-n', NS, 'create', 'secret', 'generic', 'upstream-ca', `--from-file=ca.crt=${path.join(tmp, 'ca.crt')}`]);
  const relay = {
    apiVersion: 'smtprelay.dev/v1alpha1',
    kind: 'SmtpRelay',
    metadata: { name: RELAY, namespace: NS },
    spec: {
      hostname: HOSTNAME,
      replicas: 2,
      listeners: {
        submission: { enabled: false },
        submissions: { enabled: false },
        relay: { enabled: true, port: 2525, allowedNetworks: ['198.18.0.0/16'], allowedSenderDomains: ['example.test'] },
      },
      // internalCertificate: a second certificate for the Service names, served by SNI.
      tls: { issuerRef: { name: 'test-ca', kind: 'ClusterIssuer' }, internalCertificate: { issuerRef: { name: 'test-ca', kind: 'ClusterIssuer' } } },
      upstream: { host: NODE_IP, port: upstream.port, tls: 'starttls', passwordSecretRef: { name: 'upstream-creds' }, caSecretRef: { name: 'upstream-ca' } },
      policy: { allowedSenderDomains: ['example.test'] },
    },
  };
  await run(['apply', '-f', '-'], JSON.stringify(relay));
});

afterAll(async () => {
  await kubectl(['delete', 'namespace', NS, '--wait=false']);
  await upstream?.close();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe('a relay on the real node', () => {
  test('reaches Ready=True with its certificate from cert-manager and 2 running relay pods', async () => {
    const ready = await waitFor(async () => {
      const relay = JSON.parse(await run(['-n', NS, 'get', 'smtprelay', RELAY, '-o', 'json'])) as Conditioned;
      const c = relay.status?.conditions?.find((x) => x.type === 'Ready');
      return c?.status === 'True' ? c : undefined;
    }, { description: `SmtpRelay ${NS}/${RELAY} Ready=True`, timeoutMs: 180_000, intervalMs: 2000 });
    expect(ready.status).toBe('True');
    const pods = JSON.parse(await run(['-n', NS, 'get', 'pods', '-l', `app.kubernetes.io/instance=${RELAY}`, '-o', 'json'])) as { items: { status: { phase: string } }[] };
    expect(pods.items.filter((p) => p.status.phase === 'Running')).toHaveLength(2);
    const cert = JSON.parse(await run(['-n', NS, 'get', 'certificate', RELAY, '-o', 'json'])) as Conditioned & { spec: { issuerRef: { name: string } } };
    expect(cert.spec.issuerRef.name).toBe('test-ca');
    expect(cert.status?.conditions?.find((x) => x.type === 'Ready')?.status).toBe('True');
  });

  test('mail from the node through the ClusterIP Service arrives at the upstream on NODE_IP, over STARTTLS at both hops', async () => {
    const services = JSON.parse(await run(['-n', NS, 'get', 'services', '-l', `app.kubernetes.io/instance=${RELAY}`, '-o', 'json'])) as {
      items: { spec: { clusterIP: string; ports: { port: number }[] } }[];
    };
    const svc = services.items.find((s) => s.spec.ports.some((p) => p.port === 2525));
    expect(svc?.spec.clusterIP).toMatch(/^198\.19\./);
    const testCa = Buffer.from(await run(['-n', 'cert-manager', 'get', 'secret', 'test-ca', '-o', 'jsonpath={.data.ca\\.crt}']), 'base64').toString('utf8');
    const before = upstream.messages.length;
    const sent = await sendWithNodemailer({ host: svc!.spec.clusterIP, port: 2525, ca: testCa, servername: HOSTNAME, from: 'app@example.test', to: ['rcpt@dest.example'] });
    expect(sent).toMatchObject({ ok: true });
    await upstream.waitFor(before + 1, 60_000);
    const got = upstream.messages[before]!;
    expect(got.from).toBe('app@example.test');
    expect(got.to).toEqual(['rcpt@dest.example']);
    expect(got.user).toBe('relay');
    expect(got.tlsProtocol).toMatch(/^TLSv1\.[23]$/);
  });

  test('mail from a client pod through the ClusterIP Service and its DNS name <service>.<ns>.svc arrives at the upstream, the relay certificate verified against the test CA; with a wrong CA the client refuses it', async () => {
    const services = JSON.parse(await run(['-n', NS, 'get', 'services', '-l', `app.kubernetes.io/instance=${RELAY}`, '-o', 'json'])) as {
      items: { metadata: { name: string }; spec: { clusterIP: string; ports: { port: number }[] } }[];
    };
    const svc = services.items.find((s) => s.spec.ports.some((p) => p.port === 2525))!;
    const clusterIp = svc.spec.clusterIP;
    // The relay listener's Service (`<relay>-internal` here); its DNS name is on the relay's certificate.
    const svcDns = `${svc.metadata.name}.${NS}.svc`;
    const testCa = Buffer.from(await run(['-n', 'cert-manager', 'get', 'secret', 'test-ca', '-o', 'jsonpath={.data.ca\\.crt}']), 'base64').toString('utf8');
    await run(['-n', NS, 'create', 'configmap', 'relay-ca', '--from-literal=ca.crt=' + testCa]);
    // The upstream's own CA: it did not sign the relay's certificate.
    await run(['-n', NS, 'create', 'configmap', 'wrong-ca', `--from-file=ca.crt=${path.join(tmp, 'ca.crt')}`]);
    const hasId = (id: string) => upstream.messages.some((m) => m.raw.toString('utf8').includes(`<${id}@example.test>`));

    const before = upstream.messages.length;
    const good = await runClientPod(NS, 'client', 'relay-ca', [
      { host: clusterIp, port: 2525, servername: HOSTNAME, id: 'pod-via-clusterip' },
      { host: svcDns, port: 2525, id: 'pod-via-dns' },
    ]);
    expect(good.results).toEqual([
      expect.objectContaining({ id: 'pod-via-clusterip', ok: true }),
      expect.objectContaining({ id: 'pod-via-dns', ok: true }),
    ]);
    expect(good.phase).toBe('Succeeded');
    await upstream.waitFor(before + 2, 60_000);
    expect(hasId('pod-via-clusterip') && hasId('pod-via-dns')).toBe(true);

    const wrong = await runClientPod(NS, 'client-wrong-ca', 'wrong-ca', [{ host: svcDns, port: 2525, id: 'pod-wrong-ca' }]);
    expect(wrong.phase).toBe('Failed');
    expect(wrong.results[0]).toMatchObject({ ok: false });
    expect(wrong.results[0]!.error).toMatch(/certificate/i);
    await new Promise((r) => setTimeout(r, 2000));
    expect(hasId('pod-wrong-ca')).toBe(false);
  });

  test('deleting the namespace completes: the SmtpRelay and every child are garbage-collected', async () => {
    await run(['delete', 'namespace', NS, '--wait=false']);
    await waitFor(async () => (await kubectl(['get', 'namespace', NS])).code !== 0, { description: `namespace ${NS} gone`, timeoutMs: 180_000, intervalMs: 2000 });
    const left = await kubectl(['get', 'pods,services,statefulsets,deployments,pvc', '-n', NS, '-o', 'name']);
    expect(left.stdout.trim()).toBe('');
  });
});
