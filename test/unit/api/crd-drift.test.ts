// The committed crds/ and docs/reference.md must be exactly what the schema generates.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, test } from '@jest/globals';
import { parse } from 'yaml';
import { CHART_CRDS_DIR, generatedFiles } from '../../../src/api/generate.js';
import { buildCrd, CRD_FILE } from '../../../src/api/crd.js';
import { repoRoot } from '../../helpers/cli.js';

describe('generated files are up to date', () => {
  for (const [rel, expected] of Object.entries(generatedFiles())) {
    test(`${rel} matches src/api/schema.ts`, () => {
      const file = path.join(repoRoot, rel);
      const committed = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '<missing>';
      if (committed !== expected) {
        throw new Error(`${rel} is out of date with src/api/schema.ts: run \`npm run crds\` and commit the result.`);
      }
    });
  }

  test('the chart crds/ holds a copy of every crds/ file and nothing else (Helm installs all of it)', () => {
    const generated = Object.keys(generatedFiles());
    const copies = generated.filter((rel) => rel.startsWith(`${CHART_CRDS_DIR}/`)).sort();
    expect(copies).toEqual(generated.filter((rel) => rel.startsWith('crds/')).map((rel) => `${CHART_CRDS_DIR}/${path.basename(rel)}`).sort());
    const committed = fs.readdirSync(path.join(repoRoot, CHART_CRDS_DIR)).map((f) => `${CHART_CRDS_DIR}/${f}`).sort();
    expect(committed).toEqual(copies);
  });

  test('generation is deterministic', () => {
    expect(generatedFiles()).toEqual(generatedFiles());
  });

  test('the CRD file parses back to the CRD object, after its generated-file header', () => {
    const text = fs.readFileSync(path.join(repoRoot, CRD_FILE), 'utf8');
    expect(text.split('\n')[0]).toMatch(/^# Code generated .* DO NOT EDIT\.$/);
    expect(text).toContain('npm run crds');
    expect(parse(text)).toEqual(buildCrd());
  });
});
