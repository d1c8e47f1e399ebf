// What the node e2e tests share: a namespace with a capture upstream on NODE_IP (its CA and
// AUTH credentials as Secrets) and an SmtpRelay with the relay listener, a certificate from
// the test-ca ClusterIssuer, delivering to that upstream; plus the lookups each test needs.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { kubectl, waitFor } from '../harness/kube.js';
import { startCaptureUpstream, type CaptureUpstream } from '../helpers/smtp/capture-upstream.js';
import { createTestCa } from '../helpers/smtp/certs.js';

export const NODE_IP = process.env.SRO_NODE_IP ?? '198.18.0.1';
export const RELAY_PORT = 2525;

export interface Condition { type: string; status: string; reason?: string; message?: string }
export interface Pod { metadata: { name: string; deletionTimestamp?: string }; status: { phase?: string; conditions?: Condition[] } }

export async function run(args: string[], input?: string): Promise<string> {
  const r = await kubectl(args, { input, timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr.trim()}`);
  return r.stdout;
}

export interface RelayEnv {
  ns: string;
  relay: string;
  hostname: string;
  upstream: CaptureUpstream;
  close(): Promise<void>;
  conditions(): Promise<Condition[]>;
  /** Running, Ready, not terminating relay pods. */
  readyPods(): Promise<Pod[]>;
  /** Waits for Ready=True, every rollout done and the Service routing; returns its ClusterIP. */
  settled(): Promise<string>;
}

/** spec overrides are merged over the relay's spec (e.g. { queue: { mode: 'PassThrough' } }). */
export async function startRelayEnv(ns: string, relay: string, spec: Record<string, unknown> = {}): Promise<RelayEnv> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), `${ns}-`));
  const ca = createTestCa(tmp);
  const leaf = ca.issue('upstream', [NODE_IP]);
  const upstream = await startCaptureUpstream({ key: leaf.key, cert: leaf.cert, user: 'relay', pass: 'upstream-secret', host: NODE_IP });
  const hostname = `${relay}.${ns}.svc`;
  const env: RelayEnv = {
    ns,
    relay,
    hostname,
    upstream,
    close: async () => {
      await kubectl(['delete', 'namespace', ns, '--wait=false']);
      await upstream.close();
      fs.rmSync(tmp, { recursive: true, force: true });
    },
    conditions: async () => (JSON.parse(await run(['-n', ns, 'get', 'smtprelay', relay, '-o', 'json'])) as { status?: { conditions?: Condition[] } }).status?.conditions ?? [],
    readyPods: async () =>
      (JSON.parse(await run(['-n', ns, 'get', 'pods', '-l', `app.kubernetes.io/instance=${relay}`, '-o', 'json'])) as { items: Pod[] }).items.filter(
        (p) => p.status.phase === 'Running' && !p.metadata.deletionTimestamp && (p.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'),
      ),
    settled: async () => {
      await waitFor(async () => (await env.conditions()).some((c) => c.type === 'Ready' && c.status === 'True'), {
        description: `SmtpRelay ${ns}/${relay} Ready=True`,
        timeoutMs: 180_000,
        intervalMs: 2000,
      });
      // The first certificate arrives after the pods start: let that roll finish first.
      for (const w of (await run(['-n', ns, 'get', 'deployments,statefulsets', '-o', 'name'])).split('\n').filter(Boolean)) {
        await run(['-n', ns, 'rollout', 'status', w, '--timeout=120s']);
      }
      const services = JSON.parse(await run(['-n', ns, 'get', 'services', '-l', `app.kubernetes.io/instance=${relay}`, '-o', 'json'])) as {
        items: { spec: { clusterIP: string; ports: { port: number }[] } }[];
      };
      return services.items.find((s) => s.spec.ports.some((p) => p.port === RELAY_PORT))!.spec.clusterIP;
    },
  };
  try {
    await run(['create', 'namespace', ns]);
    await run(['-n', ns, 'create', 'secret', 'generic', 'upstream-creds', '--from-literal=username=relay', '--from-literal=password=upstream-secret']);
    await run(['-n', ns, 'create', 'secret', 'generic', 'upstream-ca', `--from-file=ca.crt=${path.join(tmp, 'ca.crt')}`]);
    const object = {
      apiVersion: 'smtprelay.dev/v1alpha1',
      kind: 'SmtpRelay',
      metadata: { name: relay, namespace: ns },
      spec: {
        hostname,
        replicas: 2,
        listeners: {
          submission: { enabled: false },
          submissions: { enabled: false },
          relay: { enabled: true, port: RELAY_PORT, allowedNetworks: ['198.18.0.0/16'], allowedSenderDomains: ['example.test'] },
        },
        tls: { issuerRef: { name: 'test-ca', kind: 'ClusterIssuer' } },
        upstream: { host: NODE_IP, port: upstream.port, tls: 'starttls', passwordSecretRef: { name: 'upstream-creds' }, caSecretRef: { name: 'upstream-ca' } },
        policy: { allowedSenderDomains: ['example.test'] },
        ...spec,
      },
    };
    await run(['apply', '-f', '-'], JSON.stringify(object));
  } catch (err) {
    await env.close();
    throw err;
  }
  return env;
}

/** The test CA's certificate (PEM): what clients verify the relay's certificate against. */
export async function testCaPem(): Promise<string> {
  return Buffer.from(await run(['-n', 'cert-manager', 'get', 'secret', 'test-ca', '-o', 'jsonpath={.data.ca\\.crt}']), 'base64').toString('utf8');
}
