// What the operator's caches keep of each kind (client-go's cache TransformFunc): only
// what a reader of that cache uses, so memory grows with the relays, not with whatever the
// API server and other controllers put in their objects. The readers, and what they need:
//  - children (CHILD_KINDS: ClusterAccess.cachedChild / ownedChildren):
//    covers-desired compares every field we apply -> the fields our field manager owns
//    (managed-fields.ts); ownership and pruning -> name, uid, labels, ownerReferences,
//    deletionTimestamp; the skip check -> uid; observeDeployment -> generation and the status
//    counts; planQueue -> the StatefulSet's spec.replicas; observeCertificate -> the status
//    conditions and renewalTime; --probe-local-endpoints -> annotations (local.smtprelay.dev/*);
//  - Pods (relayPods -> queueTargets): name, labels, ownerReferences, deletionTimestamp,
//    status.podIP and status.phase;
//  - Secrets (metadata only): resourceVersion (secretVersion) and the name (index keys);
//  - PersistentVolumeClaims (metadata only): name, labels (the relay instance);
//  - Namespaces (metadata only): labels (spec.users.namespaceSelector);
//  - SmtpRelay, SmtpUser: the whole object (spec, status, annotations) but kubectl's
//    last-applied copy of it.
// Every transform is pure and returns a new object. `interned` wraps a transform so that equal
// strings across cached objects are one (src/kube/intern.ts).
import { StringInterner } from '../kube/intern.js';
import type { KubeObject } from '../kube/types.js';
import { appliedFieldSet, projectOnFields } from '../kube/managed-fields.js';
import { FIELD_MANAGER } from './builders/index.js';

type Metadata = KubeObject['metadata'];
export type CacheTransform = (obj: KubeObject) => KubeObject;

/** A client-side `kubectl apply` keeps a whole copy of the object here; nothing of ours reads it. */
const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/** The identity every reader may use: name, namespace, uid, resourceVersion, generation, deletionTimestamp. */
function baseMetadata(m: Metadata): Metadata {
  const out: Metadata = { name: m.name };
  if (m.namespace !== undefined) out.namespace = m.namespace;
  if (m.uid !== undefined) out.uid = m.uid;
  if (m.resourceVersion !== undefined) out.resourceVersion = m.resourceVersion;
  if (m.generation !== undefined) out.generation = m.generation;
  if (m.deletionTimestamp !== undefined) out.deletionTimestamp = m.deletionTimestamp;
  return out;
}

function annotationsWithoutLastApplied(m: Metadata): Record<string, string> | undefined {
  if (!m.annotations || !(LAST_APPLIED in m.annotations)) return m.annotations;
  const { [LAST_APPLIED]: _dropped, ...rest } = m.annotations;
  return Object.keys(rest).length > 0 ? rest : undefined;
}

function pick<T extends object>(from: T | undefined, keys: readonly (keyof T)[]): Partial<T> | undefined {
  if (!from) return undefined;
  const out: Partial<T> = {};
  for (const k of keys) if (from[k] !== undefined) out[k] = from[k];
  return Object.keys(out).length > 0 ? out : undefined;
}

function withFields(obj: KubeObject, metadata: Metadata, rest: Record<string, unknown>): KubeObject {
  const out: KubeObject = { apiVersion: obj.apiVersion, kind: obj.kind, metadata };
  for (const [k, v] of Object.entries(rest)) if (v !== undefined) out[k] = v;
  return out;
}

/** Secrets (metadata only): identity and resourceVersion; their labels and annotations are not ours to read. */
export const secretShape: CacheTransform = (obj) => withFields(obj, baseMetadata(obj.metadata), {});

/** PersistentVolumeClaims and Namespaces (metadata only): identity and labels. */
export const labelledShape: CacheTransform = (obj) => withFields(obj, { ...baseMetadata(obj.metadata), ...(obj.metadata.labels ? { labels: obj.metadata.labels } : {}) }, {});

/** Relay pods: who they belong to and where they answer. */
export const podShape: CacheTransform = (obj) =>
  withFields(obj, ownershipMetadata(obj.metadata), { status: pick(obj.status as { podIP?: string; phase?: string } | undefined, ['podIP', 'phase']) });

/** SmtpRelay and SmtpUser: all of it, less kubectl's last-applied copy. */
export const customResourceShape: CacheTransform = (obj) => {
  if (!obj.metadata.annotations || !(LAST_APPLIED in obj.metadata.annotations)) return obj;
  const { annotations: _a, ...metadata } = obj.metadata;
  const annotations = annotationsWithoutLastApplied(obj.metadata);
  return { ...obj, metadata: { ...metadata, ...(annotations ? { annotations } : {}) } };
};

function ownershipMetadata(m: Metadata): Metadata {
  const out = baseMetadata(m);
  if (m.labels) out.labels = m.labels;
  const annotations = annotationsWithoutLastApplied(m);
  if (annotations) out.annotations = annotations;
  if (m.ownerReferences) out.ownerReferences = m.ownerReferences;
  return out;
}

const WORKLOAD_STATUS = ['observedGeneration', 'replicas', 'updatedReplicas', 'readyReplicas', 'availableReplicas'] as const;
const CERTIFICATE_STATUS = ['conditions', 'renewalTime', 'notAfter', 'revision'] as const;

/**
 * A child: its ownership metadata, every field our server-side apply owns (what covers-desired
 * compares; a field another manager took over is dropped, so covers-desired sees it missing and
 * we apply again), and the few fields the reconciler reads that others own (status, the
 * replicas an autoscaler may own).
 */
export function childShape(kind: string): CacheTransform {
  const status: readonly string[] = kind === 'Deployment' || kind === 'StatefulSet' ? WORKLOAD_STATUS : kind === 'Certificate' ? CERTIFICATE_STATUS : [];
  const keepReplicas = kind === 'Deployment' || kind === 'StatefulSet';
  return (obj) => {
    const owned = appliedFieldSet(obj, FIELD_MANAGER) ?? {};
    const rest: Record<string, unknown> = {};
    for (const [key, set] of Object.entries(owned)) {
      if (!key.startsWith('f:')) continue;
      const field = key.slice(2);
      if (field === 'metadata' || field === 'apiVersion' || field === 'kind' || !(field in obj)) continue;
      rest[field] = projectOnFields(obj[field], set);
    }
    const spec = obj.spec as { replicas?: number } | undefined;
    if (keepReplicas && spec?.replicas !== undefined) rest.spec = { ...(rest.spec as object | undefined), replicas: spec.replicas };
    const kept = pick(obj.status as Record<string, unknown> | undefined, status);
    if (kept) rest.status = kept;
    return withFields(obj, ownershipMetadata(obj.metadata), rest);
  };
}

/** One table for every cache of the process: the same strings recur across kinds (names, labels, owner). */
const interner = new StringInterner();

/** The transform, then its result's strings interned (the result is a new object, or the freshly parsed event). */
export function interned(transform: CacheTransform): CacheTransform {
  return (obj) => interner.object(transform(obj));
}
