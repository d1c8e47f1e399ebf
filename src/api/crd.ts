// The SmtpRelay CustomResourceDefinition (apiextensions.k8s.io/v1), built from
// ./schema.ts, and its YAML rendering for crds/. Pure: no I/O.

import { stringify } from 'yaml';
import { GROUP, KIND, PLURAL, SHORT_NAMES, SINGULAR, VERSION } from './types.js';
import { type JSONSchemaProps } from './schema-types.js';
import { type PrinterColumn, printerColumns, smtpRelaySchema } from './schema.js';

export const CRD_NAME = `${PLURAL}.${GROUP}`;
export const CRD_FILE = `crds/${GROUP}_${PLURAL}.yaml`;
export const REGENERATE_COMMAND = 'npm run crds';

export interface CustomResourceDefinition {
  apiVersion: 'apiextensions.k8s.io/v1';
  kind: 'CustomResourceDefinition';
  metadata: { name: string; labels: Record<string, string> };
  spec: {
    group: string;
    names: { kind: string; listKind: string; plural: string; singular: string; shortNames: string[]; categories: string[] };
    scope: 'Namespaced';
    versions: {
      name: string;
      served: boolean;
      storage: boolean;
      subresources: { status: Record<string, never> };
      additionalPrinterColumns: PrinterColumn[];
      schema: { openAPIV3Schema: JSONSchemaProps };
    }[];
  };
}

export function buildCrd(): CustomResourceDefinition {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: CRD_NAME, labels: { 'app.kubernetes.io/name': 'smtp-relay-operator', 'app.kubernetes.io/component': 'crd' } },
    spec: {
      group: GROUP,
      names: { kind: KIND, listKind: `${KIND}List`, plural: PLURAL, singular: SINGULAR, shortNames: [...SHORT_NAMES], categories: ['smtprelay'] },
      scope: 'Namespaced',
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: printerColumns.map((c) => ({ ...c })),
          // A deep copy, so callers can't mutate the shared schema.
          schema: { openAPIV3Schema: structuredClone(smtpRelaySchema) },
        },
      ],
    },
  };
}

/** The committed crds/ file: a header saying how it is made, then the CRD. Deterministic. */
export function renderCrdYaml(crd: CustomResourceDefinition = buildCrd()): string {
  const header = [
    '# Code generated from src/api/schema.ts by src/api/generate.ts. DO NOT EDIT.',
    `# Regenerate with: ${REGENERATE_COMMAND}`,
  ].join('\n');
  return `${header}\n---\n${stringify(crd, { lineWidth: 0, indent: 2, aliasDuplicateObjects: false })}`;
}
