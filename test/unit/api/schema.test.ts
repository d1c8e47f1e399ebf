// Structural checks on the SmtpRelay schema: what the API server and
// `kubectl explain` need, and what keeps CEL rules within the cost budget.
// Whether the API server really accepts the CRD is test/integration/validation.test.ts.
import { describe, expect, test } from '@jest/globals';
import { buildCrd } from '../../../src/api/crd.js';
import { type JSONSchemaProps, walkSchema } from '../../../src/api/schema-types.js';
import { printerColumns, smtpRelaySchema, specSchema, statusSchema } from '../../../src/api/schema.js';

interface Node {
  path: string;
  node: JSONSchemaProps;
}

function nodes(root: JSONSchemaProps): Node[] {
  const out: Node[] = [];
  walkSchema(root, (path, node) => out.push({ path, node }));
  return out;
}

const all = nodes(smtpRelaySchema);
// metadata is the API server's: only name constraints are allowed there.
const ours = all.filter((n) => !n.path.startsWith('metadata'));

/** Property nodes (not list items or map values). */
const properties = ours.filter((n) => n.path !== '' && !n.path.endsWith('[]') && !n.path.endsWith('{}'));

describe('structural schema', () => {
  test('every node has a type (int-or-string nodes excepted)', () => {
    const untyped = ours.filter((n) => !n.node.type && !n.node['x-kubernetes-int-or-string']).map((n) => n.path || '<root>');
    expect(untyped).toEqual([]);
  });

  test('every field has a description, for kubectl explain and docs/reference.md', () => {
    const missing = properties.filter((n) => !n.node.description?.trim()).map((n) => n.path);
    expect(missing).toEqual([]);
    expect(properties.length).toBeGreaterThan(100);
  });

  test('descriptions are sentences', () => {
    const bad = properties.filter((n) => !/[.)]$/.test(n.node.description ?? '')).map((n) => `${n.path}: ${n.node.description}`);
    expect(bad).toEqual([]);
  });

  test('objects have properties or are explicitly free-form maps, never both', () => {
    for (const { path, node } of ours.filter((n) => n.node.type === 'object')) {
      const kinds = [node.properties !== undefined, node.additionalProperties !== undefined, node['x-kubernetes-preserve-unknown-fields'] === true];
      expect([path, kinds.filter(Boolean).length]).toEqual([path, 1]);
    }
  });

  test('required fields exist, and list-map keys are required in the items', () => {
    for (const { path, node } of all) {
      for (const r of node.required ?? []) expect([path, r, node.properties?.[r] !== undefined]).toEqual([path, r, true]);
      for (const k of node['x-kubernetes-list-map-keys'] ?? []) expect([path, k, node.items?.required?.includes(k)]).toEqual([path, k, true]);
    }
  });

  test('enums are non-empty, unique and match the node type', () => {
    for (const { path, node } of ours.filter((n) => n.node.enum)) {
      expect(node.enum!.length).toBeGreaterThan(0);
      expect(new Set(node.enum).size).toBe(node.enum!.length);
      for (const v of node.enum!) expect([path, typeof v]).toEqual([path, node.type]);
    }
  });
});

describe('defaults', () => {
  function conforms(value: unknown, s: JSONSchemaProps): boolean {
    switch (s.type) {
      case 'string':
        return typeof value === 'string' && (!s.enum || s.enum.includes(value)) && (s.maxLength === undefined || value.length <= s.maxLength);
      case 'integer':
        return Number.isInteger(value) && (s.minimum === undefined || (value as number) >= s.minimum) && (s.maximum === undefined || (value as number) <= s.maximum);
      case 'boolean':
        return typeof value === 'boolean';
      case 'array':
        return Array.isArray(value) && (s.maxItems === undefined || value.length <= s.maxItems);
      case 'object':
        return typeof value === 'object' && value !== null && !Array.isArray(value) && (s.required ?? []).every((r) => r in value);
      default:
        return false;
    }
  }

  test('every default conforms to its own field (the API server refuses the CRD otherwise)', () => {
    const withDefaults = ours.filter((n) => n.node.default !== undefined);
    expect(withDefaults.length).toBeGreaterThan(15);
    for (const { path, node } of withDefaults) expect([path, conforms(node.default, node)]).toEqual([path, true]);
  });

  test('status has no defaults: it is written by the operator only', () => {
    expect(nodes(statusSchema).filter((n) => n.node.default !== undefined)).toEqual([]);
  });
});

describe('CEL rules', () => {
  const withRules = ours.filter((n) => n.node['x-kubernetes-validations']?.length);

  test('every rule has a message that says what to fix, without a trailing period (docs add one)', () => {
    expect(withRules.length).toBeGreaterThan(20);
    for (const { path, node } of withRules) {
      for (const r of node['x-kubernetes-validations']!) {
        expect([path, r.rule.trim().length > 0]).toEqual([path, true]);
        expect([path, r.message.length >= 20, r.message.endsWith('.')]).toEqual([path, true, false]);
      }
    }
  });

  test('every rule message is unique, so a failure points at one rule', () => {
    const messages = withRules.flatMap((n) => n.node['x-kubernetes-validations']!.map((r) => `${n.path}: ${r.message}`));
    const bare = withRules.flatMap((n) => n.node['x-kubernetes-validations']!.map((r) => r.message));
    const dupes = bare.filter((m, i) => bare.indexOf(m) !== i);
    expect([dupes, messages.length]).toEqual([[], bare.length]);
  });

  test('fieldPath points at a field of the node the rule sits on', () => {
    for (const { path, node } of withRules) {
      for (const r of node['x-kubernetes-validations']!.filter((x) => x.fieldPath)) {
        let cur: JSONSchemaProps | undefined = node;
        for (const part of r.fieldPath!.slice(1).split('.')) cur = cur?.properties?.[part];
        expect([path, r.fieldPath, cur !== undefined]).toEqual([path, r.fieldPath, true]);
      }
    }
  });

  test('strings that rules read have maxLength (or an enum) so the API server can bound rule cost', () => {
    for (const { path, node } of withRules.filter((n) => n.node.type === 'string' || n.node['x-kubernetes-int-or-string'])) {
      expect([path, node.maxLength !== undefined || node.enum !== undefined]).toEqual([path, true]);
    }
  });

  test('every spec list and map has maxItems / maxProperties', () => {
    for (const { path, node } of nodes(specSchema)) {
      if (node.type === 'array') expect([path, node.maxItems !== undefined]).toEqual([path, true]);
      if (node.type === 'object' && node.additionalProperties) expect([path, node.maxProperties !== undefined]).toEqual([path, true]);
    }
  });

  test('strings that object-level rules compare or search have maxLength', () => {
    // e.g. self.hostname in self.tls.additionalDNSNames, self.upstream.host != self.hostname
    const referenced = ['hostname', 'upstream.host', 'tls.additionalDNSNames[]', 'tls.duration', 'tls.renewBefore', 'listeners.relay.allowedNetworks[]'];
    const byPath = new Map(nodes(specSchema).map((n) => [n.path, n.node]));
    for (const p of referenced) expect([p, byPath.get(p)?.maxLength]).toEqual([p, expect.any(Number)]);
  });
});

describe('the CRD', () => {
  const crd = buildCrd();
  const version = crd.spec.versions[0]!;

  test('names, scope and subresources are as the API promises', () => {
    expect(crd.metadata.name).toBe('smtprelays.smtprelay.dev');
    expect(crd.spec.names).toMatchObject({ kind: 'SmtpRelay', plural: 'smtprelays', singular: 'smtprelay', shortNames: ['smtpr'] });
    expect(crd.spec.scope).toBe('Namespaced');
    expect(crd.spec.versions).toHaveLength(1);
    expect(version).toMatchObject({ name: 'v1alpha1', served: true, storage: true, subresources: { status: {} } });
  });

  test('printer columns: Hostname, Ready, TLS, Queue, Cert Expiry, Age; Reason and Replicas in -o wide', () => {
    expect(version.additionalPrinterColumns.filter((c) => !c.priority).map((c) => c.name)).toEqual(['Hostname', 'Ready', 'TLS', 'Queue', 'Cert Expiry', 'Age']);
    expect(version.additionalPrinterColumns.filter((c) => c.priority === 1).map((c) => c.name)).toEqual(['Reason', 'Replicas']);
    expect(version.additionalPrinterColumns.find((c) => c.name === 'Cert Expiry')).toMatchObject({ type: 'string', jsonPath: '.status.certificate.notAfter' });
  });

  test('printer column paths exist in the schema', () => {
    const paths = new Set(all.map((n) => n.path));
    for (const c of printerColumns.filter((x) => !x.jsonPath.startsWith('.metadata'))) {
      const p = c.jsonPath.slice(1).replace(/\[\?\(@\.type=="Ready"\)\]/, '[]');
      expect([c.name, paths.has(p)]).toEqual([c.name, true]);
    }
  });

  test('the CRD carries a copy of the schema, not the shared object', () => {
    expect(version.schema.openAPIV3Schema).toEqual(smtpRelaySchema);
    expect(version.schema.openAPIV3Schema).not.toBe(smtpRelaySchema);
  });
});
