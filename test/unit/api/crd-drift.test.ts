// The committed crds/ and docs/reference.md must be exactly what the schema generates.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, test } from '@jest/globals';
import { parse } from 'yaml';
import { generatedFiles } from '../../../src/api/generate.js';
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
