// Whether a child as stored already holds every field we would server-side
// apply, so the apply can be skipped. A deep subset test: fields others set
// (defaulting, other controllers) are ignored; any field of ours that differs
// or is missing means "apply". Strict: 1 and '1' differ, so a value the API
// server normalised (e.g. a quantity) only costs an unneeded apply, never a skip.
import type { KubeObject } from '../kube/types.js';

/** Server-owned metadata that a desired object never meaningfully carries. */
const IGNORED_METADATA = new Set(['managedFields', 'resourceVersion', 'uid', 'creationTimestamp', 'generation']);

/** True when every key/value of `desired` is present and equal in `actual` (arrays: same length, element-wise subset). Pure. */
export function coversDesired(actual: KubeObject | undefined, desired: KubeObject): boolean {
  if (!actual) return false;
  for (const [key, value] of Object.entries(desired)) {
    if (value === undefined) continue;
    const have = (actual as unknown as Record<string, unknown>)[key];
    if (key === 'metadata' && isPlainObject(value)) {
      if (!isPlainObject(have)) return false;
      for (const [mk, mv] of Object.entries(value)) {
        if (IGNORED_METADATA.has(mk) || mv === undefined) continue;
        if (!subset(have[mk], mv)) return false;
      }
      continue;
    }
    if (!subset(have, value)) return false;
  }
  return true;
}

function subset(actual: unknown, desired: unknown): boolean {
  if (Array.isArray(desired)) {
    return Array.isArray(actual) && actual.length === desired.length && desired.every((d, i) => subset(actual[i], d));
  }
  if (isPlainObject(desired)) {
    if (!isPlainObject(actual)) return false;
    // An undefined value is not sent in JSON, so it asks for nothing.
    return Object.entries(desired).every(([k, v]) => v === undefined || subset(actual[k], v));
  }
  return actual === desired;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
