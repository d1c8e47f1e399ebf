// The image's Dockerfile keeps its promises: Node 24, non-root numeric user,
// exec-form ENTRYPOINT, production dependencies only. There is no container
// engine in CI, so test/e2e/image/runtime-layer.test.ts rebuilds the runtime
// layer's contents and runs them; this test reads the recipe itself.
import { describe, expect, test } from '@jest/globals';
import fs from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../../helpers/cli.js';
import { auditDockerfile, parseDockerfile } from './dockerfile.js';

const dockerfile = fs.readFileSync(path.join(repoRoot, 'Dockerfile'), 'utf8');

describe('Dockerfile', () => {
  test('follows every image rule', () => {
    expect(auditDockerfile(dockerfile)).toEqual([]);
  });

  test('runtime stage: Node 24 base, numeric non-root USER 65532, exec-form ENTRYPOINT on dist/cli.js', () => {
    const runtime = parseDockerfile(dockerfile).at(-1)!;
    expect(runtime.base).toMatch(/nodejs24|node:24/);
    expect(runtime.instructions.filter((i) => i.keyword === 'USER').at(-1)?.args).toBe('65532:65532');
    const entry = runtime.instructions.find((i) => i.keyword === 'ENTRYPOINT')!;
    const argv = JSON.parse(entry.args) as string[];
    expect(argv.slice(1)).toEqual(['dist/cli.js']);
    expect(argv[0]).toMatch(/(^|\/)node$/);
  });

  test('build stage compiles with npm ci + npm run build; prod-deps stage omits dev dependencies', () => {
    const stages = parseDockerfile(dockerfile);
    const build = stages.find((s) => s.name === 'build')!;
    const runs = build.instructions.filter((i) => i.keyword === 'RUN').map((i) => i.args);
    expect(runs.some((r) => /^npm ci\b/.test(r))).toBe(true);
    expect(runs).toContain('npm run build');
    const prod = stages.find((s) => s.name === 'prod-deps')!;
    expect(prod.instructions.some((i) => i.keyword === 'RUN' && /npm ci .*--omit=dev/.test(i.args))).toBe(true);
  });

  test('supply chain: every base image pinned by digest (kept as a build ARG with the tag), no install scripts anywhere', () => {
    const stages = parseDockerfile(dockerfile);
    for (const s of stages) expect(s.base).toMatch(/^[a-z0-9./-]+:[\w.-]+@sha256:[0-9a-f]{64}$/);
    for (const arg of ['NODE_BUILD_IMAGE', 'NODE_RUNTIME_IMAGE']) expect(dockerfile).toMatch(new RegExp(`^ARG ${arg}=\\S+@sha256:[0-9a-f]{64}$`, 'm'));
    const installs = stages.flatMap((s) => s.instructions).filter((i) => i.keyword === 'RUN' && /\bnpm (ci|install|i)\b/.test(i.args));
    expect(installs.length).toBeGreaterThanOrEqual(2);
    for (const i of installs) expect(i.args).toContain('--ignore-scripts');
  });

  test('carries OCI image labels', () => {
    const runtime = parseDockerfile(dockerfile).at(-1)!;
    const labels = runtime.instructions.filter((i) => i.keyword === 'LABEL').map((i) => i.args).join(' ');
    for (const key of ['title', 'description', 'licenses', 'version', 'revision']) expect(labels).toContain(`org.opencontainers.image.${key}=`);
  });

  // The rules above must be able to fail: each mutation breaks exactly one promise.
  const mutations: [string, (d: string) => string, RegExp][] = [
    ['root user', (d) => d.replace('USER 65532:65532', 'USER 0'), /root/],
    ['named user', (d) => d.replace('USER 65532:65532', 'USER node'), /not numeric/],
    ['shell-form entrypoint', (d) => d.replace(/ENTRYPOINT \[.*\]/, 'ENTRYPOINT node dist/cli.js'), /exec form/],
    ['Node 22 runtime', (d) => d.replace('ARG NODE_RUNTIME_IMAGE=gcr.io/distroless/nodejs24-', 'ARG NODE_RUNTIME_IMAGE=gcr.io/distroless/nodejs22-'), /Node 24/],
    ['dev dependencies in the runtime', (d) => d.replace('RUN npm ci --omit=dev', 'RUN npm ci'), /dev dependencies/],
    ['node_modules from the build stage', (d) => d.replace('COPY --from=prod-deps /app/node_modules', 'COPY --from=build /src/node_modules'), /dev dependencies/],
    ['whole build context copied', (d) => d.replace('COPY package.json ./\nUSER', 'COPY . ./\nUSER'), /build context/],
    ['a runtime base by tag only', (d) => d.replace(/(ARG NODE_RUNTIME_IMAGE=\S+?)@sha256:[0-9a-f]{64}/, '$1'), /not pinned by digest/],
    ['a build base by tag only', (d) => d.replace(/(ARG NODE_BUILD_IMAGE=\S+?)@sha256:[0-9a-f]{64}/, '$1'), /not pinned by digest/],
    ['install scripts in the build stage', (d) => d.replace('RUN npm ci --ignore-scripts --no-audit', 'RUN npm ci --no-audit'), /runs install scripts/],
  ];
  test.each(mutations)('rejects a Dockerfile with %s', (_name, mutate, problem) => {
    const mutated = mutate(dockerfile);
    expect(mutated).not.toBe(dockerfile);
    expect(auditDockerfile(mutated).join('\n')).toMatch(problem);
  });
});

describe('.dockerignore', () => {
  const ignore = fs.readFileSync(path.join(repoRoot, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim());
  test('starts from deny-all and re-includes only the build inputs', () => {
    const rules = ignore.filter((l) => l && !l.startsWith('#'));
    expect(rules[0]).toBe('**');
    const reincluded = rules.filter((l) => l.startsWith('!')).map((l) => l.slice(1));
    expect(reincluded.sort()).toEqual(['package-lock.json', 'package.json', 'src/**', 'tsconfig.json']);
  });
});
