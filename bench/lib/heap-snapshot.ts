// Where a process's heap goes: a V8 heap snapshot (taken after a full GC, so only live
// objects) summed by constructor, the way DevTools' "Summary" view groups it (self sizes).
import fs from 'node:fs';

export interface HeapGroup {
  name: string;
  count: number;
  selfBytes: number;
}

export interface HeapSummary {
  /** Sum of every live object's self size: the retained heap. */
  totalBytes: number;
  nodes: number;
  /** Groups by constructor, largest first. */
  groups: HeapGroup[];
}

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

/** DevTools' grouping: objects by constructor name, the rest by kind. */
function groupName(type: string, name: string): string {
  switch (type) {
    case 'object':
    case 'native':
      return name;
    case 'closure':
      return '(closure)';
    case 'string':
    case 'concatenated string':
    case 'sliced string':
      return '(string)';
    case 'array':
      return '(array)';
    case 'code':
      return '(compiled code)';
    case 'hidden':
    case 'synthetic':
    case 'object shape':
      return '(system)';
    default:
      return `(${type})`;
  }
}

/** Summarises a .heapsnapshot file; undefined when it is too large to parse as one string. */
export function summarizeHeapSnapshot(file: string, top = 15): HeapSummary | undefined {
  if (fs.statSync(file).size > 480 * 1024 * 1024) return undefined;
  const snap = JSON.parse(fs.readFileSync(file, 'utf8')) as Snapshot;
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const stride = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const sizeAt = fields.indexOf('self_size');
  const groups = new Map<string, HeapGroup>();
  let total = 0;
  for (let i = 0; i < snap.nodes.length; i += stride) {
    const size = snap.nodes[i + sizeAt]!;
    const name = groupName(types[snap.nodes[i + typeAt]!]!, snap.strings[snap.nodes[i + nameAt]!]!);
    const g = groups.get(name) ?? { name, count: 0, selfBytes: 0 };
    g.count++;
    g.selfBytes += size;
    groups.set(name, g);
    total += size;
  }
  const sorted = [...groups.values()].sort((a, b) => b.selfBytes - a.selfBytes);
  return { totalBytes: total, nodes: snap.nodes.length / stride, groups: sorted.slice(0, top) };
}

/** "Object 12.3 MiB (45,000), (string) 8.1 MiB (90,000), ..." */
export function formatHeapGroups(groups: HeapGroup[], count = 8): string {
  return groups
    .slice(0, count)
    .map((g) => `${g.name} ${(g.selfBytes / 1048576).toFixed(1)} MiB (${g.count.toLocaleString('en-US')})`)
    .join(', ');
}
