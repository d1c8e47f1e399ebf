// A list+watch cache of one resource (client-go's reflector + indexer, small).
//
// The loop: list (paged) -> replace the cache, emitting add/update/delete for
// the difference -> watch from the list's resourceVersion with bookmarks ->
// when the server ends the watch (timeoutSeconds) re-watch from the last
// resourceVersion; on 410 Gone relist; on any other failure (API server
// restarting, connection refused) retry with capped exponential backoff.
// A socket silent for longer than the watch timeout is treated as dead.
import type { KubeConfig } from './kube-config.js';
import { isGone, KubeError } from './errors.js';
import { kubeRequest, kubeStreamLines, resourcePath, type KubeStream } from './http.js';
import type { Informer, InformerEvent, KubeObject } from './types.js';

export const PARTIAL_OBJECT_METADATA_LIST = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json';
export const PARTIAL_OBJECT_METADATA = 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json';

export interface InformerOptions {
  /** e.g. 'v1', 'apps/v1', 'smtprelay.dev/v1alpha1'. */
  apiVersion: string;
  kind: string;
  /** The resource name in URLs, e.g. 'secrets'. */
  plural: string;
  /** Omit for all namespaces. */
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /**
   * Cache only metadata (PartialObjectMetadata): for Secrets, so their bytes never
   * enter this process's cache. Cached objects then carry apiVersion/kind of the
   * resource (e.g. v1/Secret) and metadata only.
   */
  metadataOnly?: boolean;
  /**
   * Drop metadata.managedFields from cached objects. Default true: they are
   * often 40% of an object, and nothing reads them from a cache (apply strips
   * them anyway before sending an object).
   */
  stripManagedFields?: boolean;
  /**
   * Cut each object down before it is cached and handed to handlers (client-go's
   * TransformFunc): keep only what the readers of this cache use. Sees the object as
   * listed or watched, managedFields included (they are dropped afterwards); must be
   * pure and keep metadata.name, namespace and resourceVersion.
   */
  transform?: (obj: KubeObject) => KubeObject;
  /** Emit 'update' (obj, obj) for every cached object this often. Default: never. */
  resyncMs?: number;
  /** Server-side watch timeout; the watch is then re-opened. Default 300 s (jittered by up to +10%). */
  watchTimeoutSeconds?: number;
  /** Retry backoff after failures. Default 500 ms doubling to 30 s. */
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  /** List page size. Default 500. */
  pageSize?: number;
}

export interface InformerStats {
  /** Full lists done (the first one and every relist after 410 Gone). */
  lists: number;
  /** Watch requests opened. */
  watches: number;
  /** 410 Gone answers seen (list or watch). */
  gone: number;
  /** Failures other than 410 (connection refused, 5xx, ...). */
  errors: number;
  lastResourceVersion: string;
}

/** The index values an object is found under. Must be pure: it is called again on the cached (old) object to unindex it. */
export type IndexFn<T> = (obj: T) => string[];

export interface KubeInformer<T extends KubeObject = KubeObject> extends Informer<T> {
  readonly options: Readonly<InformerOptions>;
  /** Remove a handler added with on(). */
  off(event: InformerEvent, handler: (obj: T, old?: T) => void): void;
  /** Resolves true once synced, false after timeoutMs or stop(). */
  waitForSync(timeoutMs: number): Promise<boolean>;
  /** Maintain an index: fn maps an object to the index values it is found under. */
  addIndex(name: string, fn: IndexFn<T>): void;
  /** Cached objects whose index `name` contains `value`. */
  byIndex(name: string, value: string): T[];
  stats(): InformerStats;
}

/** "namespace/name", or "name" for cluster-scoped objects. Pure. */
export function objectKey(obj: Pick<KubeObject, 'metadata'>): string {
  return obj.metadata.namespace ? `${obj.metadata.namespace}/${obj.metadata.name}` : obj.metadata.name;
}

/** Split a "namespace/name" key. Pure. */
export function splitKey(key: string): { namespace: string | undefined; name: string } {
  const i = key.indexOf('/');
  return i < 0 ? { namespace: undefined, name: key } : { namespace: key.slice(0, i), name: key.slice(i + 1) };
}

/**
 * "namespace/name" of the object's controller owner (ownerReferences[].controller = true),
 * optionally only when that owner is of the given kind (and apiVersion group). Pure.
 */
export function controllerOwnerKey(obj: Pick<KubeObject, 'metadata'>, kind?: string, apiGroup?: string): string | undefined {
  const ref = obj.metadata.ownerReferences?.find((r) => r.controller === true);
  if (!ref) return undefined;
  if (kind !== undefined && ref.kind !== kind) return undefined;
  if (apiGroup !== undefined && (ref.apiVersion.includes('/') ? ref.apiVersion.split('/')[0] : '') !== apiGroup) return undefined;
  return obj.metadata.namespace ? `${obj.metadata.namespace}/${ref.name}` : ref.name;
}

type Handler<T> = (obj: T, old?: T) => void;

interface IndexState<T> {
  fn: IndexFn<T>;
  /**
   * Value -> the key of the one object found under it, or a Set of keys when there are several.
   * Most values have one object (a relay's ConfigMap): the generic form (a Set of keys per value and
   * an array of values per object) cost ~29 MiB at 10,000 relays, this one ~5. No per-object list of
   * values: the pure fn recomputes the old ones.
   */
  byValue: Map<string, string | Set<string>>;
}

interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: KubeObject & { code?: number; reason?: string; message?: string };
}

export function createInformer<T extends KubeObject = KubeObject>(kc: KubeConfig, opts: InformerOptions): KubeInformer<T> {
  if (!opts.apiVersion || !opts.kind || !opts.plural) throw new Error('createInformer needs apiVersion, kind and plural');
  const path = resourcePath(opts.apiVersion, opts.plural, opts.namespace);
  const backoffInitialMs = opts.backoffInitialMs ?? 500;
  const backoffMaxMs = opts.backoffMaxMs ?? 30_000;
  const watchTimeoutSeconds = opts.watchTimeoutSeconds ?? 300;

  const cache = new Map<string, T>();
  /** The cache by namespace: list(namespace) reads its namespace, not every object (10,000 relays' children). */
  const byNamespace = new Map<string, Map<string, T>>();
  const handlers: Record<InformerEvent, Handler<T>[]> = { add: [], update: [], delete: [] };
  const errorHandlers: Array<(err: unknown) => void> = [];
  const indexes = new Map<string, IndexState<T>>();
  const stats: InformerStats = { lists: 0, watches: 0, gone: 0, errors: 0, lastResourceVersion: '' };
  const syncWaiters = new Set<(synced: boolean) => void>();

  let synced = false;
  let running = false;
  // Bumped by stop(), so a loop still unwinding from an earlier start() exits.
  let generation = 0;
  let resourceVersion = '';
  let stream: KubeStream | undefined;
  let wakeSleep: (() => void) | undefined;
  let resyncTimer: NodeJS.Timeout | undefined;

  const reportError = (err: unknown): void => {
    for (const h of errorHandlers) {
      try {
        h(err);
      } catch {
        // an error handler must not break the informer
      }
    }
  };

  const emit = (event: InformerEvent, obj: T, old?: T): void => {
    for (const h of handlers[event].slice()) {
      try {
        h(obj, old);
      } catch (err) {
        reportError(err);
      }
    }
  };

  // Lists and metadata-only answers do not carry the resource's apiVersion/kind.
  const stripManagedFields = opts.stripManagedFields ?? true;
  const normalize = (raw: KubeObject): T => {
    const typed = { ...raw, apiVersion: opts.apiVersion, kind: opts.kind };
    const obj = opts.transform && typed.metadata ? opts.transform(typed) : typed;
    if (stripManagedFields && obj.metadata?.managedFields) {
      const { managedFields: _dropped, ...metadata } = obj.metadata;
      return { ...obj, metadata } as T;
    }
    return obj as T;
  };

  function indexValues(idx: IndexState<T>, obj: T | undefined): string[] {
    if (!obj) return [];
    try {
      return idx.fn(obj);
    } catch (err) {
      reportError(err);
      return [];
    }
  }

  function indexAdd(idx: IndexState<T>, value: string, key: string): void {
    const keys = idx.byValue.get(value);
    if (keys === undefined) idx.byValue.set(value, key);
    else if (typeof keys !== 'string') keys.add(key);
    else if (keys !== key) idx.byValue.set(value, new Set([keys, key]));
  }

  function indexDelete(idx: IndexState<T>, value: string, key: string): void {
    const keys = idx.byValue.get(value);
    if (keys === key) idx.byValue.delete(value);
    else if (keys !== undefined && typeof keys !== 'string' && keys.delete(key) && keys.size === 1) {
      idx.byValue.set(value, keys.values().next().value!);
    }
  }

  /** Moves `key` from the index values of `old` (the cached object it replaces) to those of `obj`. */
  function indexPut(key: string, obj: T | undefined, old: T | undefined): void {
    for (const idx of indexes.values()) {
      const before = indexValues(idx, old);
      const after = indexValues(idx, obj);
      for (const v of before) if (!after.includes(v)) indexDelete(idx, v, key);
      for (const v of after) indexAdd(idx, v, key);
    }
  }

  function namespacePut(key: string, obj: T, present: boolean): void {
    const ns = obj.metadata.namespace;
    if (ns === undefined) return; // cluster-scoped: only list() with no namespace finds it
    let m = byNamespace.get(ns);
    if (present) {
      if (!m) byNamespace.set(ns, (m = new Map()));
      m.set(key, obj);
    } else if (m) {
      m.delete(key);
      if (m.size === 0) byNamespace.delete(ns);
    }
  }

  function upsert(obj: T): void {
    const key = objectKey(obj);
    const old = cache.get(key);
    cache.set(key, obj);
    namespacePut(key, obj, true);
    indexPut(key, obj, old);
    if (!old) emit('add', obj);
    else if (old.metadata.resourceVersion !== obj.metadata.resourceVersion) emit('update', obj, old);
  }

  function remove(obj: T): void {
    const key = objectKey(obj);
    const old = cache.get(key);
    if (!old) return;
    cache.delete(key);
    namespacePut(key, old, false);
    indexPut(key, undefined, old);
    emit('delete', obj);
  }

  /** Replace the cache with a full list, emitting the difference. */
  function replace(items: T[]): void {
    const fresh = new Set(items.map(objectKey));
    for (const [key, old] of [...cache]) if (!fresh.has(key)) remove(old);
    for (const item of items) upsert(item);
  }

  const sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done(): void {
        clearTimeout(t);
        wakeSleep = undefined;
        resolve();
      }
      wakeSleep = done;
    });

  async function list(alive: () => boolean): Promise<void> {
    const items: T[] = [];
    let cont: string | undefined;
    let rv = '';
    do {
      const page = await kubeRequest<{ items?: KubeObject[]; metadata?: { continue?: string; resourceVersion?: string } }>(kc, {
        method: 'GET',
        path,
        accept: opts.metadataOnly ? PARTIAL_OBJECT_METADATA_LIST : undefined,
        query: { labelSelector: opts.labelSelector, fieldSelector: opts.fieldSelector, limit: opts.pageSize ?? 500, continue: cont },
        timeoutMs: 60_000,
      });
      for (const item of page.items ?? []) items.push(normalize(item));
      cont = page.metadata?.continue || undefined;
      rv = page.metadata?.resourceVersion ?? '';
    } while (cont && alive());
    if (!alive()) return;
    stats.lists++;
    replace(items);
    resourceVersion = rv;
    stats.lastResourceVersion = rv;
    if (!synced) {
      synced = true;
      for (const w of syncWaiters) w(true);
      syncWaiters.clear();
    }
  }

  /** One watch request; resolves when the server ends it, rejects with KubeError (410 included). */
  async function watch(alive: () => boolean): Promise<void> {
    const timeoutSeconds = Math.round(watchTimeoutSeconds * (1 + Math.random() * 0.1));
    let failure: KubeError | undefined;
    stats.watches++;
    let self: KubeStream | undefined;
    const s = await kubeStreamLines(
      kc,
      {
        method: 'GET',
        path,
        accept: opts.metadataOnly ? PARTIAL_OBJECT_METADATA : undefined,
        query: {
          watch: true,
          resourceVersion,
          allowWatchBookmarks: true,
          timeoutSeconds,
          labelSelector: opts.labelSelector,
          fieldSelector: opts.fieldSelector,
        },
        // The server closes the watch after timeoutSeconds; silence well past that means a dead connection.
        idleTimeoutMs: (timeoutSeconds + 30) * 1000,
      },
      (line) => {
        if (!alive()) return;
        let ev: WatchEvent;
        try {
          ev = JSON.parse(line) as WatchEvent;
        } catch {
          return;
        }
        const o = ev.object;
        if (ev.type === 'ERROR') {
          const code = typeof o?.code === 'number' ? o.code : 500;
          failure = new KubeError(code, o?.reason ?? 'WatchError', `watch ${path}: ${o?.message ?? 'error event'}`);
          self?.abort();
          return;
        }
        if (!o?.metadata) return;
        if (ev.type === 'ADDED' || ev.type === 'MODIFIED') upsert(normalize(o));
        else if (ev.type === 'DELETED') remove(normalize(o));
        if (o.metadata.resourceVersion) {
          resourceVersion = o.metadata.resourceVersion;
          stats.lastResourceVersion = resourceVersion;
        }
      },
    );
    self = s;
    if (alive()) stream = s;
    else s.abort();
    await s.ended;
    if (stream === s) stream = undefined;
    if (failure) throw failure;
  }

  async function run(gen: number): Promise<void> {
    const alive = (): boolean => running && gen === generation;
    let backoff = backoffInitialMs;
    while (alive()) {
      try {
        if (!resourceVersion) await list(alive);
        if (!alive()) break;
        await watch(alive);
        backoff = backoffInitialMs; // a watch that ended normally: the server is healthy
      } catch (err) {
        if (!alive()) break;
        if (isGone(err)) {
          // Our resourceVersion is compacted away: relist at once.
          stats.gone++;
          resourceVersion = '';
          continue;
        }
        stats.errors++;
        reportError(err);
        await sleep(backoff * (0.8 + Math.random() * 0.4));
        backoff = Math.min(backoff * 2, backoffMaxMs);
      }
    }
  }

  return {
    options: opts,
    start(): Promise<void> {
      if (!running) {
        running = true;
        void run(generation);
        if (opts.resyncMs && opts.resyncMs > 0) {
          resyncTimer = setInterval(() => {
            if (synced) for (const obj of [...cache.values()]) emit('update', obj, obj);
          }, opts.resyncMs);
          resyncTimer.unref();
        }
      }
      return synced ? Promise.resolve() : new Promise((resolve) => syncWaiters.add(() => resolve()));
    },
    stop(): void {
      if (!running) return;
      running = false;
      generation++;
      stream?.abort();
      stream = undefined;
      wakeSleep?.();
      if (resyncTimer) clearInterval(resyncTimer);
      resyncTimer = undefined;
      for (const w of syncWaiters) w(false);
      syncWaiters.clear();
    },
    hasSynced: () => synced,
    waitForSync(timeoutMs: number): Promise<boolean> {
      if (synced) return Promise.resolve(true);
      return new Promise((resolve) => {
        const t = setTimeout(() => {
          syncWaiters.delete(w);
          resolve(false);
        }, timeoutMs);
        const w = (ok: boolean): void => {
          clearTimeout(t);
          resolve(ok);
        };
        syncWaiters.add(w);
      });
    },
    get(namespace: string | undefined, name: string): T | undefined {
      return cache.get(namespace ? `${namespace}/${name}` : name);
    },
    list(namespace?: string): T[] {
      if (namespace === undefined) return [...cache.values()];
      return [...(byNamespace.get(namespace)?.values() ?? [])];
    },
    on(event: InformerEvent, handler: Handler<T>): void {
      if (!handlers[event]) throw new Error(`unknown informer event '${String(event)}'`);
      handlers[event].push(handler);
    },
    off(event: InformerEvent, handler: Handler<T>): void {
      const list = handlers[event];
      const i = list?.indexOf(handler) ?? -1;
      if (i >= 0) list!.splice(i, 1);
    },
    onError(handler: (err: unknown) => void): void {
      errorHandlers.push(handler);
    },
    addIndex(name: string, fn: IndexFn<T>): void {
      if (indexes.has(name)) throw new Error(`informer index '${name}' already exists`);
      const idx: IndexState<T> = { fn, byValue: new Map() };
      indexes.set(name, idx);
      for (const [key, obj] of cache) for (const v of indexValues(idx, obj)) indexAdd(idx, v, key);
    },
    byIndex(name: string, value: string): T[] {
      const idx = indexes.get(name);
      if (!idx) throw new Error(`informer index '${name}' does not exist`);
      const keys = idx.byValue.get(value);
      if (keys === undefined) return [];
      return (typeof keys === 'string' ? [keys] : [...keys]).map((k) => cache.get(k)).filter((o): o is T => o !== undefined);
    },
    stats: () => ({ ...stats }),
  };
}

/** Add an index to an informer (same as informer.addIndex), returning a lookup function. */
export function createIndex<T extends KubeObject>(informer: KubeInformer<T>, name: string, fn: IndexFn<T>): (value: string) => T[] {
  informer.addIndex(name, fn);
  return (value) => informer.byIndex(name, value);
}
