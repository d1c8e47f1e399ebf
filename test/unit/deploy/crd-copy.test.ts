// kustomize refuses files outside a kustomization's root, so deploy/base holds a
// copy of the generated CRD. This keeps the copy from drifting.
import { expect, test } from '@jest/globals';
import fs from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../../helpers/cli.js';

test('deploy/base/crd.yaml is identical to crds/smtprelay.dev_smtprelays.yaml', () => {
  const generated = fs.readFileSync(path.join(repoRoot, 'crds/smtprelay.dev_smtprelays.yaml'), 'utf8');
  const copy = fs.readFileSync(path.join(repoRoot, 'deploy/base/crd.yaml'), 'utf8');
  // On failure: cp crds/smtprelay.dev_smtprelays.yaml deploy/base/crd.yaml
  expect(copy).toBe(generated);
});
