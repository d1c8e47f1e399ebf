// ClusterAccess for the reconciler, over the informer caches and the API server.
// Reads come from caches (informers) except the one Secret whose certificate we
// parse and the issuer existence check; writes are server-side apply under one
// field manager.
import type { KubeConfig } from '../kube/kube-config.js';
import { API_VERSION, KIND, type SmtpRelay, type SmtpRelayStatus } from '../api/types.js';
import { applyObject, applyStatus, deleteObject, getObject } from '../kube/apply.js';
import { isForbidden, isNotFound } from '../kube/errors.js';
import { kubeRequest, resourcePath } from '../kube/http.js';
import type { KubeInformer } from '../kube/informer.js';
import type { Informer, KubeObject } from '../kube/types.js';
import { FIELD_MANAGER, LABEL_INSTANCE } from './builders/index.js';
import type { ClusterAccess } from './reconciler.js';

export interface ClusterDeps {
  kubeConfig: KubeConfig;
  relays: Informer<KubeObject>;
  secrets: Informer<KubeObject>;
  /** Child informers by kind (Certificate may be absent until cert-manager is installed), each with indexByInstance. */
  children: () => Map<string, KubeInformer<KubeObject>>;
  certManagerInstalled: () => Promise<boolean>;
  recordEvent: (relay: SmtpRelay, type: 'Normal' | 'Warning', reason: string, message: string) => Promise<void>;
  /** Relay pods (our labels, indexByInstance): their IPs for GET /queue and POST /drain. */
  pods?: KubeInformer<KubeObject>;
  /** The queue's PersistentVolumeClaims (metadata only, our labels, indexByInstance). */
  claims?: KubeInformer<KubeObject>;
}

/** The index that finds a relay's children, pods and claims: "namespace/instance label". */
export const INSTANCE_INDEX = 'instance';
const instanceKey = (namespace: string | undefined, instance: string) => `${namespace ?? ''}/${instance}`;

/** Index an informer of children, pods or claims by the relay they belong to (their instance label). */
export function indexByInstance(informer: KubeInformer<KubeObject>): void {
  informer.addIndex(INSTANCE_INDEX, (o) => {
    const instance = o.metadata.labels?.[LABEL_INSTANCE];
    return instance === undefined ? [] : [instanceKey(o.metadata.namespace, instance)];
  });
}

/** A relay's objects in one informer: an index lookup, not a scan (one reconcile per relay would make that O(N²)). */
function ofRelay(informer: KubeInformer<KubeObject> | undefined, relay: SmtpRelay): KubeObject[] {
  return informer?.byIndex(INSTANCE_INDEX, instanceKey(relay.metadata.namespace, relay.metadata.name)) ?? [];
}

export function createClusterAccess(deps: ClusterDeps): ClusterAccess {
  const kc = deps.kubeConfig;
  return {
    getRelay: (namespace, name) => deps.relays.get(namespace, name) as unknown as SmtpRelay | undefined,
    secretVersion: (namespace, name) => deps.secrets.get(namespace, name)?.metadata.resourceVersion,
    ownedChildren(relay) {
      const out: KubeObject[] = [];
      for (const informer of deps.children().values()) out.push(...ofRelay(informer, relay));
      return out;
    },
    cachedChild: (kind, namespace, name) => deps.children().get(kind)?.get(namespace, name),
    getLive: (obj) => getObject(kc, { apiVersion: obj.apiVersion, kind: obj.kind, name: obj.metadata.name, namespace: obj.metadata.namespace }),
    // force: we take over the fields we send from other managers; fields we do not send stay theirs.
    apply: (obj, opts) => applyObject(kc, obj, { fieldManager: FIELD_MANAGER, force: true, createOnly: opts?.createOnly }),
    async applyStatus(relay: SmtpRelay, status: SmtpRelayStatus) {
      const body = { apiVersion: API_VERSION, kind: KIND, metadata: { name: relay.metadata.name, namespace: relay.metadata.namespace }, status };
      await applyStatus(kc, body, { fieldManager: FIELD_MANAGER, force: true });
    },
    async delete(obj) {
      // uid precondition: delete exactly the object we saw, never a namesake created since.
      await deleteObject(kc, { apiVersion: obj.apiVersion, kind: obj.kind, name: obj.metadata.name, namespace: obj.metadata.namespace }, { uid: obj.metadata.uid });
    },
    certManagerInstalled: () => deps.certManagerInstalled(),
    async issuerExists(kind, namespace, name) {
      try {
        const found = await getObject(kc, { apiVersion: 'cert-manager.io/v1', kind, name, namespace: kind === 'ClusterIssuer' ? undefined : namespace });
        return found !== undefined;
      } catch (err) {
        // A namespaced install (deploy/overlays/namespaced) may not read ClusterIssuers:
        // cannot tell, so do not stall; cert-manager reports a missing issuer on the Certificate.
        if (isForbidden(err)) return true;
        throw err;
      }
    },
    event: (relay, type, reason, message) => deps.recordEvent(relay, type, reason, message),
    relayPods: (relay) => ofRelay(deps.pods, relay),
    queueClaims: (relay) => (deps.claims ? new Set(ofRelay(deps.claims, relay).map((c) => c.metadata.name)) : undefined),
  };
}

/**
 * Reads the relay's TLS Secret for the facts cache (the reconciler reads no other
 * Secret in full: see docs/security.md, "What the operator reads"); undefined when it is gone.
 */
export async function readSecret(kc: KubeConfig, namespace: string, name: string): Promise<{ resourceVersion: string; data?: Record<string, string> } | undefined> {
  try {
    const secret = await kubeRequest<{ metadata: { resourceVersion: string }; data?: Record<string, string> }>(kc, {
      method: 'GET',
      path: resourcePath('v1', 'secrets', namespace, name),
    });
    return { resourceVersion: secret.metadata.resourceVersion, data: secret.data };
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}
