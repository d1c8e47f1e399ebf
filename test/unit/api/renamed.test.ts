// The v1alpha1 renames (src/api/renamed.ts) are complete: the schema has every new field and
// none of the old ones, and no SmtpRelay or SmtpUser a person can copy (samples, fixtures, the
// chart, YAML in the docs) still uses an old name, which the API server would drop or refuse.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, test } from '@jest/globals';
import { parseAllDocuments } from 'yaml';
import { RENAMED_IN_V1ALPHA1, leafName, type RenamedField } from '../../../src/api/renamed.js';
import { renderReference } from '../../../src/api/reference.js';
import { smtpRelaySchema } from '../../../src/api/schema.js';
import { smtpUserSchema } from '../../../src/api/schema-smtpuser.js';
import { type JSONSchemaProps } from '../../../src/api/schema-types.js';
import { repoRoot } from '../../helpers/cli.js';

const SCHEMAS: Record<RenamedField['kind'], JSONSchemaProps> = { SmtpRelay: smtpRelaySchema, SmtpUser: smtpUserSchema };

/** The schema node at a reference path (`spec.upstreams[].oauth2.clientID`), or undefined. */
function schemaAt(root: JSONSchemaProps, p: string): JSONSchemaProps | undefined {
  let node: JSONSchemaProps | undefined = root;
  for (const seg of p.split('.')) {
    const list = seg.endsWith('[]');
    node = node?.properties?.[list ? seg.slice(0, -2) : seg];
    if (list) node = node?.items;
  }
  return node;
}

/** Every value at a reference path in a manifest (lists fan out). */
function valuesAt(obj: unknown, p: string): unknown[] {
  let nodes: unknown[] = [obj];
  for (const seg of p.split('.')) {
    const list = seg.endsWith('[]');
    const key = list ? seg.slice(0, -2) : seg;
    nodes = nodes.flatMap((n) => (n && typeof n === 'object' && key in n ? [(n as Record<string, unknown>)[key]] : []));
    if (list) nodes = nodes.flatMap((n) => (Array.isArray(n) ? n : []));
  }
  return nodes;
}

function filesUnder(dir: string, ext: string[]): string[] {
  const abs = path.join(repoRoot, dir);
  if (!fs.existsSync(abs)) return [];
  return fs.readdirSync(abs, { recursive: true, encoding: 'utf8' }).filter((f) => ext.some((e) => f.endsWith(e))).map((f) => path.join(dir, f));
}

/** The YAML a person copies: manifests, and the ```yaml blocks of the docs and README. */
function copyableYaml(): { source: string; text: string }[] {
  const manifests = ['deploy', 'charts', 'test/fixtures'].flatMap((d) => filesUnder(d, ['.yaml', '.yml'])).filter((f) => !f.includes('/crds/') && !/deploy\/base\/crd/.test(f));
  const out = manifests.map((f) => ({ source: f, text: fs.readFileSync(path.join(repoRoot, f), 'utf8') }));
  for (const f of ['README.md', ...filesUnder('docs', ['.md'])]) {
    const md = fs.readFileSync(path.join(repoRoot, f), 'utf8');
    [...md.matchAll(/```ya?ml\n([\s\S]*?)```/g)].forEach((m, i) => out.push({ source: `${f} yaml block ${i + 1}`, text: m[1]! }));
  }
  return out;
}

/** SmtpRelay and SmtpUser objects in the copyable YAML (Helm templates and broken snippets skipped). */
function apiObjects(): { source: string; kind: string; obj: unknown }[] {
  const found: { source: string; kind: string; obj: unknown }[] = [];
  for (const { source, text } of copyableYaml()) {
    if (text.includes('{{')) continue;
    for (const doc of parseAllDocuments(text)) {
      if (doc.errors.length) continue;
      const obj = doc.toJS() as { kind?: string } | null;
      if (obj?.kind === 'SmtpRelay' || obj?.kind === 'SmtpUser') found.push({ source, kind: obj.kind, obj });
    }
  }
  return found;
}

describe('the v1alpha1 renames', () => {
  test.each(RENAMED_IN_V1ALPHA1.map((r) => [`${r.kind} ${r.from} -> ${r.to}`, r] as const))('%s: the schema has the new field and not the old one', (_n, r) => {
    expect(schemaAt(SCHEMAS[r.kind], r.to)).toBeDefined();
    expect(schemaAt(SCHEMAS[r.kind], r.from)).toBeUndefined();
  });

  test('no CEL rule or message of the schemas names an old field', () => {
    const crdText = JSON.stringify([smtpRelaySchema, smtpUserSchema]);
    // Whole words only: `since` and `pct` are also plain words in descriptions.
    const oldInRules = RENAMED_IN_V1ALPHA1.map((r) => leafName(r.from)).filter((name) =>
      [...crdText.matchAll(/"(rule|message|fieldPath)":"((?:[^"\\]|\\.)*)"/g)].some((m) => new RegExp(`\\b${name}\\b`).test(m[2]!)),
    );
    expect(oldInRules).toEqual([]);
  });

  test('every sample, fixture, chart file and YAML example in the docs uses the new names', () => {
    const objects = apiObjects();
    // The corpus is real: samples and fixtures hold many of both kinds.
    expect(objects.filter((o) => o.kind === 'SmtpRelay').length).toBeGreaterThan(50);
    expect(objects.some((o) => o.kind === 'SmtpUser')).toBe(true);
    const stale = objects.flatMap((o) => RENAMED_IN_V1ALPHA1.filter((r) => r.kind === o.kind && valuesAt(o.obj, r.from).length > 0).map((r) => `${o.source}: ${r.from}`));
    expect(stale).toEqual([]);
  });

  test('the reference lists every rename with old and new path', () => {
    const ref = renderReference();
    expect(ref).toContain('## Renamed in v1alpha1 (2026-12)');
    for (const r of RENAMED_IN_V1ALPHA1) expect(ref).toContain(`| ${r.kind} | \`${r.from}\` | \`${r.to}\` |`);
  });
});
