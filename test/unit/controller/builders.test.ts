import { describe, expect, test } from '@jest/globals';
import { Certificate } from '@kubernetes-models/cert-manager/cert-manager.io/v1/Certificate';
import { MOUNTS, RELAY_CONFIG_KEY, type RelayConfig } from '../../../src/common/relay-config.js';
import { validateRelayConfig } from '../../../src/relay/config.js';
import {
  buildCertificate,
  buildConfigMap,
  buildDeployment,
  buildPodDisruptionBudget,
  buildNetworkPolicy,
  buildRelayService,
  buildService,
  buildStatefulSet,
  CHECKSUM_ANNOTATION,
  CHILD_KINDS,
  configChecksum,
  desiredChildren,
  names,
  parseDuration,
  primaryServiceName,
  renderRelayConfig,
  renderRelayConfigJson,
} from '../../../src/controller/builders/index.js';
import { ctx, relay } from './fixtures.js';
import type { SmtpRelaySpec } from '../../../src/api/types.js';
import { LIMITS } from '../../../src/api/schema.js';

const podSpec = (r = relay()) => buildDeployment(r, ctx).spec!.template.spec!;
const container = (r = relay()) => podSpec(r).containers[0]!;
const checksum = (r: ReturnType<typeof relay>, c = ctx) => buildDeployment(r, c).spec!.template.metadata!.annotations![CHECKSUM_ANNOTATION];

describe('every child', () => {
  test('carries a controller owner reference to the relay and our labels', () => {
    const children = desiredChildren(relay({ replicas: 3 }), ctx);
    expect(children.map((c) => c.kind).sort()).toEqual(['Certificate', 'ConfigMap', 'Deployment', 'NetworkPolicy', 'PodDisruptionBudget', 'Service']);
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

  test('each child kind is in CHILD_KINDS (informed and pruned), in apply order', () => {
    const children = desiredChildren(relay({ replicas: 3, listeners: { relay: { enabled: true, allowedNetworks: ['10.0.0.0/8'], allowedSenderDomains: ['example.com'] } } }), ctx);
    const order = CHILD_KINDS.map((k) => k.kind) as string[];
    expect(children.map((c) => `${c.kind}/${c.metadata.name}`)).toEqual([
      'ConfigMap/mail-config',
      'NetworkPolicy/mail',
      'Certificate/mail',
      'Service/mail',
      'Service/mail-internal',
      'Deployment/mail',
      'PodDisruptionBudget/mail',
    ]);
    for (const c of children) expect(CHILD_KINDS.find((k) => k.kind === c.kind)?.apiVersion).toBe(c.apiVersion);
    const positions = children.map((c) => order.indexOf(c.kind));
    expect(positions).toEqual([...positions].sort((a, b) => a - b));
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
    // Keeps accepting while kube-proxy drops the terminating pod's endpoint (no shell: the sleep action).
    expect(container().lifecycle).toEqual({ preStop: { sleep: { seconds: 5 } } });
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
      upstream: { host: 'u', passwordSecretRef: { name: 'up-creds' }, caSecretRef: { name: 'up-ca' } },
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

  test('the spool emptyDir holds a largest message in every DATA slot, so spilling never gets the pod evicted', () => {
    const spool = (r: ReturnType<typeof relay>) => podSpec(r).volumes!.find((v) => v.name === 'spool')!.emptyDir!.sizeLimit;
    // Default: 25 MiB x 20 DATA slots (upstream pool 10 x 2) + 64 Mi headroom.
    expect(spool(relay())).toBe('564Mi');
    expect(spool(relay({ policy: { maxMessageBytes: 104857600 } }))).toBe('2064Mi');
    expect(spool(relay({ policy: { maxMessageBytes: 1024 } }))).toBe('256Mi');
    expect(container().volumeMounts!.find((m) => m.name === 'spool')?.mountPath).toBe(MOUNTS.spool);
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

  test('applies pod overrides and spreads replicas over nodes by default, whatever the replica count', () => {
    const one = podSpec(relay());
    const three = podSpec(relay({ replicas: 3 }));
    // One pod carries the same constraint (ScheduleAnyway), so scaling 1 <-> 3 rolls nothing.
    expect(one.topologySpreadConstraints).toEqual(three.topologySpreadConstraints);
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

  test('gives the relay container the measured default resources in both workloads, unless spec.pod.resources replaces them', () => {
    // The figures behind them: bench/relay-footprint.ts, docs/benchmarks.md "Relay footprint".
    const defaults = { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '384Mi' } };
    expect(container(relay({ queue: { mode: 'PassThrough' } })).resources).toEqual(defaults);
    expect(buildStatefulSet(relay({ queue: { mode: 'Durable' } }), ctx).spec!.template.spec!.containers[0]!.resources).toEqual(defaults);
    // No CPU limit by default: throttling stalls every session's TLS at once.
    expect(container().resources!.limits).not.toHaveProperty('cpu');
    // Whole replacement, not a merge: a user's requests-only block gets no default limit.
    expect(container(relay({ pod: { resources: { requests: { cpu: '1' } } } })).resources).toEqual({ requests: { cpu: '1' } });
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
    expect(config.policy).toEqual({ allowedSenderDomains: [], maxMessageBytes: 26214400, maxRecipients: 50 });
    expect(config.usersDir).toBeUndefined();
    expect(config.metricsPort).toBe(9090);
    expect(config.spoolDir).toBe(MOUNTS.spool);
    expect(config.limits).toEqual({
      maxConnections: 200,
      socketTimeoutMs: 300_000,
      closeTimeoutMs: 30_000,
      authFailuresPerMinute: 10,
      authFailureWindowMs: 60_000,
      maxConnectionsPerClient: 20,
      connectionRatePerMinute: 120,
    });
    expect(config.policy.senderLogins).toBeUndefined();
    expect(config.listeners.some((l) => l.proxyProtocol)).toBe(false);
  });

  test('renders spec.limits, spec.auth.senders and the listeners\' PROXY protocol opt-in', () => {
    const r = relay({
      auth: { secretRef: { name: 'users' }, senders: [{ user: 'billing-app', allowed: ['billing@example.com', '@invoices.example.com'] }, { user: 'alerts', allowed: ['@example.org'] }] },
      limits: { maxConnectionsPerClient: 5, connectionRatePerMinute: 30, authFailuresPerMinute: 3, authFailureWindow: '1h30m' },
      listeners: {
        submission: { proxyProtocol: { trustedProxies: ['10.0.0.0/8', 'fd00:10::/64'] } },
        relay: { enabled: true, allowedNetworks: ['10.0.0.0/8'], allowedSenderDomains: ['example.com'] },
      },
    });
    const config = renderRelayConfig(r);
    expect(config.limits).toMatchObject({ authFailuresPerMinute: 3, authFailureWindowMs: 5_400_000, maxConnectionsPerClient: 5, connectionRatePerMinute: 30 });
    expect(config.policy.senderLogins).toEqual({ 'billing-app': ['billing@example.com', '@invoices.example.com'], alerts: ['@example.org'] });
    expect(config.listeners).toEqual([
      { name: 'submission', port: 8587, mode: 'starttls', proxyProtocol: { trustedProxies: ['10.0.0.0/8', 'fd00:10::/64'] } },
      { name: 'submissions', port: 8465, mode: 'implicit' },
      { name: 'relay', port: 2525, mode: 'starttls', allowedNetworks: ['10.0.0.0/8'], allowedSenderDomains: ['example.com'] },
    ]);
  });

  test('relay.json passes the relay\'s own validation, with every new field set', () => {
    const r = relay({
      auth: { secretRef: { name: 'users' }, senders: [{ user: 'billing-app', allowed: ['billing@example.com'] }] },
      policy: { allowedSenderDomains: ['example.com'] },
      limits: { authFailureWindow: '10s' },
      listeners: { submissions: { proxyProtocol: { trustedProxies: ['192.168.0.0/16'] } } },
    });
    const rendered = renderRelayConfig(r);
    const validated = validateRelayConfig(JSON.parse(renderRelayConfigJson(r)));
    expect(validated.listeners).toEqual(rendered.listeners);
    expect(validated.limits).toMatchObject(rendered.limits);
    expect(validated.policy.senderLogins).toEqual(rendered.policy.senderLogins);
    expect(validated.spoolDir).toBe(MOUNTS.spool);
  });

  test('points at the mounted Secrets and carries the relay listener policy', () => {
    const r = relay({
      auth: { secretRef: { name: 'users' } },
      upstream: { host: 'u', port: 465, tls: 'implicit', passwordSecretRef: { name: 'c' }, caSecretRef: { name: 'ca' } },
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

const withRelayListener = (spec: Partial<SmtpRelaySpec> = {}) =>
  relay({ listeners: { relay: { enabled: true, allowedNetworks: ['10.0.0.0/8', 'fd00:10::/48'], allowedSenderDomains: ['example.com'] } }, ...spec });

describe('Service', () => {
  test('exposes submission and submissions on the standard ports via named target ports', () => {
    const svc = buildService(relay())!;
    expect(svc.spec!.type).toBe('ClusterIP');
    expect(svc.spec!.ports!.map((p) => [p.name, p.port, p.targetPort])).toEqual([['submission', 587, 'submission'], ['submissions', 465, 'submissions']]);
    expect(svc.spec!.selector).toEqual({ 'app.kubernetes.io/name': 'smtp-relay', 'app.kubernetes.io/instance': 'mail' });
    expect(svc.spec!.externalTrafficPolicy).toBeUndefined();
  });

  test('takes type, annotations, traffic and IP family policy from spec.service', () => {
    const svc = buildService(
      relay({ service: { type: 'LoadBalancer', annotations: { 'lb.example/internal': 'true' }, externalTrafficPolicy: 'Local', ipFamilyPolicy: 'PreferDualStack' } }),
    )!;
    expect(svc.spec).toMatchObject({ type: 'LoadBalancer', externalTrafficPolicy: 'Local', ipFamilyPolicy: 'PreferDualStack' });
    expect(svc.metadata.annotations).toEqual({ 'lb.example/internal': 'true' });
  });

  test.each(['ClusterIP', 'NodePort', 'LoadBalancer'] as const)('with service.type %s, the relay port is never on the main Service, only on a ClusterIP <name>-internal', (type) => {
    const r = withRelayListener({ service: { type, annotations: { 'lb.example/scheme': 'internet-facing' }, ipFamilyPolicy: 'PreferDualStack', ...(type === 'ClusterIP' ? {} : { externalTrafficPolicy: 'Local' as const }) } });
    const main = buildService(r)!;
    expect(main.spec!.type).toBe(type);
    expect(main.spec!.ports!.map((p) => [p.name, p.port])).toEqual([['submission', 587], ['submissions', 465]]);
    const internal = buildRelayService(r)!;
    expect(internal.metadata.name).toBe('mail-internal');
    expect(internal.metadata.ownerReferences).toEqual(main.metadata.ownerReferences);
    expect(internal.metadata.annotations).toBeUndefined(); // load-balancer annotations stay on the main Service
    expect(internal.spec).toEqual({
      type: 'ClusterIP',
      selector: { 'app.kubernetes.io/name': 'smtp-relay', 'app.kubernetes.io/instance': 'mail' },
      ports: [{ name: 'relay', port: 2525, targetPort: 'relay', protocol: 'TCP', appProtocol: 'smtp' }],
      ipFamilyPolicy: 'PreferDualStack',
    });
  });

  test('no relay listener, no internal Service; no public listener, no main Service', () => {
    expect(buildRelayService(relay())).toBeUndefined();
    expect(buildRelayService(withRelayListener({ listeners: { relay: { enabled: false, allowedNetworks: [], allowedSenderDomains: [] } } }))).toBeUndefined();
    const relayOnly = relay({
      listeners: { submission: { enabled: false }, submissions: { enabled: false }, relay: { enabled: true, port: 2600, allowedNetworks: ['10.0.0.0/8'], allowedSenderDomains: ['example.com'] } },
    });
    expect(buildService(relayOnly)).toBeUndefined();
    expect(buildRelayService(relayOnly)!.spec!.ports!.map((p) => p.port)).toEqual([2600]);
    expect(desiredChildren(relayOnly, ctx).filter((c) => c.kind === 'Service').map((c) => c.metadata.name)).toEqual(['mail-internal']);
    // The local runtime annotates, and --probe-local-endpoints reads, the Service that exists.
    expect(primaryServiceName(relayOnly)).toBe('mail-internal');
    expect(primaryServiceName(withRelayListener())).toBe('mail');
  });

  test('the internal Service name fits a DNS-1035 label for the longest relay name the CRD admits', () => {
    const longest = relay();
    longest.metadata.name = `a${'b'.repeat(LIMITS.nameLength - 1)}`;
    const name = names.relayService(longest);
    expect(name.length).toBeLessThanOrEqual(63);
    expect(name).toMatch(/^[a-z]([-a-z0-9]*[a-z0-9])?$/);
  });
});

describe('NetworkPolicy', () => {
  const np = (r = relay(), c = ctx) => buildNetworkPolicy(r, c);

  test('selects the relay pods and restricts both directions', () => {
    const p = np();
    expect(p.apiVersion).toBe('networking.k8s.io/v1');
    expect(p.metadata.name).toBe('mail');
    expect(p.spec.podSelector).toEqual({ matchLabels: { 'app.kubernetes.io/name': 'smtp-relay', 'app.kubernetes.io/instance': 'mail' } });
    expect(p.spec.policyTypes).toEqual(['Ingress', 'Egress']);
  });

  test('ingress: the public container ports from anywhere, metrics only from the monitoring namespace and the operator pods', () => {
    const operatorPeer = (ns: string) => ({
      namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns } },
      podSelector: { matchLabels: { 'app.kubernetes.io/name': 'smtp-relay-operator', 'app.kubernetes.io/component': 'operator' } },
    });
    expect(np().spec.ingress).toEqual([
      { ports: [{ protocol: 'TCP', port: 8587 }, { protocol: 'TCP', port: 8465 }] },
      { from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }, operatorPeer('smtp-relay-system')], ports: [{ protocol: 'TCP', port: 9090 }] },
    ]);
    const custom = np(relay(), { ...ctx, monitoringNamespace: 'prometheus', operatorNamespace: 'ops' }).spec.ingress.at(-1)!;
    expect(custom.from).toEqual([{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'prometheus' } } }, operatorPeer('ops')]);
  });

  test('ingress: the relay listener only from its allowedNetworks, as ipBlocks', () => {
    const rules = np(withRelayListener({ listeners: { submissions: { enabled: false }, relay: { enabled: true, port: 2600, allowedNetworks: ['10.0.0.0/8', 'fd00:10::/48'], allowedSenderDomains: ['example.com'] } } })).spec.ingress;
    expect(rules[0]).toEqual({ ports: [{ protocol: 'TCP', port: 8587 }] });
    expect(rules[1]).toEqual({ from: [{ ipBlock: { cidr: '10.0.0.0/8' } }, { ipBlock: { cidr: 'fd00:10::/48' } }], ports: [{ protocol: 'TCP', port: 2600 }] });
    // No rule leaves the relay port open to all.
    expect(rules.filter((r) => !r.from).flatMap((r) => r.ports.map((p) => p.port))).not.toContain(2600);
  });

  test('ingress: a relay listener with no networks gets no rule (an empty from would mean everyone)', () => {
    const rules = np(relay({ listeners: { relay: { enabled: true, allowedNetworks: [], allowedSenderDomains: ['example.com'] } } })).spec.ingress;
    expect(rules.flatMap((r) => r.ports.map((p) => p.port))).not.toContain(2525);
  });

  test('egress: the upstream port and DNS over UDP and TCP, nothing else', () => {
    expect(np(relay({ upstream: { host: 'smtp.example.net', port: 465, tls: 'implicit' } })).spec.egress).toEqual([
      { ports: [{ protocol: 'TCP', port: 465 }] },
      { ports: [{ protocol: 'UDP', port: 53 }, { protocol: 'TCP', port: 53 }] },
    ]);
    expect(np().spec.egress![0]).toEqual({ ports: [{ protocol: 'TCP', port: 587 }] });
  });
});

describe('Certificate', () => {
  test('asks cert-manager for the hostname and extra names only: no Service DNS names, which public ACME issuers refuse', () => {
    const cert = buildCertificate(relay({ tls: { issuerRef: { name: 'test-ca', kind: 'ClusterIssuer' }, additionalDNSNames: ['mx.example.com'], duration: '2160h', renewBefore: '360h' } }))!;
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
  expect(parseDuration('1m30s500ms')).toBe(90_500);
  expect(parseDuration('1500us')).toBe(1.5);
  expect(parseDuration('2000000ns')).toBe(2);
  expect(parseDuration('5x')).toBeUndefined();
  expect(parseDuration('')).toBeUndefined();
});
