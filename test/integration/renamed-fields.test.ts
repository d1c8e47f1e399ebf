// What the real API server does with a manifest that still uses a field name renamed in
// v1alpha1 (src/api/renamed.ts), as the reference's "Renamed in v1alpha1" note says: server-side
// apply always refuses it, naming the field; client-side kubectl apply refuses it too (strict
// field validation is its default), and only with --validate=warn or false is the object stored
// with the field dropped. An old required field is refused either way.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { stringify } from 'yaml';
import { createTestNamespace, kubectl, type TestNamespace } from '../harness/kube.js';

let ns: TestNamespace;

beforeAll(async () => {
  ns = await createTestNamespace('renamed');
});

afterAll(async () => {
  await ns?.cleanup();
});

const oldRelay = (name: string) => ({
  apiVersion: 'smtprelay.dev/v1alpha1',
  kind: 'SmtpRelay',
  metadata: { name },
  spec: {
    hostname: 'smtp.example.com',
    tls: { issuerRef: { name: 'letsencrypt' }, additionalDnsNames: ['mx2.example.com'] },
    auth: { secretRef: { name: 'relay-users' } },
    upstream: { host: 'smtp.sendgrid.net' },
  },
});

const apply = (obj: unknown, ...flags: string[]) => kubectl(['apply', ...flags, '-n', ns.name, '-f', '-'], { input: stringify(obj) });

describe('a manifest with an old field name', () => {
  test.each([[[]], [['--validate=false']]])('kubectl apply --server-side %p refuses it, naming the old field', async (flags: string[]) => {
    const name = `ssa${flags.length}`;
    const r = await apply(oldRelay(name), '--server-side', ...flags);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('.spec.tls.additionalDnsNames: field not declared in schema');
    expect((await kubectl(['get', 'smtprelay', name, '-n', ns.name])).code).not.toBe(0);
  });

  test('client-side kubectl apply (strict validation by default) refuses it, naming the old field', async () => {
    const r = await apply(oldRelay('csa-strict'));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('unknown field "spec.tls.additionalDnsNames"');
  });

  test.each([
    ['--validate=warn', 'with a warning naming it', 'Warning: unknown field "spec.tls.additionalDnsNames"'],
    ['--validate=false', 'silently', ''],
  ])('client-side kubectl apply %s stores it and drops the old field %s', async (flag, _how, warning) => {
    const name = `csa-${flag.slice('--validate='.length)}`;
    const r = await apply(oldRelay(name), flag);
    expect(r.code).toBe(0);
    if (warning) expect(r.stderr).toContain(warning);
    else expect(r.stderr).toBe('');
    const stored = JSON.parse((await kubectl(['get', 'smtprelay', name, '-n', ns.name, '-o', 'json'])).stdout) as { spec: { tls: Record<string, unknown> } };
    expect(Object.keys(stored.spec.tls).sort()).toEqual(['issuerRef', 'minVersion', 'profile']);
  });

  test('an SmtpUser with the old spec.connectionSecret is refused even without strict validation: connectionSecretRef is required', async () => {
    const user = {
      apiVersion: 'smtprelay.dev/v1alpha1',
      kind: 'SmtpUser',
      metadata: { name: 'billing' },
      spec: { relayRef: { name: 'outbound', namespace: ns.name }, senders: ['billing@example.com'], connectionSecret: { name: 'smtp-billing' } },
    };
    const r = await apply(user, '--validate=false');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('spec.connectionSecretRef: Required value');
  });
});
