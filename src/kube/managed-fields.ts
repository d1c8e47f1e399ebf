// The fields one field manager owns, read from metadata.managedFields (FieldsV1), and
// an object cut down to them. A cache that keeps only what our server-side apply owns
// still tells "does the stored object hold what we would send?" (covers-desired), and
// drops what the API server and other controllers filled in.
//
// FieldsV1 keys: `f:<name>` a map field, `k:<json>` a list element by its key fields,
// `v:<json>` a set element by value, `i:<n>` a list element by index, `.` the element
// itself. A field whose set is empty (or only `.`) is owned whole (a scalar, an atomic
// list or map).
import type { KubeObject } from './types.js';

export type FieldSet = { [key: string]: FieldSet };

interface ManagedFieldsEntry {
  manager?: string;
  operation?: string;
  subresource?: string;
  fieldsType?: string;
  fieldsV1?: FieldSet;
}

/** The field set `manager` owns through server-side apply on the main resource (not a subresource); undefined when it owns nothing there. Pure. */
export function appliedFieldSet(obj: Pick<KubeObject, 'metadata'>, manager: string): FieldSet | undefined {
  const entries = (obj.metadata.managedFields ?? []) as ManagedFieldsEntry[];
  const mine = entries.filter((e) => e.manager === manager && e.operation === 'Apply' && !e.subresource && e.fieldsType === 'FieldsV1' && e.fieldsV1);
  if (mine.length === 0) return undefined;
  return mine.length === 1 ? mine[0]!.fieldsV1 : mine.reduce<FieldSet>((all, e) => mergeSets(all, e.fieldsV1!), {});
}

function mergeSets(a: FieldSet, b: FieldSet): FieldSet {
  const out: FieldSet = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = out[k] ? mergeSets(out[k]!, v) : v;
  return out;
}

/** `value` cut down to the parts `set` names, in the value's own order. Pure: never changes `value`. */
export function projectOnFields(value: unknown, set: FieldSet): unknown {
  const keys = Object.keys(set).filter((k) => k !== '.');
  if (keys.length === 0) return value; // owned whole
  if (Array.isArray(value)) {
    const matchers = keys.map((k) => ({ match: elementMatcher(k), set: set[k]! }));
    const out: unknown[] = [];
    value.forEach((element, index) => {
      const hit = matchers.find((m) => m.match(element, index));
      if (hit) out.push(projectOnFields(element, hit.set));
    });
    return out;
  }
  if (isPlainObject(value)) {
    const out: Record<string, unknown> = {};
    for (const k of keys) {
      if (!k.startsWith('f:')) continue;
      const name = k.slice(2);
      if (name in value) out[name] = projectOnFields(value[name], set[k]!);
    }
    return out;
  }
  return value;
}

function elementMatcher(key: string): (element: unknown, index: number) => boolean {
  const kind = key.slice(0, 2);
  const rest = key.slice(2);
  if (kind === 'i:') return (_e, index) => index === Number(rest);
  let parsed: unknown;
  try {
    parsed = JSON.parse(rest);
  } catch {
    return () => false;
  }
  if (kind === 'k:' && isPlainObject(parsed)) {
    const fields = Object.entries(parsed);
    return (element) => isPlainObject(element) && fields.every(([f, v]) => sameValue(element[f], v));
  }
  if (kind === 'v:') return (element) => sameValue(element, parsed);
  return () => false;
}

function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  return JSON.stringify(a) === JSON.stringify(b);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
