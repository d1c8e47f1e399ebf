// OpenAPI v3 (apiextensions.k8s.io/v1 JSONSchemaProps) as TypeScript, plus
// small constructors that keep src/api/schema.ts readable. Pure data, no I/O.

/** One CEL rule (x-kubernetes-validations entry). */
export interface ValidationRule {
  rule: string;
  /** Static message: shown by the API server and in docs/reference.md. Always set. */
  message: string;
  /** Optional dynamic message; the API server prefers it and falls back to `message`. */
  messageExpression?: string;
  /** Path (relative to the node the rule sits on) the error is reported against. */
  fieldPath?: string;
  reason?: 'FieldValueInvalid' | 'FieldValueForbidden' | 'FieldValueRequired' | 'FieldValueDuplicate';
}

export type SchemaType = 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';

export interface JSONSchemaProps {
  description?: string;
  type?: SchemaType;
  format?: string;
  properties?: Record<string, JSONSchemaProps>;
  required?: string[];
  additionalProperties?: JSONSchemaProps;
  items?: JSONSchemaProps;
  enum?: (string | number | boolean)[];
  default?: unknown;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  maxProperties?: number;
  pattern?: string;
  anyOf?: JSONSchemaProps[];
  'x-kubernetes-int-or-string'?: true;
  'x-kubernetes-preserve-unknown-fields'?: true;
  'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map';
  'x-kubernetes-list-map-keys'?: string[];
  'x-kubernetes-map-type'?: 'atomic' | 'granular';
  'x-kubernetes-validations'?: ValidationRule[];
}

type Extra = Omit<JSONSchemaProps, 'type' | 'description' | 'properties' | 'items'>;

export function str(description: string, extra: Extra = {}): JSONSchemaProps {
  return { description, type: 'string', ...extra };
}

export function int32(description: string, extra: Extra = {}): JSONSchemaProps {
  return { description, type: 'integer', format: 'int32', ...extra };
}

export function int64(description: string, extra: Extra = {}): JSONSchemaProps {
  return { description, type: 'integer', format: 'int64', ...extra };
}

export function bool(description: string, extra: Extra = {}): JSONSchemaProps {
  return { description, type: 'boolean', ...extra };
}

export function obj(description: string, properties: Record<string, JSONSchemaProps>, extra: Extra = {}): JSONSchemaProps {
  return { description, type: 'object', properties, ...extra };
}

export function arr(description: string, items: JSONSchemaProps, extra: Extra = {}): JSONSchemaProps {
  return { description, type: 'array', items, ...extra };
}

/** A string-to-string map (labels, annotations, nodeSelector). */
export function stringMap(description: string, extra: Extra = {}): JSONSchemaProps {
  return { description, type: 'object', additionalProperties: { type: 'string' }, ...extra };
}

/** A free-form object passed through to the pod spec; the API server validates it when the operator applies the Deployment. */
export function passthrough(description: string): JSONSchemaProps {
  return { description, type: 'object', 'x-kubernetes-preserve-unknown-fields': true };
}

export function rule(celRule: string, message: string, extra: Omit<ValidationRule, 'rule' | 'message'> = {}): ValidationRule {
  return { rule: celRule, message, ...extra };
}

/** Walk every schema node depth-first with its dotted path (`[]` for list items, `{}` for map values). */
export function walkSchema(node: JSONSchemaProps, visit: (path: string, node: JSONSchemaProps) => void, path = ''): void {
  visit(path, node);
  for (const [name, child] of Object.entries(node.properties ?? {})) walkSchema(child, visit, path ? `${path}.${name}` : name);
  if (node.items) walkSchema(node.items, visit, `${path}[]`);
  if (node.additionalProperties) walkSchema(node.additionalProperties, visit, `${path}{}`);
}

/** metav1.LabelSelector. */
export const labelSelectorSchema = (description: string): JSONSchemaProps =>
  obj(
    description,
    {
      matchLabels: stringMap('Labels the namespace must carry (all of them).', { maxProperties: 32 }),
      matchExpressions: arr(
        'Set-based requirements, all of which must hold.',
        obj(
          'One requirement.',
          {
            key: str('Label key.', { minLength: 1, maxLength: 317 }),
            operator: str('In, NotIn, Exists or DoesNotExist.', { enum: ['In', 'NotIn', 'Exists', 'DoesNotExist'] }),
            values: arr('Values for In and NotIn; empty for Exists and DoesNotExist.', str('A label value.', { maxLength: 63 }), { maxItems: 64 }),
          },
          { required: ['key', 'operator'] },
        ),
        { maxItems: 16 },
      ),
    },
    { 'x-kubernetes-map-type': 'atomic' },
  );
