// Object writes and reads by apiVersion/kind: server-side apply (objects and
// the status subresource), delete, get, list, and API discovery.
import type { KubeConfig } from './kube-config.js';
import { KubeError, isNotFound, isResourceNotServed } from './errors.js';
import { kubeRequest, resourcePath } from './http.js';
import type { KubeObject } from './types.js';

export const APPLY_PATCH_CONTENT_TYPE = 'application/apply-patch+yaml';

/** How a kind is served: its plural and whether it lives in namespaces. */
export interface ResourceInfo {
  plural: string;
  namespaced: boolean;
}

interface ApiResource {
  name: string;
  kind: string;
  namespaced: boolean;
}

// ---- discovery (cached per KubeConfig and group/version) -------------------

const FOUND_TTL_MS = 5 * 60_000;
// Short, so that installing cert-manager is noticed soon.
const MISSING_TTL_MS = 10_000;

interface DiscoveryEntry {
  at: number;
  resources: ApiResource[] | undefined; // undefined: the group/version is not served
}
const discoveryCache = new WeakMap<KubeConfig, Map<string, DiscoveryEntry>>();

async function discover(kc: KubeConfig, apiVersion: string): Promise<ApiResource[] | undefined> {
  let cache = discoveryCache.get(kc);
  if (!cache) discoveryCache.set(kc, (cache = new Map()));
  const hit = cache.get(apiVersion);
  const now = Date.now();
  if (hit && now - hit.at < (hit.resources ? FOUND_TTL_MS : MISSING_TTL_MS)) return hit.resources;
  const path = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
  let resources: ApiResource[] | undefined;
  try {
    const list = await kubeRequest<{ resources?: ApiResource[] }>(kc, { method: 'GET', path });
    resources = list.resources ?? [];
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  cache.set(apiVersion, { at: now, resources });
  return resources;
}

/** Forget discovery results (e.g. after installing CRDs). */
export function clearDiscoveryCache(kc: KubeConfig): void {
  discoveryCache.delete(kc);
}

/** True when the API server serves group/version/plural (group '' is the core group). Cached with a TTL. */
export async function hasResource(kc: KubeConfig, group: string, version: string, plural: string): Promise<boolean> {
  const resources = await discover(kc, group ? `${group}/${version}` : version);
  return resources?.some((r) => r.name === plural) ?? false;
}

/** The plural of a kind via discovery. Throws KubeError 404 NotFound when the kind is not served (CRD not installed). */
export async function resolveResource(kc: KubeConfig, apiVersion: string, kind: string): Promise<ResourceInfo> {
  const resources = await discover(kc, apiVersion);
  const r = resources?.find((x) => x.kind === kind && !x.name.includes('/'));
  if (!r) throw new KubeError(404, 'NotFound', `the server does not serve ${kind} in ${apiVersion} (is its CRD installed?)`, { notServed: true, kind, apiVersion });
  return { plural: r.name, namespaced: r.namespaced };
}

// ---- reads and writes -------------------------------------------------------

export interface ObjectRef {
  apiVersion: string;
  kind: string;
  name: string;
  namespace?: string;
}

async function objectPath(kc: KubeConfig, ref: ObjectRef, subresource?: string): Promise<string> {
  const { plural, namespaced } = await resolveResource(kc, ref.apiVersion, ref.kind);
  if (namespaced && !ref.namespace) throw new Error(`${ref.kind} ${ref.name} is namespaced, but no namespace was given`);
  return resourcePath(ref.apiVersion, plural, namespaced ? ref.namespace : undefined, ref.name, subresource);
}

export interface ApplyOptions {
  fieldManager: string;
  /** Take over fields other managers own. Default true (a controller owns its fields). */
  force?: boolean;
  dryRun?: boolean;
  /**
   * Create the object, never change one that exists: an object of that name that is
   * already there (whoever made it) is left untouched and the call fails with a
   * KubeError 409 Conflict. A server-side apply still (fields owned by fieldManager
   * as Apply, unlike a POST), so later applies remove the fields we stop sending.
   */
  createOnly?: boolean;
}

/**
 * A resourceVersion no stored object has (etcd revisions never get near 2^63): sent in an
 * apply, it is an optimistic-lock precondition that fails with 409 on any existing object,
 * while an apply that creates the object ignores it.
 */
const NO_STORED_OBJECT_VERSION = '9223372036854775807';

function refOf(obj: KubeObject): ObjectRef {
  if (!obj.apiVersion || !obj.kind || !obj.metadata?.name) throw new Error('apply needs apiVersion, kind and metadata.name');
  return { apiVersion: obj.apiVersion, kind: obj.kind, name: obj.metadata.name, namespace: obj.metadata.namespace };
}

async function ssa<T>(kc: KubeConfig, path: string, body: unknown, opts: ApplyOptions): Promise<T> {
  if (!opts.fieldManager) throw new Error('server-side apply needs a fieldManager');
  return kubeRequest<T>(kc, {
    method: 'PATCH',
    path,
    // JSON is YAML, so the apply-patch+yaml content type takes it as is.
    contentType: APPLY_PATCH_CONTENT_TYPE,
    query: { fieldManager: opts.fieldManager, force: opts.force ?? true, dryRun: opts.dryRun ? 'All' : undefined },
    body,
  });
}

/**
 * Server-side apply the object: the fields in `obj` become owned by fieldManager,
 * fields we stop sending are removed, fields of other managers are left alone.
 * An unchanged object is not written (resourceVersion stays).
 */
export async function applyObject<T extends KubeObject = KubeObject>(kc: KubeConfig, obj: KubeObject, opts: ApplyOptions): Promise<T> {
  const { managedFields: _m, resourceVersion: _rv, ...metadata } = obj.metadata;
  const precondition = opts.createOnly ? { resourceVersion: NO_STORED_OBJECT_VERSION } : {};
  return ssa<T>(kc, await objectPath(kc, refOf(obj)), { ...obj, metadata: { ...metadata, ...precondition } }, opts);
}

/** Server-side apply of the status subresource: only apiVersion, kind, name, namespace and status are sent. */
export async function applyStatus<T extends KubeObject = KubeObject>(kc: KubeConfig, obj: KubeObject & { status: unknown }, opts: ApplyOptions): Promise<T> {
  const ref = refOf(obj);
  const body = {
    apiVersion: obj.apiVersion,
    kind: obj.kind,
    metadata: { name: ref.name, ...(ref.namespace ? { namespace: ref.namespace } : {}) },
    status: obj.status,
  };
  return ssa<T>(kc, await objectPath(kc, ref, 'status'), body, opts);
}

/** The object, or undefined when it does not exist. */
export async function getObject<T extends KubeObject = KubeObject>(kc: KubeConfig, ref: ObjectRef): Promise<T | undefined> {
  try {
    return await kubeRequest<T>(kc, { method: 'GET', path: await objectPath(kc, ref) });
  } catch (err) {
    if (isNotFound(err) && !isResourceNotServed(err)) return undefined;
    throw err;
  }
}

export interface ListOptions {
  apiVersion: string;
  kind: string;
  /** Omit for all namespaces. */
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Page size. Default 500. */
  limit?: number;
}

/** All matching objects (follows `continue` pages). */
export async function listObjects<T extends KubeObject = KubeObject>(kc: KubeConfig, opts: ListOptions): Promise<T[]> {
  const { plural, namespaced } = await resolveResource(kc, opts.apiVersion, opts.kind);
  const path = resourcePath(opts.apiVersion, plural, namespaced ? opts.namespace : undefined);
  const items: T[] = [];
  let cont: string | undefined;
  do {
    const page = await kubeRequest<{ items?: T[]; metadata?: { continue?: string } }>(kc, {
      method: 'GET',
      path,
      query: { labelSelector: opts.labelSelector, fieldSelector: opts.fieldSelector, limit: opts.limit ?? 500, continue: cont },
    });
    // Lists leave apiVersion/kind off the items; put them back so items are usable as refs.
    for (const item of page.items ?? []) items.push({ ...item, apiVersion: opts.apiVersion, kind: opts.kind });
    cont = page.metadata?.continue || undefined;
  } while (cont);
  return items;
}

export interface DeleteOptions {
  /** Default 'Background'. */
  propagationPolicy?: 'Background' | 'Foreground' | 'Orphan';
  /** Only delete the object with this uid (not a newer one of the same name): a mismatch is a 409 Conflict. */
  uid?: string;
  resourceVersion?: string;
}

/** Delete; resolves true when deleted (or deletion started), false when it was already gone. */
export async function deleteObject(kc: KubeConfig, ref: ObjectRef, opts: DeleteOptions = {}): Promise<boolean> {
  let path: string;
  try {
    path = await objectPath(kc, ref);
  } catch (err) {
    if (isNotFound(err)) return false; // the kind is not even served: nothing to delete
    throw err;
  }
  const preconditions = opts.uid || opts.resourceVersion ? { uid: opts.uid, resourceVersion: opts.resourceVersion } : undefined;
  try {
    await kubeRequest(kc, {
      method: 'DELETE',
      path,
      body: { apiVersion: 'v1', kind: 'DeleteOptions', propagationPolicy: opts.propagationPolicy ?? 'Background', ...(preconditions ? { preconditions } : {}) },
    });
    return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}

/** Create (POST); a 409 AlreadyExists is thrown as a KubeError for the caller to decide. */
export async function createObject<T extends KubeObject = KubeObject>(kc: KubeConfig, obj: KubeObject, opts: { fieldManager?: string } = {}): Promise<T> {
  const ref = refOf(obj);
  const { plural, namespaced } = await resolveResource(kc, ref.apiVersion, ref.kind);
  return kubeRequest<T>(kc, {
    method: 'POST',
    path: resourcePath(ref.apiVersion, plural, namespaced ? ref.namespace : undefined),
    query: { fieldManager: opts.fieldManager },
    body: obj,
  });
}
