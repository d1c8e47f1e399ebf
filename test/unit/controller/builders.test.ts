import { describe, expect, test } from '@jest/globals';
import { Certificate } from '@kubernetes-models/cert-manager/cert-manager.io/v1/Certificate';
import { MOUNTS, RELAY_CONFIG_KEY, type RelayConfig } from '../../../src/common/relay-config.js';
import {
  buildCertificate,
  buildConfigMap,
  buildDeployment,
  buildPodDisruptionBudget,
  buildService,
  CHECKSUM_ANNOTATION,
  configChecksum,
  desiredChildren,
  names,
  parseDuration,
} from '../../../src/controller/builders/index.js';
import { ctx, relay } from './fixtures.js';

const podSpec = (r = relay()) => buildDeployment(r, ctx).spec!.template.spec!;
const container = (r = relay()) => podSpec(r).containers[0]!;
const checksum = (r: ReturnType<typeof relay>, c = ctx) => buildDeployment(r, c).spec!.template.metadata!.annotations![CHECKSUM_ANNOTATION];

describe('every child', () => {
  test('carries a controller owner reference to the relay and our labels', () => {
    const children = desiredChildren(relay({ replicas: 3 }), ctx);
    expect(children.map((c) => c.kind).sort()).toEqual(['Certificate', 'ConfigMap', 'Deployment', 'PodDisruptionBudget', 'Service']);
    for (const child of children) {
      expect(child.metadata.namespace).toBe('team-a');
      expect(child.metadata.ownerReferences).toEqual([
        { apiVersion: 'smtprelay.dev/v1alpha1', kind: 'SmtpRelay', name: 'mail', uid: 'uid-1234', controller: true, blockOwnerDeletion: true },
      ]);
      expect(child.metadata.labels).toEqual({
        'app.kubernetes.io/name': 'smtp-relay',
        'app.kubernetes.io/instance': 'mail',
        'app.kubernetes.io/managed-by': 'smtp-relay-operator',
        'app.kubernetes.io/component': 'relay',
      });
    }
  });

  test('is the same object for the same input (pure)', () => {
    expect(JSON.stringify(desiredChildren(relay(), ctx))).toBe(JSON.stringify(desiredChildren(relay(), ctx)));
  });
});

describe('Deployment', () => {
  test('runs under restricted Pod Security', () => {
    const pod = podSpec();
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: 'RuntimeDefault' } });
    expect(container().securityContext).toEqual({
      runAsNonRoot: true,
      runAsUser: 65532,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      privileged: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(pod.terminationGracePeriodSeconds).toBe(60);
  });

  test('runs the relay command with the mounted config and probes on the metrics port', () => {
    const c = container();
    expect(c.args).toEqual(['relay', '--config', '/etc/smtp-relay/config/relay.json']);
    expect(c.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
    expect(c.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'metrics' });
    expect(c.ports?.map((p) => [p.name, p.containerPort])).toEqual([['submission', 8587], ['submissions', 8465], ['metrics', 9090]]);
  });

  test('uses the default image unless spec.image is set', () => {
    expect(container().image).toBe(ctx.defaultImage);
    expect(container(relay({ image: 'registry.local/relay:2' })).image).toBe('registry.local/relay:2');
  });

  test('mounts each referenced Secret at its MOUNTS path and scratch space in emptyDirs', () => {
    const r = relay({
      auth: { secretRef: { name: 'users' } },
      upstream: { host: 'u', credentialsSecretRef: { name: 'up-creds' }, caSecretRef: { name: 'up-ca' } },
      dkim: { selector: 's1', domain: 'example.com', keySecretRef: { name: 'dkim-key' } },
    });
    const pod = podSpec(r);
    const mounts = Object.fromEntries(container(r).volumeMounts!.map((m) => [m.mountPath, m.name]));
    const secretOf = (volume: string) => pod.volumes!.find((v) => v.name === volume)?.secret?.secretName;
    expect(secretOf(mounts[MOUNTS.tls]!)).toBe('mail-tls');
    expect(secretOf(mounts[MOUNTS.users]!)).toBe('users');
    expect(secretOf(mounts[MOUNTS.upstreamCredentials]!)).toBe('up-creds');
    expect(secretOf(mounts[MOUNTS.upstreamCa]!)).toBe('up-ca');
    expect(secretOf(mounts[MOUNTS.dkim]!)).toBe('dkim-key');
    expect(pod.volumes!.find((v) => v.name === mounts['/tmp'])?.emptyDir).toBeDefined();
    expect(pod.volumes!.find((v) => v.name === mounts[MOUNTS.config])?.configMap?.name).toBe('mail-config');
  });

  test('mounts the user-provided TLS Secret when spec.tls.secretName is set', () => {
    const pod = podSpec(relay({ tls: { secretName: 'my-cert' } }));
    expect(pod.volumes!.find((v) => v.name === 'tls')?.secret?.secretName).toBe('my-cert');
  });

  test('checksum changes when the config or a referenced Secret version changes, and not otherwise', () => {
    const base = checksum(relay());
    expect(base).toMatch(/^[0-9a-f]{64}$/);
    expect(checksum(relay())).toBe(base);
    expect(checksum(relay({ hostname: 'other.example.com' }))).not.toBe(base);
    expect(checksum(relay(), { ...ctx, secretVersions: { 'mail-tls': '101' } })).not.toBe(base);
    // A Secret the relay does not reference does not roll the pods.
    expect(checksum(relay(), { ...ctx, secretVersions: { ...ctx.secretVersions, unrelated: '5' } })).toBe(base);
    // Nor does a change that does not reach the pods' inputs (replicas).
    expect(checksum(relay({ replicas: 3 }))).toBe(base);
    expect(configChecksum(relay(), ctx)).toBe(base);
  });

  test('applies pod overrides and spreads replicas over nodes by default', () => {
    const one = podSpec(relay());
    expect(one.topologySpreadConstraints).toBeUndefined();
    const three = podSpec(relay({ replicas: 3 }));
    expect(three.topologySpreadConstraints).toEqual([
      expect.objectContaining({ topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: { 'app.kubernetes.io/name': 'smtp-relay', 'app.kubernetes.io/instance': 'mail' } } }),
    ]);
    const custom = relay({
      replicas: 2,
      pod: {
        resources: { limits: { memory: '1Gi' } },
        nodeSelector: { pool: 'mail' },
        tolerations: [{ key: 'mail', operator: 'Exists' }],
        affinity: { nodeAffinity: {} },
        topologySpreadConstraints: [{ maxSkew: 2, topologyKey: 'zone', whenUnsatisfiable: 'DoNotSchedule' }],
        annotations: { team: 'a' },
      },
    });
    const pod = podSpec(custom);
    expect(pod.nodeSelector).toEqual({ pool: 'mail' });
    expect(pod.tolerations).toEqual([{ key: 'mail', operator: 'Exists' }]);
    expect(pod.affinity).toEqual({ nodeAffinity: {} });
    expect(pod.topologySpreadConstraints).toEqual([{ maxSkew: 2, topologyKey: 'zone', whenUnsatisfiable: 'DoNotSchedule' }]);
    expect(container(custom).resources).toEqual({ limits: { memory: '1Gi' } });
    expect(buildDeployment(custom, ctx).spec!.template.metadata!.annotations!.team).toBe('a');
  });

  test('defaults replicas to 1 and selects pods by the stable labels only', () => {
    const d = buildDeployment(relay(), ctx);
    expect(d.spec!.replicas).toBe(1);
    expect(d.spec!.selector.matchLabels).toEqual({ 'app.kubernetes.io/name': 'smtp-relay', 'app.kubernetes.io/instance': 'mail' });
  });
});

describe('ConfigMap', () => {
  test('renders the RelayConfig the relay reads, with defaults', () => {
    const cm = buildConfigMap(relay(), ctx);
    expect(cm.metadata.name).toBe('mail-config');
    const config = JSON.parse((cm.data as Record<string, string>)[RELAY_CONFIG_KEY]!) as RelayConfig;
    expect(config.hostname).toBe('smtp.example.com');
    expect(config.listeners).toEqual([
      { name: 'submission', port: 8587, mode: 'starttls' },
      { name: 'submissions', port: 8465, mode: 'implicit' },
    ]);
    expect(config.tls).toEqual({ dir: MOUNTS.tls, minVersion: 'TLSv1.2', profile: 'intermediate' });
    expect(config.upstream).toEqual({ host: 'upstream.example.net', port: 587, tls: 'starttls' });
    expect(config.policy).toEqual({ allowedSenderDomains: [], maxMessageBytes: 26214400, maxRecipients: 100 });
    expect(config.usersDir).toBeUndefined();
    expect(config.metricsPort).toBe(9090);
  });

  test('points at the mounted Secrets and carries the relay listener policy', () => {
    const r = relay({
      auth: { secretRef: { name: 'users' } },
      upstream: { host: 'u', port: 465, tls: 'implicit', credentialsSecretRef: { name: 'c' }, caSecretRef: { name: 'ca' } },
      listeners: { relay: { allowedNetworks: ['10.0.0.0/8'], allowedSenderDomains: ['example.com'] }, submissions: { enabled: false } },
      policy: { rateLimit: { messagesPerMinute: 30 } },
    });
    const config = JSON.parse((buildConfigMap(r, ctx).data as Record<string, string>)[RELAY_CONFIG_KEY]!) as RelayConfig;
    expect(config.usersDir).toBe(MOUNTS.users);
    expect(config.upstream).toEqual({ host: 'u', port: 465, tls: 'implicit', credentialsDir: MOUNTS.upstreamCredentials, caDir: MOUNTS.upstreamCa });
    expect(config.listeners.map((l) => l.name)).toEqual(['submission', 'relay']);
    expect(config.listeners[1]).toEqual({ name: 'relay', port: 2525, mode: 'starttls', allowedNetworks: ['10.0.0.0/8'], allowedSenderDomains: ['example.com'] });
    expect(config.policy.rateLimit).toEqual({ messagesPerMinute: 30, burst: 30 });
  });
});

describe('Service', () => {
  test('exposes submission and submissions on the standard ports via named target ports', () => {
    const svc = buildService(relay());
    expect(svc.spec!.type).toBe('ClusterIP');
    expect(svc.spec!.ports!.map((p) => [p.name, p.port, p.targetPort])).toEqual([['submission', 587, 'submission'], ['submissions', 465, 'submissions']]);
    expect(svc.spec!.selector).toEqual({ 'app.kubernetes.io/name': 'smtp-relay', 'app.kubernetes.io/instance': 'mail' });
    expect(svc.spec!.externalTrafficPolicy).toBeUndefined();
  });

  test('takes type, annotations, traffic and IP family policy from spec.service, and the relay port when enabled', () => {
    const svc = buildService(
      relay({
        service: { type: 'LoadBalancer', annotations: { 'lb.example/internal': 'true' }, externalTrafficPolicy: 'Local', ipFamilyPolicy: 'PreferDualStack' },
        listeners: { relay: { allowedNetworks: ['10.0.0.0/8'], allowedSenderDomains: ['example.com'] } },
      }),
    );
    expect(svc.spec).toMatchObject({ type: 'LoadBalancer', externalTrafficPolicy: 'Local', ipFamilyPolicy: 'PreferDualStack' });
    expect(svc.metadata.annotations).toEqual({ 'lb.example/internal': 'true' });
    expect(svc.spec!.ports!.map((p) => p.name)).toEqual(['submission', 'submissions', 'relay']);
  });
});

describe('Certificate', () => {
  test('asks cert-manager for the hostname and extra names only: no Service DNS names, which public ACME issuers refuse', () => {
    const cert = buildCertificate(relay({ tls: { issuerRef: { name: 'test-ca', kind: 'ClusterIssuer' }, additionalDnsNames: ['mx.example.com'], duration: '2160h', renewBefore: '360h' } }))!;
    expect(cert.metadata.name).toBe(names.certificate(relay()));
    expect(cert.spec).toMatchObject({
      secretName: 'mail-tls',
      dnsNames: ['smtp.example.com', 'mx.example.com'],
      issuerRef: { name: 'test-ca', kind: 'ClusterIssuer', group: 'cert-manager.io' },
      duration: '2160h',
      renewBefore: '360h',
      privateKey: { algorithm: 'ECDSA', size: 256, rotationPolicy: 'Always' },
    });
    expect((cert.spec!.dnsNames ?? []).filter((n) => n.endsWith('.svc') || n.endsWith('.cluster.local'))).toEqual([]);
    // Valid against cert-manager's own schema.
    expect(() => new Certificate(cert as never).validate()).not.toThrow();
  });

  test('defaults the issuer kind to Issuer and omits duration when not given', () => {
    const cert = buildCertificate(relay({ tls: { issuerRef: { name: 'local' } } }))!;
    expect(cert.spec!.issuerRef).toEqual({ name: 'local', kind: 'Issuer', group: 'cert-manager.io' });
    expect(cert.spec!.duration).toBeUndefined();
  });

  test('is not built when the relay brings its own Secret', () => {
    expect(buildCertificate(relay({ tls: { secretName: 'byo' } }))).toBeUndefined();
    expect(desiredChildren(relay({ tls: { secretName: 'byo' } }), ctx).map((c) => c.kind)).not.toContain('Certificate');
  });
});

describe('PodDisruptionBudget', () => {
  test('exists only with more than one replica', () => {
    expect(buildPodDisruptionBudget(relay())).toBeUndefined();
    expect(buildPodDisruptionBudget(relay({ replicas: 1 }))).toBeUndefined();
    const pdb = buildPodDisruptionBudget(relay({ replicas: 2 }))!;
    expect(pdb.spec).toEqual({ maxUnavailable: 1, selector: { matchLabels: { 'app.kubernetes.io/name': 'smtp-relay', 'app.kubernetes.io/instance': 'mail' } } });
  });
});

test('parseDuration reads Go durations and rejects junk', () => {
  expect(parseDuration('1m')).toBe(60_000);
  expect(parseDuration('336h')).toBe(336 * 3_600_000);
  expect(parseDuration('1h30m')).toBe(5_400_000);
  expect(parseDuration('5x')).toBeUndefined();
  expect(parseDuration('')).toBeUndefined();
});
