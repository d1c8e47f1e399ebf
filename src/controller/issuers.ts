// Watches cert-manager Issuers and ClusterIssuers (metadata only), so a relay stalled
// on a missing issuer heals as soon as the issuer is created, not on its next retry.
// Started only when the operator may list and watch them (a SelfSubjectAccessReview
// says so); without that RBAC the reconciler's growing retry remains the fallback.
import type { KubeConfig } from '../kube/kube-config.js';
import type { SmtpRelay } from '../api/types.js';
import type { Logger } from '../common/logger.js';
import { kubeRequest } from '../kube/http.js';
import { createInformer, type KubeInformer } from '../kube/informer.js';
import { createInformerFor } from '../kube/multi-namespace.js';
import type { KubeObject } from '../kube/types.js';
import { issuerRefs } from './builders/spec.js';

export const ISSUER_INDEX = 'issuers';

/** Index values of the issuer a relay references: `Issuer:<ns>/<name>` or `ClusterIssuer:<name>`. Pure. */
export function issuerIndexValues(relay: SmtpRelay): string[] {
  return issuerRefs(relay)
    .map((i) => i.ref)
    .filter((ref) => (ref.group ?? 'cert-manager.io') === 'cert-manager.io')
    .map((ref) => (ref.kind === 'ClusterIssuer' ? `ClusterIssuer:${ref.name}` : `Issuer:${relay.metadata.namespace}/${ref.name}`));
}

/** The index value an Issuer/ClusterIssuer object is found under. Pure. */
export function issuerIndexValue(obj: KubeObject): string {
  return obj.kind === 'ClusterIssuer' || !obj.metadata.namespace ? `ClusterIssuer:${obj.metadata.name}` : `Issuer:${obj.metadata.namespace}/${obj.metadata.name}`;
}

async function mayWatch(kc: KubeConfig, resource: string, namespace: string | undefined): Promise<boolean> {
  for (const verb of ['list', 'watch']) {
    const review = await kubeRequest<{ status?: { allowed?: boolean } }>(kc, {
      method: 'POST',
      path: '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews',
      body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: { resourceAttributes: { group: 'cert-manager.io', resource, verb, ...(namespace ? { namespace } : {}) } } },
    });
    if (!review.status?.allowed) return false;
  }
  return true;
}

/**
 * Starts the issuer informers it is allowed to; each issuer event calls onIssuer with
 * the index value, for the caller to wake the relays that reference it.
 */
export async function startIssuerInformers(kc: KubeConfig, namespaces: readonly string[] | undefined, logger: Logger, onIssuer: (indexValue: string) => void): Promise<KubeInformer<KubeObject>[]> {
  const started: KubeInformer<KubeObject>[] = [];
  for (const [kind, plural, nsList] of [['Issuer', 'issuers', namespaces], ['ClusterIssuer', 'clusterissuers', undefined]] as const) {
    let allowed = true;
    try {
      for (const ns of nsList ?? [undefined]) allowed &&= await mayWatch(kc, plural, ns);
    } catch (err) {
      allowed = false;
      logger.warn('could not check access to cert-manager issuers', { kind, error: String(err) });
    }
    if (!allowed) {
      logger.info(`not watching ${kind}s (RBAC grants no list/watch on cert-manager.io ${plural}); a relay waiting for a missing ${kind} is retried on a growing delay instead`);
      continue;
    }
    const informer = kind === 'Issuer'
      ? createInformerFor<KubeObject>(kc, { apiVersion: 'cert-manager.io/v1', kind, plural, metadataOnly: true }, nsList)
      : createInformer<KubeObject>(kc, { apiVersion: 'cert-manager.io/v1', kind, plural, metadataOnly: true });
    for (const event of ['add', 'update', 'delete'] as const) informer.on(event, (obj) => onIssuer(issuerIndexValue({ ...obj, kind })));
    let reported = false;
    informer.onError((err) => {
      if (!reported) logger.warn('informer error', { kind, error: String(err) });
      reported = true;
    });
    await informer.start();
    started.push(informer);
  }
  return started;
}
