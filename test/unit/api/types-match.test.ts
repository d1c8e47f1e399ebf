// src/api/types.ts and src/api/schema.ts describe the same API. A sample typed
// DeepRequired<SmtpRelay> must name every field of the types (the compiler
// enforces that), and its field paths must equal the schema's, both ways.
import { describe, expect, test } from '@jest/globals';
import {
  type ConditionStatus,
  DEFAULTS,
  type EndpointCheckFailure,
  type EndpointStatus,
  type IssuerRef,
  type ServiceSpec,
  type SmtpRelay,
  type TlsMinVersion,
  type TlsProfile,
  type UpstreamTlsMode,
} from '../../../src/api/types.js';
import { type JSONSchemaProps, walkSchema } from '../../../src/api/schema-types.js';
import { smtpRelaySchema } from '../../../src/api/schema.js';
import { RELAY_LIMIT_DEFAULTS } from '../../../src/common/relay-config.js';
import { parseDuration } from '../../../src/controller/builders/spec.js';

type DeepRequired<T> = T extends (infer U)[] ? DeepRequired<U>[] : T extends object ? { [K in keyof T]-?: DeepRequired<T[K]> } : T;

const ts = '2026-11-28T12:00:00Z';
const sample: DeepRequired<SmtpRelay> = {
  apiVersion: 'smtprelay.dev/v1alpha1',
  kind: 'SmtpRelay',
  metadata: {
    name: 'r',
    namespace: 'ns',
    uid: 'u',
    generation: 1,
    resourceVersion: '1',
    labels: {},
    annotations: {},
    creationTimestamp: ts,
    deletionTimestamp: ts,
  },
  spec: {
    hostname: 'smtp.example.com',
    replicas: 1,
    image: 'img',
    listeners: {
      submission: { enabled: true, port: 587, proxyProtocol: { trustedProxies: ['10.0.0.0/8'] } },
      submissions: { enabled: true, port: 465, proxyProtocol: { trustedProxies: ['10.0.0.0/8'] } },
      relay: { enabled: true, port: 2525, allowedNetworks: ['10.0.0.0/8'], allowedSenderDomains: ['example.com'] },
    },
    tls: {
      issuerRef: { name: 'i', kind: 'Issuer', group: 'cert-manager.io' },
      secretName: 's',
      additionalDNSNames: ['mx.example.com'],
      duration: '2160h',
      renewBefore: '720h',
      minVersion: 'TLSv1.2',
      profile: 'intermediate',
      internalCertificate: { issuerRef: { name: 'ca', kind: 'ClusterIssuer', group: 'cert-manager.io' } },
    },
    auth: { secretRef: { name: 'users' }, senders: [{ user: 'billing', allowed: ['billing@example.com', '@invoices.example.com'] }] },
    users: { namespaceSelector: { matchLabels: { team: 'payments' }, matchExpressions: [{ key: 'env', operator: 'In', values: ['prod'] }] } },
    upstream: {
      host: 'smtp.example.net',
      port: 587,
      tls: 'starttls',
      passwordSecretRef: { name: 'c', usernameKey: 'username', passwordKey: 'password' },
      caSecretRef: { name: 'ca', caKey: 'ca.crt' },
      serverName: 'smtp.example.net',
      allowInsecurePlaintext: false,
    },
    upstreams: [
      {
        name: 'm365',
        host: 'smtp.office365.com',
        port: 587,
        tls: 'starttls',
        caSecretRef: { name: 'ca', caKey: 'ca.crt' },
        serverName: 'smtp.office365.com',
        allowInsecurePlaintext: false,
        passwordSecretRef: { name: 'c', usernameKey: 'username', passwordKey: 'password' },
        oauth2: {
          provider: 'Microsoft365',
          user: 'relay@example.com',
          tenant: 't',
          clientID: 'app',
          tokenEndpoint: 'https://login.example.com/token',
          scope: 's',
          clientSecretRef: { name: 'cs', clientSecretKey: 'client-secret' },
          certificateSecretRef: { name: 'cert', certificateKey: 'tls.crt', privateKeyKey: 'tls.key' },
          serviceAccountSecretRef: { name: 'sa', serviceAccountKey: 'service-account.json', clientSecretKey: 'client-secret' },
        },
      },
    ],
    routes: [{ senderDomains: ['example.com'], users: ['billing'], upstreams: ['m365'], rewriteFrom: 'relay@example.com' }],
    policy: { allowedSenderDomains: ['example.com'], maxMessageBytes: 1024, maxRecipients: 1, rateLimit: { messagesPerMinute: 1, burst: 1 } },
    // Both shapes, for the field walk (the CRD admits one at a time).
    dkim: {
      selector: 's1',
      domain: 'example.com',
      keySecretRef: { name: 'k', privateKeyKey: 'private.key' },
      keys: [{ domain: 'example.com', selector: 's1', keySecretRef: { name: 'k', privateKeyKey: 'dkim.pem' } }],
    },
    limits: { maxConnectionsPerClient: 20, connectionRatePerMinute: 120, authFailuresPerMinute: 10, authFailureWindow: '1m' },
    service: { type: 'ClusterIP', annotations: {}, externalTrafficPolicy: 'Local', ipFamilyPolicy: 'SingleStack' },
    healthCheck: { enabled: true, interval: '1m', expiryWarning: '336h' },
    pod: {
      // resources and tolerations are loose records in types.ts (they are core/v1 shapes), so the
      // compiler cannot insist on these keys; they are spelled out to match the schema.
      resources: { limits: { cpu: '1' }, requests: { memory: '64Mi' } },
      nodeSelector: {},
      tolerations: [{ key: 'k', operator: 'Equal', value: 'v', effect: 'NoSchedule', tolerationSeconds: 1 }],
      affinity: {},
      topologySpreadConstraints: [{}],
      annotations: {},
      priorityClassName: 'p',
    },
    queue: { mode: 'Durable', storage: { size: '1Gi', storageClassName: 'fast' }, maxAge: '120h', retry: { minBackoff: '300s', maxBackoff: '4000s' } },
  },
  status: {
    observedGeneration: 1,
    conditions: [{ type: 'Ready', status: 'True', observedGeneration: 1, lastTransitionTime: ts, reason: 'Ready', message: 'm' }],
    replicas: 1,
    readyReplicas: 1,
    selector: 'app.kubernetes.io/instance=r,app.kubernetes.io/name=smtp-relay',
    certificate: { secretName: 's', notBefore: ts, notAfter: ts, renewalTime: ts, fingerprint: 'ab' },
    endpoints: [
      {
        name: 'submission',
        port: 587,
        mode: 'starttls',
        healthy: true,
        tlsVersion: 'TLSv1.3',
        cipher: 'TLS_AES_128_GCM_SHA256',
        group: 'X25519MLKEM768',
        notAfter: ts,
        fingerprint: 'ab',
        serverName: 'smtp.example.com',
        matchesSecret: true,
        hostnameVerified: true,
        chainVerified: true,
        authBeforeTLS: false,
        legacyProtocolsRefused: true,
        failures: [{ check: 'c', result: 'warn', reason: 'r', message: 'm' }],
        latencyMilliseconds: 1,
        lastProbeTime: ts,
        lastDeepScanTime: ts,
      },
    ],
    tlsHealth: 'Healthy',
    queue: { state: 'Draining', drain: { reason: 'ScaleDown', pods: ['mail-2'], startTime: ts }, strandedClaims: [{ claim: 'queue-mail-2', messages: 3, strandedTime: ts }] },
    senderDomains: [
      {
        domain: 'example.com',
        dkim: { state: 'Valid', selector: 's1', lookupError: 'Timeout' },
        dmarc: { state: 'Found', policy: 'reject', subdomainPolicy: 'none', percentage: 100, lookupError: 'Timeout' },
        spf: { state: 'Found', record: 'v=spf1 -all', lookupError: 'Timeout' },
      },
    ],
  },
};

/** Schema nodes by path; free-form nodes (maps, pass-through objects) end the walk. */
function schemaIndex(): Map<string, JSONSchemaProps> {
  const index = new Map<string, JSONSchemaProps>();
  walkSchema(smtpRelaySchema, (path, node) => index.set(path, node));
  return index;
}
const index = schemaIndex();
const isFreeForm = (s: JSONSchemaProps | undefined): boolean => !!s && (s.additionalProperties !== undefined || s['x-kubernetes-preserve-unknown-fields'] === true);

function schemaPaths(): string[] {
  return [...index.keys()].filter((p) => {
    if (p === '' || p.startsWith('metadata')) return false;
    // below a free-form node (tolerations[] keeps its own fields, free-form items do not)
    const parts = p.split(/(?=[.[{])/);
    for (let i = 1; i < parts.length; i++) if (isFreeForm(index.get(parts.slice(0, i).join('').replace(/^\./, '')))) return false;
    return true;
  });
}

function samplePaths(value: unknown, path = '', out: string[] = []): string[] {
  if (path) out.push(path);
  if (isFreeForm(index.get(path)) || path === 'metadata') return out;
  if (Array.isArray(value)) for (const v of value) samplePaths(v, `${path}[]`, out);
  else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) samplePaths(v, path ? `${path}.${k}` : k, out);
  return [...new Set(out)];
}

describe('types.ts and schema.ts agree', () => {
  const fromSchema = schemaPaths().sort();
  const fromTypes = samplePaths(sample)
    .filter((p) => p !== 'metadata' && !p.startsWith('metadata.'))
    .sort();

  test('every schema field exists in the types', () => {
    expect(fromSchema.filter((p) => !fromTypes.includes(p))).toEqual([]);
  });

  test('every typed field exists in the schema', () => {
    expect(fromTypes.filter((p) => !fromSchema.includes(p))).toEqual([]);
    expect(fromTypes.length).toBeGreaterThan(90);
  });

  test('the schema declares apiVersion, kind, metadata, spec and status', () => {
    expect(Object.keys(smtpRelaySchema.properties ?? {}).sort()).toEqual(Object.keys(sample).sort());
  });

  function enumAt(path: string): unknown[] {
    const e = index.get(path)?.enum;
    if (!e) throw new Error(`no enum at ${path}`);
    return [...e].sort();
  }
  // Record<Union, true> makes the compiler list every member of the union, no more and no less.
  const keys = (r: Record<string, true>): string[] => Object.keys(r).sort();

  test('enums match the TypeScript unions', () => {
    const minVersions: Record<TlsMinVersion, true> = { 'TLSv1.2': true, 'TLSv1.3': true };
    const profiles: Record<TlsProfile, true> = { intermediate: true, modern: true };
    const upstreamModes: Record<UpstreamTlsMode, true> = { starttls: true, implicit: true, 'none-insecure': true };
    const issuerKinds: Record<NonNullable<IssuerRef['kind']>, true> = { Issuer: true, ClusterIssuer: true };
    const serviceTypes: Record<NonNullable<ServiceSpec['type']>, true> = { ClusterIP: true, NodePort: true, LoadBalancer: true };
    const etp: Record<NonNullable<ServiceSpec['externalTrafficPolicy']>, true> = { Cluster: true, Local: true };
    const ipfp: Record<NonNullable<ServiceSpec['ipFamilyPolicy']>, true> = { SingleStack: true, PreferDualStack: true, RequireDualStack: true };
    const condStatus: Record<ConditionStatus, true> = { True: true, False: true, Unknown: true };
    const modes: Record<EndpointStatus['mode'], true> = { starttls: true, implicit: true };
    const results: Record<EndpointCheckFailure['result'], true> = { warn: true, fail: true };
    expect(enumAt('spec.tls.minVersion')).toEqual(keys(minVersions));
    expect(enumAt('spec.tls.profile')).toEqual(keys(profiles));
    expect(enumAt('spec.upstream.tls')).toEqual(keys(upstreamModes));
    expect(enumAt('spec.tls.issuerRef.kind')).toEqual(keys(issuerKinds));
    expect(enumAt('spec.service.type')).toEqual(keys(serviceTypes));
    expect(enumAt('spec.service.externalTrafficPolicy')).toEqual(keys(etp));
    expect(enumAt('spec.service.ipFamilyPolicy')).toEqual(keys(ipfp));
    expect(enumAt('status.conditions[].status')).toEqual(keys(condStatus));
    expect(enumAt('status.endpoints[].mode')).toEqual(keys(modes));
    expect(enumAt('status.endpoints[].failures[].result')).toEqual(keys(results));
  });

  test('schema defaults are the DEFAULTS the code falls back to', () => {
    const dflt = (p: string): unknown => index.get(p)?.default;
    expect({
      replicas: dflt('spec.replicas'),
      submissionPort: dflt('spec.listeners.submission.port'),
      submissionsPort: dflt('spec.listeners.submissions.port'),
      relayPort: dflt('spec.listeners.relay.port'),
      upstreamPort: dflt('spec.upstream.port'),
      upstreamTls: dflt('spec.upstream.tls'),
      minVersion: dflt('spec.tls.minVersion'),
      profile: dflt('spec.tls.profile'),
      maxMessageBytes: dflt('spec.policy.maxMessageBytes'),
      maxRecipients: dflt('spec.policy.maxRecipients'),
      healthInterval: dflt('spec.healthCheck.interval'),
      expiryWarning: dflt('spec.healthCheck.expiryWarning'),
      serviceType: dflt('spec.service.type'),
      maxConnectionsPerClient: dflt('spec.limits.maxConnectionsPerClient'),
      connectionRatePerMinute: dflt('spec.limits.connectionRatePerMinute'),
      authFailuresPerMinute: dflt('spec.limits.authFailuresPerMinute'),
      authFailureWindow: dflt('spec.limits.authFailureWindow'),
      queueMode: dflt('spec.queue.mode'),
      queueStorageSize: dflt('spec.queue.storage.size'),
      queueMaxAge: dflt('spec.queue.maxAge'),
      queueMinBackoff: dflt('spec.queue.retry.minBackoff'),
      queueMaxBackoff: dflt('spec.queue.retry.maxBackoff'),
    }).toEqual(DEFAULTS);
  });

  test('spec.limits defaults are the relay\'s own defaults (relay.json without them behaves the same)', () => {
    expect({
      maxConnectionsPerClient: DEFAULTS.maxConnectionsPerClient,
      connectionRatePerMinute: DEFAULTS.connectionRatePerMinute,
      authFailureWindowMs: parseDuration(DEFAULTS.authFailureWindow),
    }).toEqual({
      maxConnectionsPerClient: RELAY_LIMIT_DEFAULTS.maxConnectionsPerClient,
      connectionRatePerMinute: RELAY_LIMIT_DEFAULTS.connectionRatePerMinute,
      authFailureWindowMs: RELAY_LIMIT_DEFAULTS.authFailureWindowMs,
    });
  });

  test('the brief\'s literal defaults', () => {
    expect(DEFAULTS).toMatchObject({
      submissionPort: 587,
      submissionsPort: 465,
      relayPort: 2525,
      replicas: 1,
      minVersion: 'TLSv1.2',
      profile: 'intermediate',
      upstreamPort: 587,
      upstreamTls: 'starttls',
      maxMessageBytes: 26214400,
      maxRecipients: 50,
      healthInterval: '1m',
      expiryWarning: '336h',
    });
    expect(index.get('spec.listeners.submission.enabled')?.default).toBe(true);
    expect(index.get('spec.listeners.submissions.enabled')?.default).toBe(true);
    expect(index.get('spec.listeners.relay.enabled')?.default).toBe(false);
  });
});
