// The operator's allow-lists on the real API server (issue 11 item 10): a relay that asks
// for an image, a ClusterIssuer or an upstream host the operator does not allow, or sets
// an annotation the operator interprets, is Stalled with a stable reason and a message
// naming the flag; nothing is applied for it, and a relay that was running keeps the
// children it had.
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import type { SmtpRelay, SmtpRelaySpec } from '../../../src/api/types.js';
import type { OperatorHandle } from '../../../src/controller/operator.js';
import { createTestNamespace, kubectl, waitFor, type TestNamespace } from '../../harness/kube.js';
import { applyRelay, condition, createTlsSecret, createUsersSecret, getRelay, relayManifest, runOperatorInProcess } from '../operator/helpers.js';

jest.setTimeout(90_000);

const DEFAULT_RELAY_IMAGE = 'registry.example.test/default-relay:1.0.0';
const FLAGS = [`--default-relay-image=${DEFAULT_RELAY_IMAGE}`, '--allowed-relay-images=registry.example.test/smtp-relay:*', '--allowed-cluster-issuers=letsencrypt-prod', '--allowed-upstream-hosts=*.example.test'];

let ns: TestNamespace;
let operator: OperatorHandle;

beforeAll(async () => {
  ns = await createTestNamespace('tenancy');
  await createUsersSecret(ns.name);
  await createTlsSecret(ns.name, 'relay-cert', 'relay.example.test');
  await kubectl(['-n', ns.name, 'create', 'secret', 'generic', 'upstream-creds', '--from-literal=username=u', '--from-literal=password=p']);
  operator = await runOperatorInProcess(ns.name, FLAGS);
});

afterAll(async () => {
  await operator?.stop();
  await ns?.cleanup();
});

const relay = (name: string, spec: Partial<SmtpRelaySpec>): SmtpRelay => relayManifest(ns.name, name, { tls: { secretName: 'relay-cert' }, ...spec });

async function observed(name: string): Promise<SmtpRelay> {
  return waitFor(async () => {
    const r = await getRelay(ns.name, name);
    return r && r.status?.observedGeneration === r.metadata.generation ? r : undefined;
  }, { description: `${name} observed`, timeoutMs: 30_000, intervalMs: 200 });
}

type Child = { kind: string; metadata: { name: string; resourceVersion: string }; spec?: { template?: { spec?: { containers?: { image: string }[] } } } };

/** Every child the operator made for a relay (by its instance label), whatever kinds the builders produce. */
async function childrenOf(name: string): Promise<Child[]> {
  const r = await kubectl(['-n', ns.name, 'get', 'deployments,statefulsets,services,configmaps,poddisruptionbudgets,networkpolicies', '-l', `app.kubernetes.io/instance=${name}`, '-o', 'json']);
  if (r.code !== 0) throw new Error(r.stderr);
  return (JSON.parse(r.stdout) as { items: Child[] }).items;
}

const workloadImage = (children: Child[]) => children.find((c) => c.kind === 'Deployment' || c.kind === 'StatefulSet')?.spec?.template?.spec?.containers?.[0]?.image;
const versions = (children: Child[]) => Object.fromEntries(children.map((c) => [`${c.kind}/${c.metadata.name}`, c.metadata.resourceVersion]));

async function expectRefused(name: string, spec: Partial<SmtpRelaySpec>, reason: string, flagOrKey: string): Promise<void> {
  await applyRelay(relay(name, spec));
  const r = await observed(name);
  const stalled = condition(r, 'Stalled');
  expect({ status: stalled?.status, reason: stalled?.reason }).toEqual({ status: 'True', reason });
  expect(stalled?.message).toContain(flagOrKey);
  expect(condition(r, 'Ready')?.status).toBe('False');
  expect(await childrenOf(name)).toEqual([]);
}

describe('operator allow-lists', () => {
  test('within the lists: the default image and an allowed image are deployed', async () => {
    await applyRelay(relay('plain', {}));
    await applyRelay(relay('custom', { image: 'registry.example.test/smtp-relay:0.2.0' }));
    for (const [name, image] of [['plain', DEFAULT_RELAY_IMAGE], ['custom', 'registry.example.test/smtp-relay:0.2.0']] as const) {
      const r = await observed(name);
      expect(condition(r, 'Stalled')?.status).toBe('False');
      expect(workloadImage(await childrenOf(name))).toBe(image);
    }
  });

  test('spec.image not allowed: ImageNotAllowed, nothing applied', async () => {
    await expectRefused('bad-image', { image: 'docker.io/attacker/relay:latest' }, 'ImageNotAllowed', '--allowed-relay-images');
  });

  test('a ClusterIssuer not allowed: IssuerNotAllowed, nothing applied', async () => {
    await expectRefused('bad-issuer', { tls: { issuerRef: { name: 'corp-internal-ca', kind: 'ClusterIssuer' } } }, 'IssuerNotAllowed', '--allowed-cluster-issuers');
  });

  test('an upstream host not allowed: UpstreamHostNotAllowed, nothing applied (the credentials Secret is never sent there)', async () => {
    await expectRefused('bad-host', { upstream: { host: 'collector.attacker.example', passwordSecretRef: { name: 'upstream-creds' } } }, 'UpstreamHostNotAllowed', '--allowed-upstream-hosts');
  });

  test.each([
    ['pod', { pod: { annotations: { 'smtprelay.dev/config-checksum': 'pinned' } } }, 'smtprelay.dev/config-checksum'],
    ['service', { service: { annotations: { 'local.smtprelay.dev/endpoints': '{"submission":"10.0.0.1:25"}' } } }, 'local.smtprelay.dev/endpoints'],
  ] as const)('a reserved annotation on the %s is refused', async (where, spec, key) => {
    const name = `reserved-${where}`;
    const applied = await kubectl(['apply', '-f', '-'], { input: JSON.stringify(relay(name, spec as Partial<SmtpRelaySpec>)) });
    if (applied.code !== 0) {
      // Refused by the API server (a CEL rule in the CRD): the message names the key.
      expect(applied.stderr).toContain(key.split('/')[0]);
      return;
    }
    const r = await observed(name);
    expect({ status: condition(r, 'Stalled')?.status, reason: condition(r, 'Stalled')?.reason }).toEqual({ status: 'True', reason: 'InvalidSpec' });
    expect(condition(r, 'Stalled')?.message).toContain(key);
    expect(await childrenOf(name)).toEqual([]);
  });

  test('a running relay switched to a refused image keeps its children as they were', async () => {
    const before = await childrenOf('plain');
    const r = await getRelay(ns.name, 'plain');
    await applyRelay({ ...relay('plain', { image: 'docker.io/attacker/relay:latest' }) });
    const after = await waitFor(async () => {
      const got = await getRelay(ns.name, 'plain');
      return got && got.metadata.generation! > r!.metadata.generation! && got.status?.observedGeneration === got.metadata.generation ? got : undefined;
    }, { description: 'plain observed after the image change', timeoutMs: 30_000, intervalMs: 200 });
    expect(condition(after, 'Stalled')?.reason).toBe('ImageNotAllowed');
    const now = await childrenOf('plain');
    expect(now.length).toBeGreaterThan(0);
    expect(versions(now)).toEqual(versions(before));
    expect(workloadImage(now)).toBe(DEFAULT_RELAY_IMAGE);
  });
});
