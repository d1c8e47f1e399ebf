// There is no container engine here, so this rebuilds what the Dockerfile's
// runtime stage contains and runs it the way the image does:
//   prod-deps stage: npm ci --omit=dev --ignore-scripts on package.json + lock
//   build stage:     dist/ (scripts/test.mjs builds it before jest)
//   runtime stage:   files owned by root, process as UID 65532, no writable app dir
// Then each room's --help must work from there with Node 24, and no development
// dependency may have leaked into node_modules.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cliPath, nodeBin, repoRoot } from '../../helpers/cli.js';

const RUNTIME_UID = 65532;
const runningAsRoot = process.getuid?.() === 0;
let appDir = '';
let scratch = '';

interface LockPackage {
  dev?: boolean;
  devOptional?: boolean;
  optional?: boolean;
}
const lock = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockPackage> };
const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> };

/** Run as the image does: the runtime UID when we can switch to it, a clean env, cwd = app dir. */
function runInImage(args: string[], extra: SpawnSyncOptions = {}) {
  return spawnSync(nodeBin, args, {
    cwd: appDir,
    encoding: 'utf8',
    timeout: 30_000,
    env: { PATH: '/usr/bin:/bin', NODE_ENV: 'production', HOME: '/nonexistent', TMPDIR: scratch },
    ...(runningAsRoot ? { uid: RUNTIME_UID, gid: RUNTIME_UID } : {}),
    ...extra,
  });
}

function makeReadOnly(dir: string): void {
  // Mirror the image: code owned by root, readable by all, writable by none but root.
  for (const entry of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    const p = path.join(entry.parentPath, entry.name);
    if (entry.isSymbolicLink()) continue;
    fs.chmodSync(p, entry.isDirectory() ? 0o555 : (fs.statSync(p).mode & 0o111 ? 0o555 : 0o444));
  }
  fs.chmodSync(dir, 0o555);
}

beforeAll(() => {
  if (!fs.existsSync(cliPath)) throw new Error(`${cliPath} is missing: run 'npm run build' first (npm test does it)`);
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'runtime-layer-'));
  fs.chmodSync(base, 0o755);
  appDir = path.join(base, 'app');
  scratch = path.join(base, 'tmp');
  fs.mkdirSync(appDir);
  fs.mkdirSync(scratch, { mode: 0o1777 });
  fs.chmodSync(scratch, 0o1777);
  for (const f of ['package.json', 'package-lock.json']) fs.copyFileSync(path.join(repoRoot, f), path.join(appDir, f));
  const npm = spawnSync('npm', ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error'], {
    cwd: appDir,
    encoding: 'utf8',
    timeout: 240_000,
    // npm's shebang finds `node` on PATH: put Node 24 first.
    env: { ...process.env, PATH: `${path.dirname(nodeBin)}${path.delimiter}${process.env.PATH ?? ''}`, NODE_ENV: 'production' },
  });
  if (npm.status !== 0) throw new Error(`npm ci --omit=dev failed (${npm.status ?? npm.signal}): ${npm.stderr}`);
  fs.cpSync(path.join(repoRoot, 'dist'), path.join(appDir, 'dist'), { recursive: true });
  makeReadOnly(appDir);
}, 300_000);

afterAll(() => {
  if (!appDir) return;
  const base = path.dirname(appDir);
  // Restore write permission so the temp tree can be removed.
  for (const entry of fs.readdirSync(appDir, { recursive: true, withFileTypes: true })) {
    if (entry.isDirectory()) fs.chmodSync(path.join(entry.parentPath, entry.name), 0o755);
  }
  fs.chmodSync(appDir, 0o755);
  fs.rmSync(base, { recursive: true, force: true });
});

describe('the runtime layer (prod node_modules + dist + package.json)', () => {
  test('the app directory is not writable by the runtime user (the check itself can fail)', () => {
    const r = runInImage(['-e', "require('fs').writeFileSync('probe-write', 'x')"]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/EACCES|EROFS|EPERM/);
    expect(fs.existsSync(path.join(appDir, 'probe-write'))).toBe(false);
  });

  test.each([
    ['relay', /usage|relay/i],
    ['probe', /usage|probe/i],
    ['operator', /usage|operator/i],
  ])('node dist/cli.js %s --help exits 0 and prints usage', (command, usage) => {
    const r = runInImage(['dist/cli.js', command, '--help']);
    expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: expect.not.stringMatching(/Error|fatal/) });
    expect(r.stdout).toMatch(usage);
    expect(r.stdout).toMatch(/--/); // lists at least one option
  });

  test('the top-level usage lists the three rooms', () => {
    const r = runInImage(['dist/cli.js', '--help']);
    expect(r.status).toBe(0);
    for (const room of ['operator', 'relay', 'probe']) expect(r.stdout).toContain(room);
  });

  test('no development dependency is installed', () => {
    const modules = path.join(appDir, 'node_modules');
    for (const name of ['typescript', 'jest', 'ts-jest', 'tsx', '@jest/globals', 'node', '@types/jest', '@types/nodemailer', '@types/smtp-server']) {
      expect({ name, present: fs.existsSync(path.join(modules, name)) }).toEqual({ name, present: false });
    }
    // Every package the lock file marks dev-only is absent.
    const devOnly = Object.entries(lock.packages).filter(([k, v]) => k.startsWith('node_modules/') && v.dev);
    expect(devOnly.length).toBeGreaterThan(50);
    const leaked = devOnly.map(([k]) => k).filter((k) => fs.existsSync(path.join(appDir, k)));
    expect(leaked).toEqual([]);
    // Direct devDependencies are all absent unless a production package needs them too.
    for (const name of Object.keys(pkg.devDependencies)) {
      const entry = lock.packages[`node_modules/${name}`];
      if (entry?.dev) expect(fs.existsSync(path.join(modules, name))).toBe(false);
    }
  });

  test('@types packages present are only those production packages depend on', () => {
    const typesDir = path.join(appDir, 'node_modules', '@types');
    const present = fs.existsSync(typesDir) ? fs.readdirSync(typesDir).map((n) => `@types/${n}`) : [];
    const prodTypes = Object.entries(lock.packages)
      .filter(([k, v]) => /^node_modules\/@types\/[^/]+$/.test(k) && !v.dev)
      .map(([k]) => k.slice('node_modules/'.length));
    expect(present.sort()).toEqual(prodTypes.sort());
  });

  test('package.json in the layer names dist/cli.js as the binary and requires Node 24', () => {
    const layerPkg = JSON.parse(fs.readFileSync(path.join(appDir, 'package.json'), 'utf8')) as { bin: Record<string, string>; engines: { node: string } };
    expect(Object.values(layerPkg.bin)).toContain('dist/cli.js');
    expect(layerPkg.engines.node).toMatch(/24/);
    expect(Number(process.versions.node.split('.')[0])).toBe(24);
  });
});
