// TLS health end to end: the operator (--tls-probe=on --probe-local-endpoints) probes a
// real relay process that serves the certificate cert-manager issued (ClusterIssuer
// test-ca), reports it in status.endpoints and TLSHealthy, notices a rotated
// certificate the relay has not picked up (StaleCertificateServed + Warning event),
// and recovers when the relay hot-reloads the new files.
//
// The relay runs "by hand" here rather than through test/harness/local-runtime.ts: the
// local runtime rolls the relay on every Secret change (as the pod-template checksum
// asks), so it would never serve a stale certificate. This test plays the kubelet for
// one pod: it projects the Deployment's ConfigMap/Secret volumes into Kubernetes-style
// dirs (..data symlink swap), runs `node dist/cli.js relay` on free local ports,
// annotates the Service with those ports, and stands in for the Deployment controller.
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { SmtpRelay } from '../../../src/api/types.js';
import type { OperatorHandle } from '../../../src/controller/operator.js';
import { getObject } from '../../../src/kube/apply.js';
import { probeEndpoint } from '../../../src/probe/index.js';
import { getFreePort } from '../../harness/controlplane.js';
import { createTestNamespace, waitFor, type TestNamespace } from '../../harness/kube.js';
import { ENDPOINTS_ANNOTATION, localRelayArgs, localRelayConfig, mapMountPath, projectVolume, writeAtomic, type Deployment } from '../../harness/local-runtime.js';
import { ManagedProcess } from '../../harness/process.js';
import { SIM_DEPLOYMENT_STATUS, SIM_KUBELET, SIM_SERVICE_ROUTING } from '../../harness/simulated.js';
import { cliPath, nodeBin } from '../../helpers/cli.js';
import { adminKube, applyRelay, condition, createUsersSecret, eventsFor, getChild, getRelay, kubectlOk, relayManifest, runOperatorInProcess, simulateDeploymentAvailable } from './helpers.js';

jest.setTimeout(120_000);

const NAME = 'probed';
const PROBE_INTERVAL_MS = 2000;

let ns: TestNamespace;
let operator: OperatorHandle;
let workDir: string;
let relayProc: ManagedProcess | undefined;

interface DataObject {
  metadata: { name: string; namespace?: string; resourceVersion?: string };
  data?: Record<string, string>;
}

/** Plays the kubelet for one relay pod of the operator's Deployment. */
class HandRunPod {
  /** volume name -> local dir */
  private readonly dirs = new Map<string, string>();
  private readonly mounts = new Map<string, string>();
  ports: Record<string, number> = {};

  constructor(private readonly deployment: Deployment) {}

  private container() {
    return this.deployment.spec.template.spec.containers[0]!;
  }

  /** Projects each ConfigMap/Secret volume (optionally only `only`) the kubelet way. */
  async project(only?: string): Promise<void> {
    for (const m of this.container().volumeMounts ?? []) {
      const vol = this.deployment.spec.template.spec.volumes?.find((v) => v.name === m.name);
      if (!vol || (only && vol.name !== only)) continue;
      const dir = path.join(workDir, 'volumes', vol.name);
      if (vol.emptyDir) {
        await fsp.mkdir(dir, { recursive: true });
      } else {
        const src = vol.configMap ? { apiVersion: 'v1', kind: 'ConfigMap', name: vol.configMap.name, source: vol.configMap } : { apiVersion: 'v1', kind: 'Secret', name: vol.secret!.secretName, source: vol.secret! };
        const obj = (await getObject(adminKube(), { apiVersion: src.apiVersion, kind: src.kind, namespace: ns.name, name: src.name })) as unknown as DataObject | undefined;
        if (!obj) throw new Error(`${src.kind} ${src.name} does not exist`);
        await writeAtomic(dir, projectVolume(obj, src.source, src.kind === 'Secret'));
      }
      this.dirs.set(vol.name, dir);
      this.mounts.set(m.mountPath, dir);
    }
  }

  async start(): Promise<ManagedProcess> {
    const localConfig = path.join(workDir, 'relay.json');
    const { args, configPath } = localRelayArgs(this.container().args, this.mounts, localConfig);
    const config = JSON.parse(await fsp.readFile(mapMountPath(configPath, this.mounts), 'utf8')) as { listeners: { name: string }[] };
    for (const l of config.listeners) this.ports[l.name] = await getFreePort();
    const metrics = await getFreePort();
    await fsp.writeFile(localConfig, JSON.stringify(localRelayConfig(config, this.mounts, { listeners: this.ports, metrics })));
    const proc = ManagedProcess.start({ name: 'relay (tls-health test)', command: nodeBin, args: [cliPath, ...args], logPath: path.join(workDir, 'relay.log') });
    await waitFor(async () => {
      if (proc.hasExited) throw new Error(`the relay exited:\n${proc.logTail(20)}`);
      const res = await fetch(`http://127.0.0.1:${metrics}/readyz`).catch(() => undefined);
      return res?.status === 200;
    }, { description: 'the relay /readyz', timeoutMs: 15_000, intervalMs: 100 });
    return proc;
  }

  endpointsAnnotation(): string {
    return JSON.stringify(Object.fromEntries(Object.entries(this.ports).map(([n, p]) => [n, `127.0.0.1:${p}`])));
  }
}

async function statusWrites(op: OperatorHandle): Promise<number> {
  return (await op.metrics.statusWrites.get()).values.reduce((sum, v) => sum + v.value, 0);
}

async function probesRun(op: OperatorHandle): Promise<number> {
  return (await op.metrics.probes.probesTotal.get()).values.reduce((sum, v) => sum + v.value, 0);
}

async function waitForRelay(description: string, ok: (r: SmtpRelay) => boolean, timeoutMs = 30_000): Promise<SmtpRelay> {
  return waitFor(async () => {
    const r = await getRelay(ns.name, NAME);
    return r && ok(r) ? r : undefined;
  }, { description, timeoutMs, intervalMs: 100 });
}

beforeAll(async () => {
  if (process.env.SMTP_RELAY_CERT_MANAGER !== '1') throw new Error('these tests need cert-manager in the test control plane (SMTP_RELAY_CERT_MANAGER=1); it did not start');
  if (!fs.existsSync(cliPath)) throw new Error(`${cliPath} is missing: npm run build first`);
  ns = await createTestNamespace('op-tls');
  workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'op-tls-'));
  await createUsersSecret(ns.name);
  operator = await runOperatorInProcess(ns.name, ['--tls-probe=on', '--probe-local-endpoints', `--probe-interval-override=${PROBE_INTERVAL_MS / 1000}s`]);
});

afterAll(async () => {
  await relayProc?.stop(5000);
  await operator?.stop();
  await ns?.cleanup();
  if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
});

describe(`TLS health of a relay with a cert-manager certificate ${SIM_KUBELET} ${SIM_SERVICE_ROUTING} ${SIM_DEPLOYMENT_STATUS}`, () => {
  let pod: HandRunPod;
  let issuedFingerprint: string;
  /** lastDeepScanTime per endpoint after the first certificate. */
  const firstDeepScan = new Map<string, number>();

  test('TLSHealthy=True with the served TLS in status.endpoints, and Ready', async () => {
    const created = Date.now();
    await applyRelay(relayManifest(ns.name, NAME, { hostname: 'probed.example.test', tls: { issuerRef: { name: 'test-ca', kind: 'ClusterIssuer' } }, healthCheck: { interval: '10s' } }));
    const issued = await waitForRelay('CertificateReady=True', (r) => condition(r, 'CertificateReady')?.status === 'True', 60_000);
    issuedFingerprint = issued.status!.certificate!.fingerprint!;
    // Nothing answers yet: not probed, and TLS health does not make the relay Stalled.
    expect(condition(issued, 'TLSHealthy')).toMatchObject({ status: 'Unknown', reason: 'NotProbed' });

    const deployment = (await waitFor(() => getChild('Deployment', 'apps/v1', ns.name, NAME), { description: 'the Deployment', timeoutMs: 10_000 })) as unknown as Deployment;
    pod = new HandRunPod(deployment);
    await pod.project();
    relayProc = await pod.start();
    await kubectlOk(['-n', ns.name, 'annotate', 'service', NAME, '--overwrite', `${ENDPOINTS_ANNOTATION}=${pod.endpointsAnnotation()}`]);
    await simulateDeploymentAvailable(ns.name, NAME);

    const healthy = await waitForRelay('TLSHealthy=True', (r) => condition(r, 'TLSHealthy')?.status === 'True');
    const healthyMs = Date.now() - created;
    expect(condition(healthy, 'TLSHealthy')!.reason).toMatch(/^(AllEndpointsHealthy|EndpointsHealthyWithWarnings)$/);
    expect(healthy.status!.tlsHealth).toMatch(/^(Healthy|Degraded)$/);
    const endpoints = healthy.status!.endpoints!;
    expect(endpoints.map((e) => [e.name, e.port, e.mode])).toEqual([['submission', 587, 'starttls'], ['submissions', 465, 'implicit']]);
    for (const e of endpoints) {
      expect(e).toMatchObject({
        healthy: true,
        tlsVersion: 'TLSv1.3',
        group: 'X25519MLKEM768',
        fingerprint: issuedFingerprint,
        matchesSecret: true,
        chainVerified: true,
        hostnameVerified: true,
      });
      expect(e.cipher).toMatch(/^TLS_/);
      // AUTH before TLS is a STARTTLS question; the implicit-TLS port has no plaintext phase.
      expect(e.authBeforeTLS).toBe(e.mode === 'starttls' ? false : undefined);
      expect(Date.parse(e.notAfter!)).toBeGreaterThan(Date.now());
      expect(e.lastProbeTime).toBeDefined();
      // The first cycle of a new certificate includes the deep scan.
      expect(Date.parse(e.lastDeepScanTime!)).toBeGreaterThanOrEqual(created - 1000);
      firstDeepScan.set(e.name, Date.parse(e.lastDeepScanTime!));
      expect(e.failures?.filter((f) => f.result === 'fail') ?? []).toEqual([]);
    }
    const ready = await waitForRelay('Ready=True', (r) => condition(r, 'Ready')?.status === 'True', 15_000);
    expect(condition(ready, 'Ready')!.reason).toBe('Ready');

    const text = await operator.metrics.registry.metrics();
    expect(text).toContain(`smtp_relay_probe_success{namespace="${ns.name}",name="${NAME}",endpoint="submission"} 1`);
    expect(text).toContain(`smtp_relay_tls_stale_certificate{namespace="${ns.name}",name="${NAME}",endpoint="submissions"} 0`);
    expect(text).toMatch(new RegExp(`smtp_relay_tls_version_info\\{namespace="${ns.name}",name="${NAME}",endpoint="submission",version="TLSv1.3",cipher="TLS_[A-Z0-9_]+",group="X25519MLKEM768"\\} 1`));
    expect(text).toContain(`smtp_relay_replicas_available{namespace="${ns.name}",name="${NAME}"} 1`);
    process.stdout.write(`LATENCY tls-health: create->TLSHealthy=True ${healthyMs} ms (includes cert-manager issuance and starting the relay process)\n`);
  });

  test('an idle healthy relay causes no status writes, although it is probed every interval', async () => {
    // Let the deep scan and the first probes settle, then watch a few intervals.
    await new Promise((r) => setTimeout(r, PROBE_INTERVAL_MS * 1.5));
    const before = await getRelay(ns.name, NAME);
    const writes0 = await statusWrites(operator);
    const probes0 = await probesRun(operator);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, PROBE_INTERVAL_MS * 4));
    const cpu = process.cpuUsage(cpu0);
    const elapsed = performance.now() - t0;
    const probes = (await probesRun(operator)) - probes0;
    const writes = (await statusWrites(operator)) - writes0;
    const after = await getRelay(ns.name, NAME);
    expect(probes).toBeGreaterThanOrEqual(4); // 2 endpoints, at least 2 cycles
    expect(writes).toBe(0);
    expect(after!.metadata.resourceVersion).toBe(before!.metadata.resourceVersion);
    const durations = (await operator.metrics.probes.duration.get()).values.filter((v) => v.labels.name === NAME);
    const cycleMs = durations.reduce((s, v) => s + v.value * 1000, 0);
    // The cost of one cycle by itself: the same fast probes, run directly, CPU measured around them.
    const secret = (await getObject(adminKube(), { apiVersion: 'v1', kind: 'Secret', namespace: ns.name, name: `${NAME}-tls` })) as unknown as DataObject;
    const caPem = Buffer.from(secret.data!['ca.crt']!, 'base64').toString('utf8');
    const N = 5;
    const c0 = process.cpuUsage();
    const w0 = performance.now();
    for (let i = 0; i < N; i++) {
      for (const [listener, mode] of [['submission', 'starttls'], ['submissions', 'implicit']] as const) {
        const r = await probeEndpoint({ host: '127.0.0.1', port: pod.ports[listener]!, mode, servername: 'probed.example.test', caPem: [caPem], expectedFingerprint: issuedFingerprint });
        expect(r.verdict).not.toBe('failing');
      }
    }
    const c = process.cpuUsage(c0);
    process.stdout.write(`FIGURE tls-health one probe cycle (2 endpoints) run directly: ${((performance.now() - w0) / N).toFixed(1)} ms wall, ${((c.user + c.system) / 1000 / N).toFixed(1)} ms CPU in the prober's process\n`);
    process.stdout.write(
      `FIGURE tls-health idle: ${writes} status writes over ${(elapsed / 1000).toFixed(1)} s with ${probes} endpoint probes (${probes / 2} cycles); ` +
        `one cycle = ${durations.length} fast probes taking ${cycleMs.toFixed(1)} ms of wall time together; ` +
        `operator process CPU ${((cpu.user + cpu.system) / 1000 / (probes / 2)).toFixed(1)} ms per cycle (jest worker included)\n`,
    );
  });

  test('an operator restart keeps TLSHealthy and Ready and writes nothing: the new process adopts status.endpoints and probes on their schedule', async () => {
    const before = await getRelay(ns.name, NAME);
    expect(condition(before, 'Ready')?.status).toBe('True');
    expect(condition(before, 'TLSHealthy')?.status).toBe('True');
    await operator.stop();
    // Every version of the relay while the new process starts, reconciles and probes (GETs 10 ms apart).
    const seen: { rv: string; ready?: string; tls?: string; reason?: string }[] = [];
    let watching = true;
    const watch = (async () => {
      while (watching) {
        const r = await getRelay(ns.name, NAME).catch(() => undefined);
        if (r && seen.at(-1)?.rv !== r.metadata.resourceVersion) {
          seen.push({ rv: r.metadata.resourceVersion!, ready: condition(r, 'Ready')?.status, tls: condition(r, 'TLSHealthy')?.status, reason: condition(r, 'TLSHealthy')?.reason });
        }
        await new Promise((res) => setTimeout(res, 10));
      }
    })();
    try {
      operator = await runOperatorInProcess(ns.name, ['--tls-probe=on', '--probe-local-endpoints', `--probe-interval-override=${PROBE_INTERVAL_MS / 1000}s`]);
      // Two cycles of the new process: its first is due one interval after the adopted probe times.
      await waitFor(async () => (await probesRun(operator)) >= 4, { description: 'two probe cycles of the restarted operator', timeoutMs: 30_000, intervalMs: 100 });
    } finally {
      watching = false;
      await watch;
    }
    // The adopted deep scan is kept (no new lastDeepScanTime) and nothing else changed: no write at all.
    expect(seen).toEqual([{ rv: before!.metadata.resourceVersion, ready: 'True', tls: 'True', reason: condition(before, 'TLSHealthy')!.reason }]);
    expect(await statusWrites(operator)).toBe(0);
  });

  test('a re-issued certificate the relay has not loaded: TLSHealthy=False StaleCertificateServed + Warning event; the hot reload heals it', async () => {
    // cert-manager re-issues into a new Secret (new key: rotationPolicy Always); the relay's files still hold the old one.
    await kubectlOk(['-n', ns.name, 'delete', 'secret', `${NAME}-tls`]);
    const stale = await waitForRelay('TLSHealthy=False', (r) => condition(r, 'TLSHealthy')?.status === 'False', 60_000);
    expect(condition(stale, 'TLSHealthy')).toMatchObject({ reason: 'StaleCertificateServed' });
    expect(condition(stale, 'TLSHealthy')!.message).toMatch(/submission \(port 587\)/);
    expect(stale.status!.certificate!.fingerprint).not.toBe(issuedFingerprint);
    expect(stale.status!.tlsHealth).toBe('Unhealthy');
    for (const e of stale.status!.endpoints!) {
      expect(e).toMatchObject({ healthy: false, matchesSecret: false, fingerprint: issuedFingerprint });
      expect(e.failures).toContainEqual(expect.objectContaining({ result: 'fail', reason: 'stale-certificate-served' }));
      // A new Secret certificate triggers a new deep scan.
      expect(Date.parse(e.lastDeepScanTime!)).toBeGreaterThan(firstDeepScan.get(e.name)!);
    }
    await waitFor(async () => (await eventsFor(ns.name, NAME)).find((e) => e.type === 'Warning' && e.reason === 'TLSUnhealthy' && e.message.startsWith('StaleCertificateServed')), { description: 'Warning TLSUnhealthy event', timeoutMs: 10_000 });
    expect(await operator.metrics.registry.metrics()).toContain(`smtp_relay_tls_stale_certificate{namespace="${ns.name}",name="${NAME}",endpoint="submission"} 1`);
    expect(condition(stale, 'Ready')!.status).toBe('False');

    // The kubelet would now swap ..data in the mounted Secret; the relay reloads it without a restart.
    const pid = relayProc!.pid;
    await pod.project('tls');
    await simulateDeploymentAvailable(ns.name, NAME); // the new Secret version rolled the pod template
    const healed = await waitForRelay('TLSHealthy=True again', (r) => condition(r, 'TLSHealthy')?.status === 'True', 30_000);
    expect(healed.status!.endpoints!.every((e) => e.matchesSecret === true && e.fingerprint === healed.status!.certificate!.fingerprint)).toBe(true);
    expect(relayProc!.pid).toBe(pid);
    expect(relayProc!.hasExited).toBe(false);
    await waitFor(async () => (await eventsFor(ns.name, NAME)).find((e) => e.type === 'Normal' && e.reason === 'TLSHealthy'), { description: 'Normal TLSHealthy event', timeoutMs: 10_000 });
    await waitForRelay('Ready=True again', (r) => condition(r, 'Ready')?.status === 'True', 15_000);
  });

  test('deleting the relay removes its metric series', async () => {
    await kubectlOk(['-n', ns.name, 'delete', 'smtprelay', NAME, '--wait=false']);
    await waitFor(async () => !(await operator.metrics.registry.metrics()).includes(`name="${NAME}"`), { description: 'series removed', timeoutMs: 15_000, intervalMs: 100 });
  });
});
