// An object cut down to the fields one manager owns (FieldsV1), as the caches keep children.
import { describe, expect, test } from '@jest/globals';
import { appliedFieldSet, projectOnFields, type FieldSet } from '../../../src/kube/managed-fields.js';
import type { KubeObject } from '../../../src/kube/types.js';

describe('appliedFieldSet', () => {
  const obj = (managedFields: unknown[]): KubeObject => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x', managedFields } });

  test('the Apply entry of the manager on the main resource; not its updates, not a subresource, not others', () => {
    const mine = { 'f:data': { 'f:a': {} } };
    const fields = [
      { manager: 'op', operation: 'Update', fieldsType: 'FieldsV1', fieldsV1: { 'f:data': { 'f:u': {} } } },
      { manager: 'op', operation: 'Apply', subresource: 'status', fieldsType: 'FieldsV1', fieldsV1: { 'f:status': {} } },
      { manager: 'other', operation: 'Apply', fieldsType: 'FieldsV1', fieldsV1: { 'f:data': { 'f:b': {} } } },
      { manager: 'op', operation: 'Apply', fieldsType: 'FieldsV1', fieldsV1: mine },
    ];
    expect(appliedFieldSet(obj(fields), 'op')).toEqual(mine);
    expect(appliedFieldSet(obj(fields.slice(0, 3)), 'op')).toBeUndefined();
    expect(appliedFieldSet({ metadata: { name: 'x' } }, 'op')).toBeUndefined();
  });
});

describe('projectOnFields', () => {
  test('map fields: only the named ones; a field owned whole keeps all of its value', () => {
    const set: FieldSet = { 'f:spec': { 'f:selector': {}, 'f:type': {} } };
    const value = { spec: { selector: { app: 'a', tier: 'b' }, type: 'ClusterIP', clusterIP: '10.0.0.1', sessionAffinity: 'None' }, status: { loadBalancer: {} } };
    expect(projectOnFields(value, set)).toEqual({ spec: { selector: { app: 'a', tier: 'b' }, type: 'ClusterIP' } });
  });

  test('list elements by key (in the value\'s order), by value and by index; others\' elements are left out', () => {
    const set: FieldSet = {
      'f:containers': { 'k:{"name":"relay"}': { '.': {}, 'f:image': {}, 'f:ports': { 'k:{"containerPort":587,"protocol":"TCP"}': { '.': {}, 'f:containerPort': {} } } } },
      'f:finalizers': { 'v:"example.com/keep"': {} },
      'f:args': { 'i:1': {} },
    };
    const value = {
      containers: [
        { name: 'sidecar', image: 's' },
        { name: 'relay', image: 'r', imagePullPolicy: 'IfNotPresent', ports: [{ containerPort: 587, protocol: 'TCP', name: 'submission' }, { containerPort: 9090, protocol: 'TCP' }] },
      ],
      finalizers: ['other/x', 'example.com/keep'],
      args: ['a', 'b', 'c'],
    };
    expect(projectOnFields(value, set)).toEqual({ containers: [{ image: 'r', ports: [{ containerPort: 587 }] }], finalizers: ['example.com/keep'], args: ['b'] });
  });

  test('never changes its input', () => {
    const value = { data: { a: '1', b: '2' } };
    projectOnFields(value, { 'f:data': { 'f:a': {} } });
    expect(value).toEqual({ data: { a: '1', b: '2' } });
  });
});
