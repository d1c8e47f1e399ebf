// The pure helpers of src/kube: error mapping, paths, keys, owner mapping,
// kubeconfig source selection, lease expiry, event note hygiene.
import { describe, expect, test } from '@jest/globals';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { kubeConfigSource, loadKubeConfig } from '../../../src/kube/client.js';
import { isConflict, isGone, isNotFound, isResourceNotServed, kubeErrorFromResponse, KubeError } from '../../../src/kube/errors.js';
import { sanitizeNote, toRegarding } from '../../../src/kube/events.js';
import { resourcePath } from '../../../src/kube/http.js';
import { controllerOwnerKey, objectKey, splitKey } from '../../../src/kube/informer.js';
import { leaseIsFree, microTime } from '../../../src/kube/leader.js';

describe('errors', () => {
  test('a metav1.Status body gives code, reason and message', () => {
    const e = kubeErrorFromResponse(409, JSON.stringify({ kind: 'Status', reason: 'AlreadyExists', message: 'configmaps "x" already exists' }), 'POST /x');
    expect(e).toBeInstanceOf(KubeError);
    expect([e.code, e.reason]).toEqual([409, 'AlreadyExists']);
    expect(e.message).toBe('POST /x: configmaps "x" already exists');
    expect(isConflict(e)).toBe(true);
  });

  test('a non-JSON body falls back to the status code', () => {
    const e = kubeErrorFromResponse(404, '404 page not found\n', 'GET /y');
    expect([e.code, e.reason, e.message]).toEqual([404, 'NotFound', 'GET /y: 404 page not found']);
    expect(isNotFound(e)).toBe(true);
    expect(isResourceNotServed(e)).toBe(false);
    expect(isGone(kubeErrorFromResponse(410, '', 'w'))).toBe(true);
  });
});

describe('paths and keys', () => {
  test('resourcePath for core, grouped, namespaced, cluster-scoped and subresources', () => {
    expect(resourcePath('v1', 'secrets', 'ns')).toBe('/api/v1/namespaces/ns/secrets');
    expect(resourcePath('apps/v1', 'deployments', 'ns', 'd')).toBe('/apis/apps/v1/namespaces/ns/deployments/d');
    expect(resourcePath('smtprelay.dev/v1alpha1', 'smtprelays', 'ns', 'r', 'status')).toBe('/apis/smtprelay.dev/v1alpha1/namespaces/ns/smtprelays/r/status');
    expect(resourcePath('v1', 'namespaces', undefined, 'n')).toBe('/api/v1/namespaces/n');
  });

  test('objectKey and splitKey round-trip', () => {
    expect(objectKey({ metadata: { name: 'a', namespace: 'ns' } })).toBe('ns/a');
    expect(objectKey({ metadata: { name: 'c' } })).toBe('c');
    expect(splitKey('ns/a')).toEqual({ namespace: 'ns', name: 'a' });
    expect(splitKey('c')).toEqual({ namespace: undefined, name: 'c' });
  });

  test('controllerOwnerKey picks the controller owner, optionally of a kind and group', () => {
    const child = {
      metadata: {
        name: 'd',
        namespace: 'ns',
        ownerReferences: [
          { apiVersion: 'v1', kind: 'ConfigMap', name: 'not-controller', uid: '1' },
          { apiVersion: 'smtprelay.dev/v1alpha1', kind: 'SmtpRelay', name: 'r1', uid: '2', controller: true },
        ],
      },
    };
    expect(controllerOwnerKey(child)).toBe('ns/r1');
    expect(controllerOwnerKey(child, 'SmtpRelay', 'smtprelay.dev')).toBe('ns/r1');
    expect(controllerOwnerKey(child, 'SmtpRelay', 'other.dev')).toBeUndefined();
    expect(controllerOwnerKey(child, 'Deployment')).toBeUndefined();
    expect(controllerOwnerKey({ metadata: { name: 'x', namespace: 'ns' } })).toBeUndefined();
  });
});

describe('kubeconfig source', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kube-src-'));
  const homeWithConfig = path.join(tmp, 'home');
  fs.mkdirSync(path.join(homeWithConfig, '.kube'), { recursive: true });
  fs.writeFileSync(path.join(homeWithConfig, '.kube', 'config'), 'apiVersion: v1\nkind: Config\n');
  const emptyHome = path.join(tmp, 'empty');

  test('explicit path, then KUBECONFIG (first entry), then ~/.kube/config', () => {
    expect(kubeConfigSource({ kubeconfig: '/x', env: { KUBECONFIG: '/y' }, homeDir: homeWithConfig })).toEqual({ kind: 'file', path: '/x' });
    expect(kubeConfigSource({ env: { KUBECONFIG: `${path.delimiter}/y${path.delimiter}/z` }, homeDir: homeWithConfig })).toEqual({ kind: 'file', path: '/y' });
    expect(kubeConfigSource({ env: {}, homeDir: homeWithConfig })).toEqual({ kind: 'file', path: path.join(homeWithConfig, '.kube', 'config') });
    expect(kubeConfigSource({ env: {}, homeDir: emptyHome })).toBeUndefined();
  });

  test('clear errors for nothing, a missing file and a file without a cluster', () => {
    expect(() => loadKubeConfig({ env: {}, homeDir: emptyHome })).toThrow(/no Kubernetes configuration found/);
    expect(() => loadKubeConfig({ kubeconfig: path.join(tmp, 'missing') })).toThrow(/does not exist/);
    expect(() => loadKubeConfig({ kubeconfig: path.join(homeWithConfig, '.kube', 'config') })).toThrow(/no current context/);
  });
});

describe('leases', () => {
  test('MicroTime has microseconds', () => {
    expect(microTime(new Date('2026-01-02T03:04:05.678Z'))).toBe('2026-01-02T03:04:05.678000Z');
  });

  test('a lease is free when unheld, released, or not renewed for its duration since we observed it', () => {
    expect(leaseIsFree(undefined, 0, 0)).toBe(true);
    expect(leaseIsFree({ holderIdentity: '' }, 0, 0)).toBe(true);
    expect(leaseIsFree({ holderIdentity: 'a', leaseDurationSeconds: 15 }, 1000, 15_999)).toBe(false);
    expect(leaseIsFree({ holderIdentity: 'a', leaseDurationSeconds: 15 }, 1000, 16_000)).toBe(true);
  });
});

describe('event hygiene', () => {
  test('private keys are scrubbed and long notes truncated to 1 KiB', () => {
    expect(sanitizeNote('a -----BEGIN EC PRIVATE KEY-----\nabc\n-----END EC PRIVATE KEY----- b')).toBe('a [redacted private key] b');
    expect(sanitizeNote('x -----BEGIN RSA PRIVATE KEY-----\nunterminated')).toBe('x [redacted private key]');
    const long = sanitizeNote('y'.repeat(5000));
    expect(long).toHaveLength(1024);
    expect(long.endsWith('...')).toBe(true);
  });

  test('toRegarding takes the reference fields of an object', () => {
    expect(toRegarding({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 's', namespace: 'ns', uid: 'u', resourceVersion: '7' }, data: { k: 'c2VjcmV0' } })).toEqual({
      apiVersion: 'v1',
      kind: 'Secret',
      name: 's',
      namespace: 'ns',
      uid: 'u',
      resourceVersion: '7',
    });
  });
});
