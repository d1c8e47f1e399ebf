// Contracts of the generic Kubernetes runtime pieces in src/kube/.
// The controller codes against these; src/kube implements them.

/** Any Kubernetes object, as plain JSON. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    generation?: number;
    resourceVersion?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: OwnerReference[];
    creationTimestamp?: string;
    deletionTimestamp?: string;
    managedFields?: unknown[];
  };
  [key: string]: unknown;
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

/** What one reconcile asks for next (controller-runtime's Result). */
export interface ReconcileResult {
  /** Run this key again after this many ms (periodic work). */
  requeueAfterMs?: number;
}

export type ReconcileFn = (key: string) => Promise<ReconcileResult | void>;

/** A de-duplicating, rate-limited work queue (client-go's workqueue semantics). */
export interface WorkQueue {
  /** Add a key now. A key already queued is not queued twice; a key in flight is marked dirty and runs again after. */
  add(key: string): void;
  /** Add a key after a delay. */
  addAfter(key: string, delayMs: number): void;
  /** Add with per-key exponential backoff (failures). */
  addRateLimited(key: string): void;
  /** Reset a key's backoff (success). */
  forget(key: string): void;
  /** Resolves with the next key, or undefined once shut down and drained. */
  get(): Promise<string | undefined>;
  /** Mark a key's processing finished. */
  done(key: string): void;
  /** Keys waiting (not counting delayed ones). */
  len(): number;
  shutDown(): void;
}

export type InformerEvent = 'add' | 'update' | 'delete';

/** A list+watch cache of one kind (optionally one namespace, label selector). */
export interface Informer<T extends KubeObject = KubeObject> {
  start(): Promise<void>;
  stop(): void;
  /** True after the first list has filled the cache. */
  hasSynced(): boolean;
  get(namespace: string | undefined, name: string): T | undefined;
  list(namespace?: string): T[];
  on(event: InformerEvent, handler: (obj: T, old?: T) => void): void;
  /** Called with errors; the informer restarts itself with backoff. */
  onError(handler: (err: unknown) => void): void;
}
