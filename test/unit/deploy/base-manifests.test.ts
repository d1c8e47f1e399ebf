// The operator's own manifests in deploy/base, read as data: what the issue asks
// of the Deployment, and that its arguments are flags the operator really has.
import { describe, expect, test } from '@jest/globals';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { DEFAULT_RELAY_IMAGE, OPERATOR_USAGE } from '../../../src/controller/flags.js';
import { buildDeployment } from '../../../src/controller/builders/deployment.js';
import { METRICS_PORT } from '../../../src/controller/builders/spec.js';
import { repoRoot } from '../../helpers/cli.js';
import { ctx, relay } from '../controller/fixtures.js';

const read = (rel: string) => YAML.parse(fs.readFileSync(path.join(repoRoot, rel), 'utf8'));

const dep = read('deploy/base/deployment.yaml');
const pod = dep.spec.template.spec;
const container = pod.containers[0];
const portOf = (name: string) => container.ports.find((p: { name: string }) => p.name === name)?.containerPort;

describe('operator Deployment', () => {
  test('two replicas with leader election', () => {
    expect(dep.spec.replicas).toBe(2);
    expect(container.args[0]).toBe('operator');
    expect(container.args).toContain('--leader-elect=true');
  });

  test('every argument is a flag the operator accepts', () => {
    for (const arg of container.args.slice(1) as string[]) {
      const flag = arg.split('=')[0]!;
      expect({ flag, known: OPERATOR_USAGE.includes(`  ${flag} `) || OPERATOR_USAGE.includes(`  ${flag}=`) }).toEqual({ flag, known: true });
    }
  });

  test('liveness /healthz and readiness /readyz on the health port 8081, metrics on 8080', () => {
    expect(portOf('health')).toBe(8081);
    expect(portOf('metrics')).toBe(8080);
    expect(container.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'health' });
    expect(container.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'health' });
    expect(container.args).toEqual(expect.arrayContaining(['--health-port=8081', '--metrics-port=8080']));
  });

  test('restricted security context, read-only root with /tmp as emptyDir, token mounted for the API', () => {
    expect(pod.automountServiceAccountToken).toBe(true);
    expect(pod.serviceAccountName).toBe('smtp-relay-operator');
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: 'RuntimeDefault' } });
    expect(container.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    const tmp = container.volumeMounts.find((m: { mountPath: string }) => m.mountPath === '/tmp');
    expect(pod.volumes.find((v: { name: string }) => v.name === tmp.name).emptyDir).toBeDefined();
  });

  test('resources have requests and a memory limit; replicas spread over nodes', () => {
    expect(container.resources.requests).toEqual(expect.objectContaining({ cpu: expect.any(String), memory: expect.any(String) }));
    expect(container.resources.limits.memory).toBeDefined();
    expect(pod.topologySpreadConstraints.map((t: { topologyKey: string }) => t.topologyKey)).toContain('kubernetes.io/hostname');
    for (const t of pod.topologySpreadConstraints) expect(t.labelSelector.matchLabels).toEqual(dep.spec.selector.matchLabels);
  });

  test('the image is fully qualified, the one kustomize rewrites, and the default relay image (RELAY_IMAGE) is the same', () => {
    const k = read('deploy/base/kustomization.yaml');
    const [name, tag] = (container.image as string).split(':');
    // registry/path:tag, so no node resolves a short name against a registry of its choosing.
    expect(name).toMatch(/^[a-z0-9.-]+\.[a-z]{2,}(:\d+)?\/[a-z0-9._/-]+$/);
    expect(k.images).toContainEqual(expect.objectContaining({ name, newTag: tag }));
    const relayImage = container.env.find((e: { name: string }) => e.name === 'RELAY_IMAGE');
    expect(relayImage?.value).toBe(container.image);
    // The flag would win over RELAY_IMAGE, and kustomize cannot rewrite it inside an argument.
    expect((container.args as string[]).some((a) => a.startsWith('--default-relay-image'))).toBe(false);
    expect(k.configurations).toContain('images-config.yaml');
  });

  test('the default relay image of the binary is fully qualified and equals the manifests', () => {
    expect(DEFAULT_RELAY_IMAGE).toBe(container.image);
  });
});

describe('NetworkPolicy', () => {
  const np = read('deploy/base/networkpolicy.yaml');
  test('selects the operator pods and restricts both directions', () => {
    expect(np.spec.podSelector.matchLabels).toEqual(dep.spec.selector.matchLabels);
    expect(np.spec.policyTypes).toEqual(['Ingress', 'Egress']);
  });
  test('ingress: the metrics port only', () => {
    const ports = np.spec.ingress.flatMap((r: { ports: { port: unknown }[] }) => r.ports.map((p) => p.port));
    expect(ports).toEqual(['metrics']);
  });
  test('egress: API server, DNS, and the relays SMTP ports (service and container side)', () => {
    const ports = np.spec.egress.flatMap((r: { ports: { port: number }[] }) => r.ports.map((p) => p.port));
    for (const p of [443, 6443, 53, 587, 465, 8587, 8465]) expect(ports).toContain(p);
    expect(ports).not.toContain(25);
  });

  type EgressRule = { to?: { namespaceSelector?: { matchLabels?: Record<string, string> }; podSelector?: { matchLabels?: Record<string, string> } }[]; ports: { port: number }[] };
  const egress = np.spec.egress as EgressRule[];
  test('egress: only the API server rule has no destination, and it allows 443/6443 alone', () => {
    const open = egress.filter((r) => !r.to);
    expect(open).toHaveLength(1);
    expect(open[0]!.ports.map((p) => p.port).sort()).toEqual([443, 6443]);
  });
  test('egress: DNS only to kube-dns, probes only to relay pods (the labels every relay pod carries)', () => {
    const dns = egress.find((r) => r.ports.some((p) => p.port === 53))!;
    expect(dns.to).toEqual([{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } }, podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } }]);
    const probes = egress.find((r) => r.ports.some((p) => p.port === 8587))!;
    // The queue poller and drain talk to the relay pods' metrics port: same rule, same pods.
    expect(probes.ports.map((p) => p.port)).toContain(METRICS_PORT);
    const relayPod = buildDeployment(relay(), ctx).spec!.template.metadata!.labels!;
    expect(probes.to).toHaveLength(1);
    const selector = probes.to![0]!.podSelector!.matchLabels!;
    expect(Object.keys(selector).length).toBeGreaterThan(0);
    for (const [k, v] of Object.entries(selector)) expect({ k, v: relayPod[k] }).toEqual({ k, v });
  });
});
