// spec.tls.internalCertificate: a second cert-manager Certificate for the in-cluster Service
// names, mounted into the pods and named in relay.json for SNI; probed under the Service name;
// pruned when the field is removed.
import { describe, expect, test } from '@jest/globals';
import { Certificate } from '@kubernetes-models/cert-manager/cert-manager.io/v1/Certificate';
import type { SmtpRelay, SmtpRelaySpec } from '../../../src/api/types.js';
import { createLogger } from '../../../src/common/logger.js';
import { MOUNTS } from '../../../src/common/relay-config.js';
import { buildCertificate, buildDeployment, buildInternalCertificate, desiredChildren, inClusterNames, referencedSecrets, renderRelayConfig } from '../../../src/controller/builders/index.js';
import { issuerIndexValues } from '../../../src/controller/issuers.js';
import { Reconciler, type ClusterAccess } from '../../../src/controller/reconciler.js';
import { checkTenancy } from '../../../src/controller/tenancy.js';
import { probeTargets } from '../../../src/controller/tls-health/targets.js';
import { SecretFactsCache } from '../../../src/controller/tls-secret.js';
import type { KubeObject } from '../../../src/kube/types.js';
import { validateRelayConfig } from '../../../src/relay/config.js';
import { ctx, relay } from './fixtures.js';

const INTERNAL = { issuerRef: { name: 'cluster-ca', kind: 'ClusterIssuer' as const } };
const withInternal = (spec: Partial<SmtpRelaySpec> = {}) => relay({ tls: { issuerRef: { name: 'letsencrypt', kind: 'ClusterIssuer' }, internalCertificate: INTERNAL }, ...spec });
const RELAY_LISTENER = { listeners: { relay: { allowedNetworks: ['10.0.0.0/8'], allowedSenderDomains: ['example.com'] } } };

describe('the in-cluster Certificate', () => {
  test('covers the Service names from the in-cluster issuer, in its own Secret, owned like the main one', () => {
    const cert = buildInternalCertificate(withInternal())!;
    expect(cert.metadata).toMatchObject({ name: 'mail-internal-tls', namespace: 'team-a', ownerReferences: [expect.objectContaining({ uid: 'uid-1234', controller: true })] });
    expect(cert.spec).toMatchObject({
      secretName: 'mail-internal-tls',
      dnsNames: ['mail.team-a.svc', 'mail.team-a.svc.cluster.local', 'mail.team-a', 'mail'],
      issuerRef: { name: 'cluster-ca', kind: 'ClusterIssuer', group: 'cert-manager.io' },
      usages: ['server auth', 'digital signature'],
    });
    expect(cert.spec!.commonName).toBeUndefined();
    expect(() => new Certificate(cert as never).validate()).not.toThrow();
    // The public Certificate is unchanged: still only public names.
    expect(buildCertificate(withInternal())!.spec!.dnsNames).toEqual(['smtp.example.com']);
  });

  test('with the relay listener on, the <name>-internal Service names too', () => {
    expect(inClusterNames(withInternal(RELAY_LISTENER))).toEqual([
      'mail.team-a.svc', 'mail.team-a.svc.cluster.local', 'mail.team-a', 'mail',
      'mail-internal.team-a.svc', 'mail-internal.team-a.svc.cluster.local', 'mail-internal.team-a', 'mail-internal',
    ]);
  });

  test('works beside a Secret the user brings for the public name', () => {
    const r = relay({ tls: { secretName: 'byo', internalCertificate: INTERNAL } });
    expect(desiredChildren(r, ctx).filter((c) => c.kind === 'Certificate').map((c) => c.metadata.name)).toEqual(['mail-internal-tls']);
  });

  test('unset: no second Certificate, no mount, nothing in relay.json', () => {
    const r = relay();
    expect(buildInternalCertificate(r)).toBeUndefined();
    expect(desiredChildren(r, ctx).filter((c) => c.kind === 'Certificate').map((c) => c.metadata.name)).toEqual(['mail']);
    expect(referencedSecrets(r).map((s) => s.role)).not.toContain('internalTls');
    expect(renderRelayConfig(r).tls.internal).toBeUndefined();
  });

  test('set: the pods mount its Secret, relay.json names the SNI names (valid for the relay), and a new Secret version rolls the pods', () => {
    const r = withInternal();
    expect(desiredChildren(r, ctx).filter((c) => c.kind === 'Certificate').map((c) => c.metadata.name)).toEqual(['mail', 'mail-internal-tls']);
    const pod = buildDeployment(r, ctx).spec!.template.spec!;
    expect(pod.volumes).toContainEqual({ name: 'internal-tls', secret: { secretName: 'mail-internal-tls', defaultMode: 0o440 } });
    expect(pod.containers[0]!.volumeMounts).toContainEqual({ name: 'internal-tls', mountPath: MOUNTS.internalTls, readOnly: true });
    const config = renderRelayConfig(r);
    expect(config.tls.internal).toEqual({ dir: MOUNTS.internalTls, serverNames: ['mail.team-a.svc', 'mail.team-a.svc.cluster.local', 'mail.team-a', 'mail'] });
    expect(validateRelayConfig(JSON.parse(JSON.stringify(config))).tls.internal).toEqual(config.tls.internal);
    const checksum = (v: string) => buildDeployment(r, { ...ctx, secretVersions: { ...ctx.secretVersions, 'mail-internal-tls': v } }).spec!.template.metadata!.annotations!['smtprelay.dev/config-checksum'];
    expect(checksum('1')).not.toBe(checksum('2'));
  });

  test('its ClusterIssuer is subject to --allowed-cluster-issuers, and an issuer event requeues the relay', () => {
    const problems = checkTenancy(withInternal(), { defaultImage: 'img', allowedClusterIssuers: ['letsencrypt'], allowedRelayImages: [], allowedUpstreamHosts: ['*'] });
    expect(problems.map((p) => [p.reason, p.message])).toEqual([['IssuerNotAllowed', expect.stringContaining('ClusterIssuer cluster-ca (spec.tls.internalCertificate.issuerRef) is not allowed')]]);
    expect(issuerIndexValues(withInternal())).toEqual(['ClusterIssuer:letsencrypt', 'ClusterIssuer:cluster-ca']);
  });

  test('the prober probes every listener again under its Service name', () => {
    const targets = probeTargets(withInternal(RELAY_LISTENER), undefined, false);
    expect(targets.ok && targets.targets.map((t) => [t.name, t.host, t.port, t.inClusterName])).toEqual([
      ['submission', 'mail.team-a.svc', 587, undefined],
      ['submissions', 'mail.team-a.svc', 465, undefined],
      ['relay', 'mail-internal.team-a.svc', 2525, undefined],
      ['submission-in-cluster', 'mail.team-a.svc', 587, 'mail.team-a.svc'],
      ['submissions-in-cluster', 'mail.team-a.svc', 465, 'mail.team-a.svc'],
      ['relay-in-cluster', 'mail-internal.team-a.svc', 2525, 'mail-internal.team-a.svc'],
    ]);
    const plain = probeTargets(relay(), undefined, false);
    expect(plain.ok && plain.targets.map((t) => t.name)).toEqual(['submission', 'submissions']);
  });
});

describe('the reconciler', () => {
  test('creates the in-cluster Certificate when set and prunes it when unset', async () => {
    let current: SmtpRelay = { ...withInternal(), metadata: { ...withInternal().metadata, resourceVersion: '1' } };
    const store = new Map<string, KubeObject>();
    const deleted: string[] = [];
    const issuersAsked: string[] = [];
    const cluster: ClusterAccess = {
      getRelay: () => current,
      secretVersion: () => undefined,
      ownedChildren: () => [...store.values()],
      cachedChild: (kind, _ns, name) => store.get(`${kind}/${name}`),
      getLive: async () => undefined,
      apply: async (obj) => {
        const stored = structuredClone({ ...obj, metadata: { ...obj.metadata, uid: `uid-${obj.kind}-${obj.metadata.name}`, resourceVersion: '7' } }) as KubeObject;
        store.set(`${obj.kind}/${obj.metadata.name}`, stored);
        return stored;
      },
      applyStatus: async () => undefined,
      delete: async (obj) => {
        deleted.push(`${obj.kind}/${obj.metadata.name}`);
        store.delete(`${obj.kind}/${obj.metadata.name}`);
      },
      certManagerInstalled: async () => true,
      issuerExists: async (kind, _ns, name) => {
        issuersAsked.push(`${kind}/${name}`);
        return true;
      },
      event: async () => undefined,
    };
    const reconciler = new Reconciler({ cluster, secrets: new SecretFactsCache(async () => undefined), defaultImage: 'img', probeEnabled: false, logger: createLogger('test', 'error') });
    await reconciler.reconcile('team-a/mail');
    expect(store.get('Certificate/mail-internal-tls')?.spec).toMatchObject({ dnsNames: ['mail.team-a.svc', 'mail.team-a.svc.cluster.local', 'mail.team-a', 'mail'] });
    expect(issuersAsked).toEqual(['ClusterIssuer/letsencrypt', 'ClusterIssuer/cluster-ca']);
    expect(deleted).toEqual([]);

    const { internalCertificate: _gone, ...tls } = current.spec.tls;
    current = { ...current, metadata: { ...current.metadata, generation: 2, resourceVersion: '2' }, spec: { ...current.spec, tls } };
    await reconciler.reconcile('team-a/mail');
    expect(deleted).toEqual(['Certificate/mail-internal-tls']);
    expect([...store.keys()].filter((k) => k.startsWith('Certificate/'))).toEqual(['Certificate/mail']);
  });
});
