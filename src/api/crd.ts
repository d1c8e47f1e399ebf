// The SmtpRelay CustomResourceDefinition (apiextensions.k8s.io/v1), built from
// ./schema.ts, and its YAML rendering for crds/. Pure: no I/O.

import { stringify } from 'yaml';
import { GROUP, KIND, PLURAL, SHORT_NAMES, SINGULAR, VERSION } from './types.js';
import { type JSONSchemaProps } from './schema-types.js';
import { type PrinterColumn, printerColumns, smtpRelaySchema } from './schema.js';
import { smtpUserPrinterColumns, smtpUserSchema } from './schema-smtpuser.js';
import { USER_KIND, USER_PLURAL, USER_SHORT_NAMES, USER_SINGULAR } from './smtpuser.js';

export const CRD_NAME = `${PLURAL}.${GROUP}`;
export const CRD_FILE = `crds/${GROUP}_${PLURAL}.yaml`;
export const USER_CRD_FILE = `crds/${GROUP}_${USER_PLURAL}.yaml`;

interface KindNames {
  kind: string;
  plural: string;
  singular: string;
  shortNames: readonly string[];
  schema: JSONSchemaProps;
  columns: PrinterColumn[];
  source: string;
  /** kubectl expands a category name to every kind in it: 'smtprelay' is also SmtpRelay's singular, so it holds SmtpRelay alone. */
  categories?: string[];
  /** The scale subresource: kubectl scale, HorizontalPodAutoscaler and KEDA write spec.replicas through /scale. */
  scale?: ScaleSubresource;
}

export interface ScaleSubresource {
  specReplicasPath: string;
  statusReplicasPath: string;
  labelSelectorPath: string;
}

/**
 * SmtpRelay's /scale: spec.replicas is what the scaler writes (the operator only reads it), status.replicas
 * the relay pods that exist, status.selector (a string) how the scaler finds their metrics.
 */
export const RELAY_SCALE: ScaleSubresource = { specReplicasPath: '.spec.replicas', statusReplicasPath: '.status.replicas', labelSelectorPath: '.status.selector' };

const RELAY_NAMES: KindNames = {
  kind: KIND,
  plural: PLURAL,
  singular: SINGULAR,
  shortNames: SHORT_NAMES,
  schema: smtpRelaySchema,
  columns: printerColumns,
  source: 'src/api/schema.ts',
  categories: ['smtprelay'],
  scale: RELAY_SCALE,
};
const USER_NAMES: KindNames = {
  kind: USER_KIND,
  plural: USER_PLURAL,
  singular: USER_SINGULAR,
  shortNames: USER_SHORT_NAMES,
  schema: smtpUserSchema,
  columns: smtpUserPrinterColumns,
  source: 'src/api/schema-smtpuser.ts',
};
export const REGENERATE_COMMAND = 'npm run crds';

export interface CustomResourceDefinition {
  apiVersion: 'apiextensions.k8s.io/v1';
  kind: 'CustomResourceDefinition';
  metadata: { name: string; labels: Record<string, string> };
  spec: {
    group: string;
    names: { kind: string; listKind: string; plural: string; singular: string; shortNames: string[]; categories?: string[] };
    scope: 'Namespaced';
    versions: {
      name: string;
      served: boolean;
      storage: boolean;
      subresources: { status: Record<string, never>; scale?: ScaleSubresource };
      additionalPrinterColumns: PrinterColumn[];
      schema: { openAPIV3Schema: JSONSchemaProps };
    }[];
  };
}

export function buildCrd(): CustomResourceDefinition {
  return buildCrdFor(RELAY_NAMES);
}

/** The SmtpUser CRD (crds/smtprelay.dev_smtpusers.yaml). */
export function buildUserCrd(): CustomResourceDefinition {
  return buildCrdFor(USER_NAMES);
}

function buildCrdFor(n: KindNames): CustomResourceDefinition {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${n.plural}.${GROUP}`, labels: { 'app.kubernetes.io/name': 'smtp-relay-operator', 'app.kubernetes.io/component': 'crd' } },
    spec: {
      group: GROUP,
      names: { kind: n.kind, listKind: `${n.kind}List`, plural: n.plural, singular: n.singular, shortNames: [...n.shortNames], ...(n.categories ? { categories: [...n.categories] } : {}) },
      scope: 'Namespaced',
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {}, ...(n.scale ? { scale: { ...n.scale } } : {}) },
          additionalPrinterColumns: n.columns.map((c) => ({ ...c })),
          // A deep copy, so callers can't mutate the shared schema.
          schema: { openAPIV3Schema: structuredClone(n.schema) },
        },
      ],
    },
  };
}

/** The committed crds/ file: a header saying how it is made, then the CRD. Deterministic. */
export function renderCrdYaml(crd: CustomResourceDefinition = buildCrd()): string {
  const source = crd.spec.names.kind === USER_KIND ? USER_NAMES.source : RELAY_NAMES.source;
  const header = [
    `# Code generated from ${source} by src/api/generate.ts. DO NOT EDIT.`,
    `# Regenerate with: ${REGENERATE_COMMAND}`,
  ].join('\n');
  return `${header}\n---\n${stringify(crd, { lineWidth: 0, indent: 2, aliasDuplicateObjects: false })}`;
}
