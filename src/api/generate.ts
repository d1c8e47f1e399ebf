// Writes crds/smtprelay.dev_smtprelays.yaml and docs/reference.md from the
// schema. Run with `npm run crds` (tsx src/api/generate.ts).
// test/unit/api/crd-drift.test.ts fails when the committed files differ.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CRD_FILE, renderCrdYaml } from './crd.js';
import { renderReference } from './reference.js';

export const REFERENCE_FILE = 'docs/reference.md';
// kustomize refuses files outside its root, so deploy/base carries a generated copy.
export const DEPLOY_CRD_FILE = 'deploy/base/crd.yaml';

/** Every generated file, repo-relative path -> content. */
export function generatedFiles(): Record<string, string> {
  const crd = renderCrdYaml();
  return { [CRD_FILE]: crd, [DEPLOY_CRD_FILE]: crd, [REFERENCE_FILE]: renderReference() };
}

function main(): void {
  // src/api/ and dist/api/ are both two levels below the repository root.
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
  for (const [rel, content] of Object.entries(generatedFiles())) {
    const file = path.join(root, rel);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, content);
    process.stdout.write(`wrote ${rel}\n`);
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
