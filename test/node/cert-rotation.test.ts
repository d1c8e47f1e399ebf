// Certificate rotation on the real node: cert-manager is asked to reissue the relay's
// certificate the way `cmctl renew` does it (the Certificate's Issuing condition set to True
// with reason ManuallyTriggered, which cert-manager v1.21's issuing controller honours).
// The relay then serves the new certificate on its ClusterIP Service, the pods roll on the
// certificate checksum, TLSHealthy ends True (within seconds of the roll), and a client sending mail all the while
// (1 message per 200 ms, bounded) sees no failed session; every message reaches the upstream.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import net from 'node:net';
import tls from 'node:tls';
import { waitFor } from '../harness/kube.js';
import { sendWithNodemailer } from '../helpers/smtp/clients.js';
import { RELAY_PORT as PORT, run, startRelayEnv, testCaPem, type RelayEnv } from './relay-env.js';

const NS = `node-rotation-${process.pid}`;
const RELAY = 'mail';
const HOSTNAME = `${RELAY}.${NS}.svc`;

/** The SHA-256 fingerprint of the certificate served after STARTTLS (verified against ca for HOSTNAME). */
async function servedFingerprint(host: string, ca: string): Promise<string> {
  const plain = net.connect({ host, port: PORT });
  let buf = '';
  const waitLine = (re: RegExp) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${re} from ${host}:${PORT}: ${buf}`)), 5000);
      const check = () => {
        if (re.test(buf)) {
          clearTimeout(timer);
          plain.off('data', onData);
          resolve();
        }
      };
      const onData = (d: Buffer) => {
        buf += d.toString('latin1');
        check();
      };
      plain.on('data', onData);
      plain.once('error', reject);
      check();
    });
  try {
    await waitLine(/^220 .*\r\n/m);
    plain.write('EHLO fingerprint.example.test\r\n');
    await waitLine(/^250 .*\r\n/m);
    buf = '';
    plain.write('STARTTLS\r\n');
    await waitLine(/^220 .*\r\n/m);
    const secure = tls.connect({ socket: plain, ca, servername: HOSTNAME });
    await new Promise<void>((resolve, reject) => {
      secure.once('secureConnect', resolve);
      secure.once('error', reject);
    });
    const fp = secure.getPeerCertificate().fingerprint256;
    secure.destroy();
    return fp;
  } finally {
    plain.destroy();
  }
}

let env: RelayEnv;

beforeAll(async () => {
  env = await startRelayEnv(NS, RELAY, { queue: { mode: 'PassThrough' } });
});

afterAll(async () => {
  await env?.close();
});

describe('certificate rotation on the real node', () => {
  test('a reissue is served, the pods roll, TLSHealthy ends True, and mail sent every 200 ms throughout never fails', async () => {
    const clusterIp = await env.settled();
    const testCa = await testCaPem();
    // kube-proxy programs the Service a moment after the pods are Ready: wait for it to route.
    await waitFor(async () => (await sendWithNodemailer({ host: clusterIp, port: PORT, ca: testCa, servername: HOSTNAME, from: 'app@example.test', to: ['rcpt@dest.example'] })).ok, {
      description: 'a first message through the ClusterIP Service',
      timeoutMs: 60_000,
      intervalMs: 1000,
    });
    const podsBefore = (await env.readyPods()).map((p) => p.metadata.name).sort();
    expect(podsBefore).toHaveLength(2);
    // Both pods serve the same certificate: read it a few times (kube-proxy spreads connections).
    const before = new Set(await Promise.all([1, 2, 3, 4].map(() => servedFingerprint(clusterIp, testCa))));
    expect(before.size).toBe(1);
    const oldFp = [...before][0]!;

    // The bounded client: one message every 200 ms until told to stop (at most 5 minutes).
    const outcomes: { ok: boolean; error?: string }[] = [];
    let stop = false;
    const sender = (async () => {
      const deadline = Date.now() + 300_000;
      while (!stop && Date.now() < deadline) {
        const r = await sendWithNodemailer({ host: clusterIp, port: PORT, ca: testCa, servername: HOSTNAME, from: 'app@example.test', to: ['rcpt@dest.example'] });
        outcomes.push(r.ok ? { ok: true } : { ok: false, error: r.error ?? r.response });
        await new Promise((r) => setTimeout(r, 200));
      }
    })();

    try {
      const upstreamBefore = env.upstream.messages.length;
      const t0 = Date.now();
      // As `cmctl renew`: the Issuing condition, through the status subresource.
      const issuing = { type: 'Issuing', status: 'True', reason: 'ManuallyTriggered', message: 'reissue requested by the node e2e test', lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z') };
      await run(['-n', NS, 'patch', 'certificate', RELAY, '--subresource=status', '--type=json', '-p', JSON.stringify([{ op: 'add', path: '/status/conditions/-', value: issuing }])]);

      await waitFor(async () => (await servedFingerprint(clusterIp, testCa)) !== oldFp, { description: 'the new certificate served on the ClusterIP', timeoutMs: 180_000, intervalMs: 500 });
      const servedMs = Date.now() - t0;
      // Replaced and gone: a terminating pod keeps serving (its preStop sleep) while kube-proxy catches up.
      const rolled = await waitFor(async () => {
        const names = (await env.readyPods()).map((p) => p.metadata.name);
        const all = (await run(['-n', NS, 'get', 'pods', '-l', `app.kubernetes.io/instance=${RELAY}`, '-o', 'name'])).split('\n').filter(Boolean);
        return names.length === 2 && !all.some((n) => podsBefore.includes(n.replace(/^pod\//, ''))) ? names : undefined;
      }, { description: 'both relay pods replaced after the certificate changed, the old ones gone', timeoutMs: 240_000, intervalMs: 1000 });
      const rolledMs = Date.now() - t0;
      expect(rolled).toHaveLength(2);
      // Every connection now gets the new certificate.
      const after = new Set(await Promise.all([1, 2, 3, 4].map(() => servedFingerprint(clusterIp, testCa))));
      expect(after.has(oldFp)).toBe(false);
      expect(after.size).toBe(1);
      const tlsHealthy = await waitFor(async () => {
        const c = (await env.conditions()).find((x) => x.type === 'TLSHealthy');
        return c?.status === 'True' ? c : undefined;
      }, { description: 'TLSHealthy=True after the rotation', timeoutMs: 180_000, intervalMs: 2000 });
      expect(tlsHealthy.reason).not.toBe('StaleCertificateServed');
      const healthyMs = Date.now() - t0;
      // Probed again when the rollout settled (and a stale result re-checked after 10 s), not at the next
      // 60 s interval: TLSHealthy is back within seconds of the roll (it took ~66 s before).
      expect(healthyMs - rolledMs).toBeLessThanOrEqual(15_000);

      stop = true;
      await sender;
      const failed = outcomes.filter((o) => !o.ok);
      process.stdout.write(`NODE rotation: new certificate served ${servedMs} ms after the reissue request, pods rolled in ${rolledMs} ms, TLSHealthy=True again after ${healthyMs} ms; ${outcomes.length} messages sent meanwhile, ${failed.length} failed\n`);
      expect(failed).toEqual([]);
      expect(outcomes.length).toBeGreaterThan(10);
      await env.upstream.waitFor(upstreamBefore + outcomes.length, 60_000);
    } finally {
      stop = true;
      await sender;
    }
  });
});
