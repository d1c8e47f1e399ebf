// deploy/argocd/health-smtprelay.lua, run with Lua 5.4 (and 5.1, Argo CD's dialect) against SmtpRelay objects
// read back from the real API server. Statuses are the operator's own
// (computeStatus) written through the status subresource, so the schema and the
// subresource semantics (status writes do not bump generation) are real.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { EndpointStatus, SmtpRelay, SmtpRelayStatus } from '../../../src/api/types.js';
import { computeStatus, type Observed } from '../../../src/controller/status.js';
import { repoRoot } from '../../helpers/cli.js';
import { createTestNamespace, kubectl, type TestNamespace } from '../../harness/kube.js';

const SCRIPT = path.join(repoRoot, 'deploy', 'argocd', 'health-smtprelay.lua');
// lua5.4 as asked; lua5.1 too, because Argo CD runs gopher-lua, a Lua 5.1 dialect.
const INTERPRETERS = ['lua5.4', 'lua5.1'];

/** A JSON value as a Lua table constructor (what Argo CD's JSON decoding yields). */
export function toLua(value: unknown): string {
  if (value === null || value === undefined) return 'nil';
  if (typeof value === 'boolean') return String(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error(`not a JSON number: ${value}`);
    return String(value);
  }
  if (typeof value === 'string') return luaString(value);
  if (Array.isArray(value)) return `{${value.map(toLua).join(', ')}}`;
  const entries = Object.entries(value as Record<string, unknown>).map(([k, v]) => `[${luaString(k)}] = ${toLua(v)}`);
  return `{${entries.join(', ')}}`;
}

function luaString(s: string): string {
  // Decimal escapes for every byte outside printable ASCII: valid in Lua 5.1 and 5.4.
  let out = '"';
  for (const byte of Buffer.from(s, 'utf8')) {
    const ch = String.fromCharCode(byte);
    if (ch === '"' || ch === '\\') out += `\\${ch}`;
    else if (byte >= 0x20 && byte < 0x7f) out += ch;
    else out += `\\${byte.toString().padStart(3, '0')}`;
  }
  return `${out}"`;
}

let workDir = '';

interface Health {
  status: string;
  message: string;
}

function runWith(lua: string, harness: string): Health {
  const r = spawnSync(lua, [harness], { encoding: 'utf8', timeout: 10_000 });
  if (r.error) throw new Error(`${lua} could not run (apt-get install ${lua}): ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${lua} failed: ${r.stderr}`);
  const [status = '', ...rest] = r.stdout.split('\n');
  return { status, message: rest.join('\n') };
}

/** The script's verdict on obj; every interpreter must agree. */
function runHealth(obj: unknown): Health {
  const harness = path.join(workDir, `h-${Math.random().toString(36).slice(2)}.lua`);
  fs.writeFileSync(harness, `obj = ${toLua(obj)}\nlocal hs = dofile(${luaString(SCRIPT)})\nio.write(tostring(hs.status), "\\n", tostring(hs.message))\n`);
  const [first, ...others] = INTERPRETERS.map((lua) => ({ lua, health: runWith(lua, harness) }));
  for (const o of others) expect({ lua: o.lua, health: o.health }).toEqual({ lua: o.lua, health: first!.health });
  return first!.health;
}

let ns: TestNamespace;

function relaySpec(name: string, extra: Record<string, unknown> = {}) {
  return {
    apiVersion: 'smtprelay.dev/v1alpha1',
    kind: 'SmtpRelay',
    metadata: { name, namespace: ns.name, ...extra },
    spec: {
      hostname: 'smtp.example.com',
      tls: { issuerRef: { name: 'letsencrypt', kind: 'ClusterIssuer' } },
      auth: { secretRef: { name: 'relay-users' } },
      upstream: { host: 'email-smtp.eu-west-1.amazonaws.com', port: 587, tls: 'starttls' },
    },
  };
}

async function create(name: string, extra: Record<string, unknown> = {}): Promise<SmtpRelay> {
  const r = await kubectl(['create', '-o', 'json', '-f', '-'], { input: JSON.stringify(relaySpec(name, extra)) });
  if (r.code !== 0) throw new Error(`creating ${name}: ${r.stderr}`);
  return JSON.parse(r.stdout) as SmtpRelay;
}

async function get(name: string): Promise<SmtpRelay> {
  const r = await kubectl(['get', 'smtprelay', name, '-n', ns.name, '-o', 'json']);
  if (r.code !== 0) throw new Error(`reading ${name}: ${r.stderr}`);
  return JSON.parse(r.stdout) as SmtpRelay;
}

async function writeStatus(name: string, status: SmtpRelayStatus): Promise<SmtpRelay> {
  const r = await kubectl(['patch', 'smtprelay', name, '-n', ns.name, '--subresource=status', '--type=merge', '-o', 'json', '-p', JSON.stringify({ status })]);
  if (r.code !== 0) throw new Error(`writing status of ${name}: ${r.stderr}`);
  return JSON.parse(r.stdout) as SmtpRelay;
}

/** What the operator writes after one reconcile that observed `observed`. */
async function reconcile(name: string, observed: Observed, now = new Date()): Promise<SmtpRelay> {
  const current = await get(name);
  return writeStatus(name, computeStatus(current, observed, now));
}

const secretFacts = { notBefore: '2026-01-01T00:00:00Z', notAfter: '2099-01-01T00:00:00Z', fingerprint: 'cd'.repeat(32) };
const healthy: EndpointStatus[] = [
  { name: 'submission', port: 587, mode: 'starttls', healthy: true },
  { name: 'submissions', port: 465, mode: 'implicit', healthy: true },
];
const readyObservation = (replicas = 1): Observed => ({
  problems: [],
  certificate: { ready: 'True' },
  tlsSecret: secretFacts,
  deployment: { generation: 1, observedGeneration: 1, replicas, updatedReplicas: replicas, readyReplicas: replicas, availableReplicas: replicas },
  probe: { enabled: true, endpoints: healthy },
});

beforeAll(async () => {
  workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'argocd-health-'));
  ns = await createTestNamespace('deploy-argocd');
});

afterAll(async () => {
  await ns?.cleanup();
  if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
});

describe('Argo CD health of SmtpRelay (Lua 5.4, real API objects)', () => {
  test('just created, no status: Progressing', async () => {
    const obj = await create('created');
    expect(obj.status).toBeUndefined();
    expect(runHealth(obj)).toEqual({ status: 'Progressing', message: 'Waiting for the operator to report status' });
  });

  test('reconciling (certificate being issued): Progressing with the reason', async () => {
    await create('reconciling');
    const obj = await reconcile('reconciling', { problems: [], probe: { enabled: true } });
    expect(obj.status?.conditions?.find((c) => c.type === 'Reconciling')?.status).toBe('True');
    const h = runHealth(obj);
    expect(h.status).toBe('Progressing');
    expect(h.message).toMatch(/^CertificateIssuing: Waiting for cert-manager/);
  });

  test('ready: Healthy', async () => {
    await create('ready');
    const obj = await reconcile('ready', readyObservation());
    expect(runHealth(obj)).toEqual({ status: 'Healthy', message: 'Ready: The relay serves smtp.example.com with a valid certificate.' });
  });

  test('stalled (missing Secret): Degraded, saying what to do', async () => {
    await create('stalled');
    const obj = await reconcile('stalled', { ...readyObservation(), problems: [{ reason: 'SecretNotFound', message: 'Secret ses-smtp-credentials does not exist in namespace mail. Create it with keys username and password.' }] });
    const h = runHealth(obj);
    expect(h.status).toBe('Degraded');
    expect(h.message).toBe('SecretNotFound: Secret ses-smtp-credentials does not exist in namespace mail. Create it with keys username and password.');
  });

  test('generation ahead of observedGeneration (spec edited, not yet seen): Progressing', async () => {
    await create('edited');
    const ready = await reconcile('edited', readyObservation());
    expect(runHealth(ready).status).toBe('Healthy');
    const r = await kubectl(['patch', 'smtprelay', 'edited', '-n', ns.name, '--type=merge', '-o', 'json', '-p', JSON.stringify({ spec: { replicas: 3 } })]);
    expect(r.code).toBe(0);
    const obj = JSON.parse(r.stdout) as SmtpRelay;
    expect(obj.metadata.generation).toBe(2);
    expect(obj.status?.observedGeneration).toBe(1);
    expect(runHealth(obj)).toEqual({ status: 'Progressing', message: 'Waiting for the operator to observe generation 2 (observed 1)' });
    // Once the operator has seen it and rolled out, Healthy again.
    const caughtUp = await reconcile('edited', readyObservation(3));
    expect(runHealth(caughtUp).status).toBe('Healthy');
  });

  test('TLS probe failing (Ready=False, not stalled): Degraded', async () => {
    await create('tls-bad');
    const endpoints: EndpointStatus[] = [{ ...healthy[0]!, healthy: false, failures: [{ check: 'certificate', result: 'fail', reason: 'StaleCertificateServed', message: 'a rotated certificate has not been picked up' }] }, healthy[1]!];
    const obj = await reconcile('tls-bad', { ...readyObservation(), probe: { enabled: true, endpoints } });
    const h = runHealth(obj);
    expect(h.status).toBe('Degraded');
    expect(h.message).toMatch(/^TLSUnhealthy: /);
  });

  test('scaled to zero on purpose: Suspended, whatever Ready says', async () => {
    await create('zero');
    expect((await kubectl(['patch', 'smtprelay', 'zero', '-n', ns.name, '--type=merge', '-p', '{"spec":{"replicas":0}}'])).code).toBe(0);
    const none = { generation: 2, observedGeneration: 2, replicas: 0, updatedReplicas: 0, readyReplicas: 0, availableReplicas: 0 };
    const obj = await reconcile('zero', { ...readyObservation(), deployment: none, probe: { enabled: true, endpoints: [] } });
    expect(obj.metadata.generation).toBe(2);
    expect(obj.status?.observedGeneration).toBe(2);
    expect(runHealth(obj)).toEqual({ status: 'Suspended', message: 'SmtpRelay is scaled to zero replicas' });
  });

  test('scaled to zero but stalled: Degraded wins', async () => {
    await create('zero-stalled');
    await kubectl(['patch', 'smtprelay', 'zero-stalled', '-n', ns.name, '--type=merge', '-p', '{"spec":{"replicas":0}}']);
    const obj = await reconcile('zero-stalled', { ...readyObservation(), problems: [{ reason: 'SecretNotFound', message: 'Secret relay-users does not exist.' }] });
    expect(runHealth(obj).status).toBe('Degraded');
  });

  test('being deleted (held by a finalizer): Progressing', async () => {
    await create('deleting', { finalizers: ['test.smtprelay.dev/hold'] });
    await reconcile('deleting', readyObservation());
    expect((await kubectl(['delete', 'smtprelay', 'deleting', '-n', ns.name, '--wait=false'])).code).toBe(0);
    const obj = await get('deleting');
    expect(obj.metadata.deletionTimestamp).toBeDefined();
    expect(runHealth(obj)).toEqual({ status: 'Progressing', message: 'SmtpRelay is being deleted' });
    await kubectl(['patch', 'smtprelay', 'deleting', '-n', ns.name, '--type=merge', '-p', '{"metadata":{"finalizers":null}}']);
  });

  test('a failing probe, as the prober reports it (reason code stale-certificate-served), gives a status the API server accepts', async () => {
    // failures[].reason carries the prober's kebab-case codes (src/probe/reasons.ts); the
    // TLSHealthy condition reason must be CamelCase (metav1.Condition pattern in the CRD).
    await create('probe-codes');
    const endpoints: EndpointStatus[] = [{ ...healthy[0]!, healthy: false, failures: [{ check: 'certificate', result: 'fail', reason: 'stale-certificate-served', message: 'a rotated certificate has not been picked up' }] }];
    const current = await get('probe-codes');
    const status = computeStatus(current, { ...readyObservation(), probe: { enabled: true, endpoints } }, new Date());
    const r = await kubectl(['patch', 'smtprelay', 'probe-codes', '-n', ns.name, '--subresource=status', '--type=merge', '-o', 'json', '-p', JSON.stringify({ status })]);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    expect(runHealth(JSON.parse(r.stdout)).status).toBe('Degraded');
  });

  test('the API server refuses a kebab-case condition reason: probe codes must be mapped to CamelCase', async () => {
    await create('kebab');
    const ready = await reconcile('kebab', readyObservation());
    const status = structuredClone(ready.status!);
    status.conditions!.find((c) => c.type === 'TLSHealthy')!.reason = 'stale-certificate-served';
    const r = await kubectl(['patch', 'smtprelay', 'kebab', '-n', ns.name, '--subresource=status', '--type=merge', '-p', JSON.stringify({ status })]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/reason/);
  });
});

describe('toLua', () => {
  test('escapes strings so any JSON text survives', () => {
    const tricky = { s: 'a"b\\c\nd ü ]]', n: 3, f: 1.5, b: false, z: null, arr: [1, 'x'] };
    const file = path.join(os.tmpdir(), `tolua-${process.pid}.lua`);
    fs.writeFileSync(file, `local t = ${toLua(tricky)}\nio.write(t.s, "|", t.n, "|", t.f, "|", tostring(t.b), "|", tostring(t.z), "|", t.arr[2])`);
    try {
      for (const lua of INTERPRETERS) {
        const r = spawnSync(lua, [file], { encoding: 'utf8' });
        expect({ lua, out: r.stdout }).toEqual({ lua, out: 'a"b\\c\nd ü ]]|3|1.5|false|nil|x' });
      }
    } finally {
      fs.rmSync(file, { force: true });
    }
  });
});
