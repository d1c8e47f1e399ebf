// One informer over a list of namespaces (`operator --namespace a,b`): one list+watch
// per namespace, so a namespaced install needs list/watch in those namespaces only,
// never cluster-wide. Callers see a single KubeInformer.
import type { KubeConfig } from './kube-config.js';
import { createInformer, type IndexFn, type InformerOptions, type InformerStats, type KubeInformer } from './informer.js';
import type { InformerEvent, KubeObject } from './types.js';

/**
 * `namespaces` undefined: all namespaces (one cluster-wide informer).
 * One namespace: a plain informer. Several: one per namespace behind one interface.
 */
export function createInformerFor<T extends KubeObject = KubeObject>(kc: KubeConfig, opts: Omit<InformerOptions, 'namespace'>, namespaces: readonly string[] | undefined): KubeInformer<T> {
  if (!namespaces) return createInformer<T>(kc, opts);
  if (namespaces.length === 1) return createInformer<T>(kc, { ...opts, namespace: namespaces[0] });
  return combineInformers(namespaces.map((namespace) => createInformer<T>(kc, { ...opts, namespace })));
}

/** Several informers of one kind over disjoint namespaces, as one. */
export function combineInformers<T extends KubeObject>(parts: KubeInformer<T>[]): KubeInformer<T> {
  const byNamespace = new Map(parts.map((p) => [p.options.namespace, p]));
  const partFor = (namespace: string | undefined) => (namespace === undefined ? undefined : byNamespace.get(namespace));
  return {
    options: { ...parts[0]!.options, namespace: undefined },
    async start() {
      await Promise.all(parts.map((p) => p.start()));
    },
    stop() {
      for (const p of parts) p.stop();
    },
    hasSynced: () => parts.every((p) => p.hasSynced()),
    async waitForSync(timeoutMs: number) {
      return (await Promise.all(parts.map((p) => p.waitForSync(timeoutMs)))).every(Boolean);
    },
    get: (namespace, name) => partFor(namespace)?.get(namespace, name),
    list: (namespace) => (namespace === undefined ? parts.flatMap((p) => p.list()) : (partFor(namespace)?.list(namespace) ?? [])),
    on(event: InformerEvent, handler: (obj: T, old?: T) => void) {
      for (const p of parts) p.on(event, handler);
    },
    off(event: InformerEvent, handler: (obj: T, old?: T) => void) {
      for (const p of parts) p.off(event, handler);
    },
    onError(handler: (err: unknown) => void) {
      for (const p of parts) p.onError(handler);
    },
    addIndex(name: string, fn: IndexFn<T>) {
      for (const p of parts) p.addIndex(name, fn);
    },
    byIndex: (name, value) => parts.flatMap((p) => p.byIndex(name, value)),
    stats(): InformerStats {
      const all = parts.map((p) => p.stats());
      return {
        lists: all.reduce((n, s) => n + s.lists, 0),
        watches: all.reduce((n, s) => n + s.watches, 0),
        gone: all.reduce((n, s) => n + s.gone, 0),
        errors: all.reduce((n, s) => n + s.errors, 0),
        // Resource versions of different watches are not comparable: report none.
        lastResourceVersion: '',
      };
    },
  };
}
