// deploy/argocd/README.md embeds the health script for copy-paste into argocd-cm;
// it must stay byte-identical to the tested file.
import { expect, test } from '@jest/globals';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { repoRoot } from '../../helpers/cli.js';

test('the argocd-cm example in deploy/argocd/README.md carries health-smtprelay.lua unchanged', () => {
  const readme = fs.readFileSync(path.join(repoRoot, 'deploy/argocd/README.md'), 'utf8');
  const lua = fs.readFileSync(path.join(repoRoot, 'deploy/argocd/health-smtprelay.lua'), 'utf8');
  const block = /```yaml\n(apiVersion: v1\nkind: ConfigMap[\s\S]*?)```/.exec(readme)?.[1];
  expect(block).toBeDefined();
  const cm = YAML.parse(block!);
  expect(cm.metadata.name).toBe('argocd-cm');
  expect(cm.data['resource.customizations.health.smtprelay.dev_SmtpRelay']).toBe(lua);
});
