// Equal strings in cached objects, made one: every watch event is parsed anew, so 10,000
// cached Deployments held 10,000 copies of the same image, label values, owner kind and
// API version (strings were ~40 % of the operator's heap at 10,000 relays). Interning keeps
// one copy of each. Property names need nothing: V8 already shares those.
// The table is bounded: past maxEntries it starts over. Equal strings stay equal either way;
// only the sharing restarts, so churn (checksums, timestamps) cannot grow it for ever.

/** Values unique to one object: sharing them saves nothing and fills the table. */
const UNIQUE_METADATA = new Set(['uid', 'resourceVersion', 'creationTimestamp', 'deletionTimestamp', 'generation']);

export class StringInterner {
  private table = new Map<string, string>();

  constructor(
    private readonly maxEntries = 200_000,
    /** Longer strings (messages, certificates, JSON documents) are rarely equal: left as they are. */
    private readonly maxLength = 128,
  ) {}

  get size(): number {
    return this.table.size;
  }

  string(s: string): string {
    if (s.length > this.maxLength) return s;
    const shared = this.table.get(s);
    if (shared !== undefined) return shared;
    if (this.table.size >= this.maxEntries) this.table = new Map();
    this.table.set(s, s);
    return s;
  }

  /** A Kubernetes object: every string but its own identity (uid, resourceVersion, timestamps). In place. */
  object<T extends object>(obj: T): T {
    for (const key of Object.keys(obj)) {
      const v = (obj as Record<string, unknown>)[key];
      (obj as Record<string, unknown>)[key] = this.walk(v, key === 'metadata');
    }
    return obj;
  }

  private walk(value: unknown, isMetadata: boolean): unknown {
    if (typeof value === 'string') return this.string(value);
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) value[i] = this.walk(value[i], false);
      return value;
    }
    if (value !== null && typeof value === 'object') {
      const o = value as Record<string, unknown>;
      for (const key of Object.keys(o)) {
        if (isMetadata && UNIQUE_METADATA.has(key)) continue;
        o[key] = this.walk(o[key], false);
      }
    }
    return value;
  }
}
