// The SmtpRelay CRD against the real kube-apiserver (started by globalSetup, which
// installs crds/): every manifest in test/fixtures/invalid/ is refused with the
// messages its `# expect:` lines name, and every manifest in test/fixtures/valid/
// is accepted and stored with the schema's defaults applied.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { parse } from 'yaml';
import { createTestNamespace, kubectl, type KubectlResult, type TestNamespace } from '../harness/kube.js';
import { repoRoot } from '../helpers/cli.js';
import { type JSONSchemaProps } from '../../src/api/schema-types.js';
import { specSchema } from '../../src/api/schema.js';
import { DEFAULTS } from '../../src/api/types.js';

interface Fixture {
  file: string;
  name: string;
  expects: string[];
  manifest: { metadata: { name: string }; spec?: unknown };
}

function loadFixtures(dir: string): Fixture[] {
  const abs = path.join(repoRoot, 'test', 'fixtures', dir);
  return fs
    .readdirSync(abs)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((f) => {
      const text = fs.readFileSync(path.join(abs, f), 'utf8');
      const expects = [...text.matchAll(/^# expect: (.+)$/gm)].map((m) => m[1]!.trim());
      return { file: path.join(abs, f), name: f.replace(/\.yaml$/, ''), expects, manifest: parse(text) };
    });
}

const invalid = loadFixtures('invalid');
const valid = loadFixtures('valid');

/** Runs jobs with at most `limit` in flight (kubectl processes on a 2-core machine). */
async function pool<T, R>(items: T[], limit: number, job: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      results[i] = await job(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** What the API server's structural defaulting does: fill absent fields with defaults, then descend. */
function applyDefaults(value: unknown, schema: JSONSchemaProps): unknown {
  if (Array.isArray(value)) return value.map((v) => (schema.items ? applyDefaults(v, schema.items) : v));
  if (!value || typeof value !== 'object' || !schema.properties) return value;
  const out: Record<string, unknown> = { ...(value as Record<string, unknown>) };
  for (const [k, s] of Object.entries(schema.properties)) if (out[k] === undefined && s.default !== undefined) out[k] = structuredClone(s.default);
  for (const [k, v] of Object.entries(out)) {
    const s = schema.properties[k];
    if (s) out[k] = applyDefaults(v, s);
  }
  return out;
}

let ns: TestNamespace;
const refused = new Map<string, KubectlResult>();

beforeAll(async () => {
  const crd = await kubectl(['get', 'crd', 'smtprelays.smtprelay.dev', '-o', 'jsonpath={.status.conditions[?(@.type=="Established")].status}']);
  if (crd.stdout !== 'True') throw new Error(`CRD smtprelays.smtprelay.dev is not established (globalSetup installs crds/): ${crd.stderr}`);
  ns = await createTestNamespace('validation');
  const results = await pool(invalid, 4, (f) => kubectl(['apply', '--server-side', '--dry-run=server', '-n', ns.name, '-f', f.file]));
  invalid.forEach((f, i) => refused.set(f.name, results[i]!));
});

afterAll(async () => {
  await ns?.cleanup();
});

describe('the invalid corpus', () => {
  test('has at least 45 manifests, each with at least one expected message', () => {
    expect(invalid.length).toBeGreaterThanOrEqual(45);
    expect(invalid.filter((f) => f.expects.length === 0).map((f) => f.name)).toEqual([]);
  });

  test.each(invalid.map((f) => [f.name, f] as const))('refuses %s', (_name, f) => {
    const r = refused.get(f.name)!;
    expect({ code: r.code === 0 ? 0 : 'non-zero', stdout: r.stdout }).toEqual({ code: 'non-zero', stdout: '' });
    for (const e of f.expects) expect(r.stderr).toContain(e);
  });
});

describe('the valid fixtures', () => {
  const applied = new Map<string, KubectlResult>();
  const stored = new Map<string, { spec: unknown }>();

  beforeAll(async () => {
    await pool(valid, 4, async (f) => {
      const r = await kubectl(['apply', '--server-side', '-n', ns.name, '-f', f.file]);
      applied.set(f.name, r);
      if (r.code !== 0) return;
      const got = await kubectl(['get', 'smtprelay', f.manifest.metadata.name, '-n', ns.name, '-o', 'json']);
      if (got.code === 0) stored.set(f.name, JSON.parse(got.stdout) as { spec: unknown });
    });
  });

  test('include minimal, full, byo-secret and relay-listener', () => {
    expect(valid.map((f) => f.name)).toEqual(expect.arrayContaining(['minimal', 'full', 'byo-secret', 'relay-listener']));
  });

  test.each(valid.map((f) => [f.name, f] as const))('accepts %s and stores it with the schema defaults applied', (_name, f) => {
    expect(applied.get(f.name)?.stderr).toBe('');
    expect(applied.get(f.name)?.code).toBe(0);
    expect(stored.get(f.name)?.spec).toEqual(applyDefaults(f.manifest.spec, specSchema));
  });

  test('minimal gets the documented defaults', () => {
    const spec = stored.get('minimal')?.spec;
    expect(spec).toEqual({
      hostname: 'smtp.example.com',
      replicas: DEFAULTS.replicas,
      listeners: { submission: { enabled: true, port: 587 }, submissions: { enabled: true, port: 465 } },
      tls: { issuerRef: { name: 'letsencrypt', kind: 'Issuer', group: 'cert-manager.io' }, minVersion: 'TLSv1.2', profile: 'intermediate' },
      auth: { secretRef: { name: 'relay-users' } },
      upstream: { host: 'smtp.sendgrid.net', port: 587, tls: 'starttls' },
      policy: { maxMessageBytes: 26214400, maxRecipients: 50 },
      service: { type: 'ClusterIP' },
      healthCheck: { enabled: true, interval: '1m', expiryWarning: '336h' },
      queue: { mode: 'Durable', storage: { size: '1Gi' }, maxAge: '120h', retry: { minBackoff: '300s', maxBackoff: '4000s' } },
    });
  });

  test('a given relay listener gets port 2525, enabled false and empty lists', () => {
    const spec = stored.get('relay-disabled-without-lists')?.spec as { listeners: { relay: unknown } };
    expect(spec.listeners.relay).toEqual({ enabled: false, port: 2600, allowedNetworks: [], allowedSenderDomains: [] });
    const relay = (stored.get('relay-listener')?.spec as { listeners: { relay: { port: number } } }).listeners.relay;
    expect(relay.port).toBe(2525);
  });

  test('status is a subresource: the operator\'s status shape is accepted and feeds the printer columns', async () => {
    const status = {
      observedGeneration: 1,
      replicas: 2,
      readyReplicas: 2,
      tlsHealth: 'Healthy',
      queue: { state: 'Backlog' },
      certificate: { secretName: 'minimal-tls', notBefore: '2026-11-01T00:00:00Z', notAfter: '2099-01-30T00:00:00Z', fingerprint: 'ab'.repeat(32) },
      conditions: [{ type: 'Ready', status: 'True', observedGeneration: 1, lastTransitionTime: '2026-11-28T12:00:00Z', reason: 'Ready', message: 'The relay serves mail.' }],
      endpoints: [
        { name: 'submission', port: 587, mode: 'starttls', healthy: true, tlsVersion: 'TLSv1.3', failures: [{ check: 'ocsp', result: 'warn', reason: 'ocsp-not-stapled' }] },
        { name: 'submissions', port: 465, mode: 'implicit', healthy: true },
      ],
    };
    const patched = await kubectl(['patch', 'smtprelay', 'minimal', '-n', ns.name, '--subresource=status', '--type=merge', '-p', JSON.stringify({ status })]);
    expect(patched.stderr).toBe('');

    const table = await kubectl(['get', 'smtprelays', 'minimal', '-n', ns.name]);
    const [header, row] = table.stdout.trim().split('\n');
    expect(header!.split(/\s{2,}/)).toEqual(['NAME', 'HOSTNAME', 'READY', 'TLS', 'QUEUE', 'CERT EXPIRY', 'AGE']);
    expect(row!.split(/\s{2,}/).slice(0, 6)).toEqual(['minimal', 'smtp.example.com', 'True', 'Healthy', 'Backlog', '2099-01-30T00:00:00Z']);

    const wide = await kubectl(['get', 'smtpr', 'minimal', '-n', ns.name, '-o', 'wide']);
    const [wideHeader, wideRow] = wide.stdout.trim().split('\n');
    expect(wideHeader!.split(/\s{2,}/).slice(-2)).toEqual(['REASON', 'REPLICAS']);
    expect(wideRow!.split(/\s{2,}/).slice(-2)).toEqual(['Ready', '2']);
  });

  test('the status subresource refuses a malformed condition', async () => {
    const bad = { status: { conditions: [{ type: 'Ready', status: 'Maybe', lastTransitionTime: '2026-11-28T12:00:00Z', reason: 'Ready', message: '' }] } };
    const r = await kubectl(['patch', 'smtprelay', 'minimal', '-n', ns.name, '--subresource=status', '--type=merge', '-p', JSON.stringify(bad)]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('status.conditions[0].status: Unsupported value: "Maybe"');
  });

  test('kubectl explain shows the schema descriptions', async () => {
    const r = await kubectl(['explain', 'smtprelay.spec.upstream.allowInsecurePlaintext']);
    expect(r.stdout).toContain('The loud opt-in for tls: none-insecure');
  });
});
