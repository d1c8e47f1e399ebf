// Compares two renders of the operator's manifests (kustomize's deploy/ and helm's chart)
// object by object, after taking out what only says who rendered them. Pure.

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; [k: string]: unknown };
  [k: string]: unknown;
}

/** Labels that name the tool or the release, not the object: kustomize's managed-by, Helm's own. */
const TOOL_LABELS = ['app.kubernetes.io/managed-by', 'helm.sh/chart', 'app.kubernetes.io/instance', 'app.kubernetes.io/version'];

export const objectKey = (o: K8sObject) => `${o.kind}/${o.metadata.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata.name}`;

/**
 * Without the tool labels. A chart's crds/ are installed verbatim (Helm never templates them),
 * so a CRD cannot carry kustomize's part-of label: it is dropped from CRDs too.
 */
export function normalise(o: K8sObject): K8sObject {
  const copy = structuredClone(o);
  const drop = o.kind === 'CustomResourceDefinition' ? [...TOOL_LABELS, 'app.kubernetes.io/part-of'] : TOOL_LABELS;
  const labels = Object.fromEntries(Object.entries(copy.metadata.labels ?? {}).filter(([k]) => !drop.includes(k)));
  if (Object.keys(labels).length > 0) copy.metadata.labels = labels;
  else delete copy.metadata.labels;
  return copy;
}

/** Where two values differ: JSON paths with both sides, at most `limit` of them. */
export function differences(a: unknown, b: unknown, at = '', limit = 8): string[] {
  if (JSON.stringify(a) === JSON.stringify(b)) return [];
  const bothObjects = a !== null && b !== null && typeof a === 'object' && typeof b === 'object' && Array.isArray(a) === Array.isArray(b);
  if (!bothObjects) return [`${at || '.'}: ${show(a)} vs ${show(b)}`];
  // A list that grew or shrank (a rule, a flag, a port added on one side): name the items each
  // side lacks, instead of every index after the insertion point.
  if (Array.isArray(a) && a.length !== (b as unknown[]).length) return listDifferences(a, b as unknown[], at).slice(0, limit);
  const keys = Array.isArray(a)
    ? [...Array(Math.max(a.length, (b as unknown[]).length)).keys()]
    : [...new Set([...Object.keys(a as object), ...Object.keys(b as object)])].sort();
  const out: string[] = [];
  for (const k of keys) {
    const sub = Array.isArray(a) ? `${at}[${k}]` : `${at}.${String(k)}`;
    out.push(...differences((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], sub, limit - out.length));
    if (out.length >= limit) break;
  }
  return out.slice(0, limit);
}

function listDifferences(a: unknown[], b: unknown[], at: string): string[] {
  const json = (v: unknown) => JSON.stringify(v);
  const inB = new Set(b.map(json));
  const inA = new Set(a.map(json));
  const out = [...a.filter((x) => !inB.has(json(x))).map((x) => `${at}[*]: ${show(x)} vs <absent>`), ...b.filter((x) => !inA.has(json(x))).map((x) => `${at}[*]: <absent> vs ${show(x)}`)];
  return out.length > 0 ? out : [`${at}: the same items, repeated a different number of times`];
}

const show = (v: unknown) => (v === undefined ? '<absent>' : JSON.stringify(v));

/**
 * Every way the two renders differ, one line each, naming both sources; empty when they render
 * the same objects. `left`/`right` name the renders in the messages ("deploy/base", "chart").
 */
export function compareRenders(left: { name: string; objects: K8sObject[] }, right: { name: string; objects: K8sObject[] }): string[] {
  const index = (objs: K8sObject[]) => new Map(objs.map((o) => [objectKey(o), normalise(o)]));
  const l = index(left.objects);
  const r = index(right.objects);
  const problems: string[] = [];
  for (const key of [...new Set([...l.keys(), ...r.keys()])].sort()) {
    const a = l.get(key);
    const b = r.get(key);
    if (!b) problems.push(`${key} is in ${left.name} but ${right.name} does not render it`);
    else if (!a) problems.push(`${key} is rendered by ${right.name} but is not in ${left.name}`);
    else for (const d of differences(a, b)) problems.push(`${key} differs at ${d} (${left.name} vs ${right.name})`);
  }
  return problems;
}
