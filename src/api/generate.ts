// Writes crds/smtprelay.dev_smtprelays.yaml, crds/smtprelay.dev_smtpusers.yaml and docs/reference.md from the
// schema. Run with `npm run crds` (tsx src/api/generate.ts).
// test/unit/api/crd-drift.test.ts fails when the committed files differ.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildUserCrd, CRD_FILE, renderCrdYaml, USER_CRD_FILE } from './crd.js';
import { renderReference } from './reference.js';

export const REFERENCE_FILE = 'docs/reference.md';
// kustomize refuses files outside its root, so deploy/base carries a generated copy.
export const DEPLOY_CRD_FILE = 'deploy/base/crd.yaml';
export const DEPLOY_USER_CRD_FILE = 'deploy/base/crd-smtpuser.yaml';

// Helm installs the files of a chart's crds/ verbatim (never templated): a copy of every crds/ file.
export const CHART_CRDS_DIR = 'charts/smtp-relay-operator/crds';

/** Every generated file, repo-relative path -> content. */
export function generatedFiles(): Record<string, string> {
  const crd = renderCrdYaml();
  const userCrd = renderCrdYaml(buildUserCrd());
  return withChartCrds({ [CRD_FILE]: crd, [DEPLOY_CRD_FILE]: crd, [USER_CRD_FILE]: userCrd, [DEPLOY_USER_CRD_FILE]: userCrd, [REFERENCE_FILE]: renderReference() });
}

/** Adds charts/smtp-relay-operator/crds/<file> for each crds/<file>, so a new CRD reaches the chart too. */
function withChartCrds(files: Record<string, string>): Record<string, string> {
  const copies = Object.entries(files)
    .filter(([rel]) => rel.startsWith('crds/'))
    .map(([rel, content]) => [`${CHART_CRDS_DIR}/${path.posix.basename(rel)}`, content] as const);
  return { ...files, ...Object.fromEntries(copies) };
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
