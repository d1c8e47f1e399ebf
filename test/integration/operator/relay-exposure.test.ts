// What the operator exposes, against the real API server: the unauthenticated relay
// listener never rides on a LoadBalancer (or NodePort) Service but gets its own ClusterIP
// Service, and every relay gets a NetworkPolicy the API server admits, which fences the
// relay listener to its allowedNetworks. Both follow spec changes and are pruned.
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import type { OperatorHandle } from '../../../src/controller/operator.js';
import type { KubeObject } from '../../../src/kube/types.js';
import { createTestNamespace, waitFor, type TestNamespace } from '../../harness/kube.js';
import { applyRelay, createTlsSecret, createUsersSecret, getChild, getRelay, kubectlOk, relayManifest, runOperatorInProcess } from './helpers.js';

jest.setTimeout(60_000);

let ns: TestNamespace;
let operator: OperatorHandle;

beforeAll(async () => {
  ns = await createTestNamespace('op-exposure');
  await createUsersSecret(ns.name);
  await createTlsSecret(ns.name, 'lb-cert', 'lb.example.test');
  operator = await runOperatorInProcess(ns.name);
});

afterAll(async () => {
  await operator?.stop();
  await ns?.cleanup();
});

interface ServiceSpec {
  type: string;
  ports: { name: string; port: number; nodePort?: number }[];
}
const service = (name: string) => getChild('Service', 'v1', ns.name, name);
const specOf = (svc: KubeObject | undefined) => svc?.spec as ServiceSpec;
const portsOf = (svc: KubeObject | undefined) => specOf(svc).ports.map((p) => `${p.name}/${p.port}`);

const relayListener = { enabled: true, allowedNetworks: ['10.20.0.0/16', 'fd00:10:20::/48'], allowedSenderDomains: ['apps.example.test'] };

describe('a LoadBalancer relay with the relay listener', () => {
  const name = 'lb';

  test('gets a LoadBalancer Service without 2525 and a ClusterIP Service with only 2525', async () => {
    await applyRelay(relayManifest(ns.name, name, { tls: { secretName: 'lb-cert' }, service: { type: 'LoadBalancer', externalTrafficPolicy: 'Local' }, listeners: { relay: relayListener } }));
    const main = await waitFor(() => service(name), { description: 'the main Service', timeoutMs: 20_000, intervalMs: 100 });
    expect(specOf(main).type).toBe('LoadBalancer');
    expect(portsOf(main)).toEqual(['submission/587', 'submissions/465']);

    const internal = await waitFor(() => service(`${name}-internal`), { description: 'the relay listener\'s Service', timeoutMs: 20_000, intervalMs: 100 });
    expect(specOf(internal).type).toBe('ClusterIP');
    expect(portsOf(internal)).toEqual(['relay/2525']);
    // The API server gave node ports to the LoadBalancer's ports only: 2525 is on no node.
    expect(specOf(main).ports.every((p) => typeof p.nodePort === 'number')).toBe(true);
    expect(specOf(internal).ports[0]!.nodePort).toBeUndefined();

    const relay = await getRelay(ns.name, name);
    expect(internal!.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'SmtpRelay', name, uid: relay!.metadata.uid, controller: true })]);
  });

  test('gets a NetworkPolicy that the API server admits: relay port from allowedNetworks only, metrics from the monitoring namespace and the operator pods', async () => {
    const np = await waitFor(() => getChild('NetworkPolicy', 'networking.k8s.io/v1', ns.name, name), { description: 'the NetworkPolicy', timeoutMs: 20_000, intervalMs: 100 });
    const spec = np.spec as { podSelector: unknown; policyTypes: string[]; ingress: { from?: unknown[]; ports: { port: number; protocol: string }[] }[]; egress: { ports: { port: number; protocol: string }[] }[] };
    expect(spec.podSelector).toEqual({ matchLabels: { 'app.kubernetes.io/name': 'smtp-relay', 'app.kubernetes.io/instance': name } });
    expect(spec.policyTypes).toEqual(['Ingress', 'Egress']);
    expect(spec.ingress).toEqual([
      { ports: [{ protocol: 'TCP', port: 8587 }, { protocol: 'TCP', port: 8465 }] },
      { from: [{ ipBlock: { cidr: '10.20.0.0/16' } }, { ipBlock: { cidr: 'fd00:10:20::/48' } }], ports: [{ protocol: 'TCP', port: 2525 }] },
      {
        from: [
          { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } },
          { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'smtp-relay-system' } }, podSelector: { matchLabels: { 'app.kubernetes.io/name': 'smtp-relay-operator', 'app.kubernetes.io/component': 'operator' } } },
        ],
        ports: [{ protocol: 'TCP', port: 9090 }],
      },
    ]);
    expect(spec.egress).toEqual([
      { ports: [{ protocol: 'TCP', port: 587 }] },
      { ports: [{ protocol: 'UDP', port: 53 }, { protocol: 'TCP', port: 53 }] },
    ]);
  });

  test('switching the relay listener off prunes its Service and closes its port in the NetworkPolicy', async () => {
    await kubectlOk(['-n', ns.name, 'patch', 'smtprelay', name, '--type=merge', '-p', JSON.stringify({ spec: { listeners: { relay: { enabled: false } } } })]);
    await waitFor(async () => (await service(`${name}-internal`)) === undefined, { description: 'the relay Service pruned', timeoutMs: 20_000, intervalMs: 100 });
    const np = await waitFor(async () => {
      const p = await getChild('NetworkPolicy', 'networking.k8s.io/v1', ns.name, name);
      const ingress = (p?.spec as { ingress: { ports: { port: number }[] }[] } | undefined)?.ingress ?? [];
      return ingress.length === 2 ? ingress : undefined;
    }, { description: 'the relay rule dropped', timeoutMs: 20_000, intervalMs: 100 });
    expect(np.flatMap((r) => r.ports.map((p) => p.port))).not.toContain(2525);
    expect(portsOf(await service(name))).toEqual(['submission/587', 'submissions/465']);
  });
});

describe('a relay that runs only the relay listener', () => {
  test('gets the ClusterIP relay Service and no main Service (a Service needs a port)', async () => {
    const name = 'apps';
    await createTlsSecret(ns.name, 'apps-cert', 'apps.example.test');
    await applyRelay(
      relayManifest(ns.name, name, {
        tls: { secretName: 'apps-cert' },
        service: { type: 'NodePort' },
        listeners: { submission: { enabled: false }, submissions: { enabled: false }, relay: relayListener },
      }),
    );
    const internal = await waitFor(() => service(`${name}-internal`), { description: 'the relay Service', timeoutMs: 20_000, intervalMs: 100 });
    expect(specOf(internal).type).toBe('ClusterIP');
    expect(portsOf(internal)).toEqual(['relay/2525']);
    await waitFor(async () => (await getRelay(ns.name, name))?.status?.observedGeneration === 1, { description: 'relay observed', timeoutMs: 20_000, intervalMs: 100 });
    expect(await service(name)).toBeUndefined();
    expect(await getChild('NetworkPolicy', 'networking.k8s.io/v1', ns.name, name)).toBeDefined();
  });
});
