#!/usr/bin/env node
// `npm test`: build, type-check, build the test control plane when needed, run jest.
// With CI=true the integration suite is required, never silently skipped.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const ci = process.env.CI === 'true' || process.env.CI === '1';
const soak = process.argv.includes('--soak');
const passthrough = process.argv.slice(2).filter((a) => a !== '--soak');

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', ...opts });
  if (r.error) throw r.error;
  return r.status ?? 1;
}
function fail(msg) {
  process.stderr.write(`\nnpm test: ${msg}\n`);
  process.exit(1);
}

const major = Number(process.versions.node.split('.')[0]);
if (major < 24) fail(`Node ${process.versions.node} is running; Node 24 is required. Run 'npm ci' (it installs Node 24 into node_modules/.bin) and use 'npm test', not npx.`);

const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
if (run(process.execPath, [tsc, '-p', 'tsconfig.json']) !== 0) fail('the build (tsc -p tsconfig.json) failed');
if (run(process.execPath, [tsc, '-p', 'tsconfig.test.json']) !== 0) fail('type-checking the tests (tsc -p tsconfig.test.json) failed');

if (ci && process.env.SMTP_RELAY_CONTROLPLANE === 'off') fail('SMTP_RELAY_CONTROLPLANE=off is a development switch; CI runs the whole suite');
let projects = ['unit', 'integration'];
const haveGo = spawnSync('go', ['version'], { stdio: 'ignore' }).status === 0;
if (!haveGo) {
  const msg = 'Go is not installed, so the test control plane (kube-apiserver, etcd, cert-manager) cannot be built. Install Go >= 1.26 (https://go.dev/doc/install) to run the integration suite.';
  if (ci) fail(msg);
  process.stderr.write(`\nWARNING: ${msg}\nRunning the unit tests only; this run does NOT cover the integration suite.\n\n`);
  projects = ['unit'];
} else if (run(process.execPath, [path.join(root, 'scripts', 'controlplane-build.mjs')]) !== 0) {
  fail('building the test control plane failed (see above)');
}

const resultsFile = path.join(root, '.cache', 'jest-results.json');
fs.mkdirSync(path.dirname(resultsFile), { recursive: true });
const env = { ...process.env, SMTP_RELAY_SOAK: soak ? '1' : '' };
const jestArgs = [
  '--experimental-vm-modules',
  path.join(root, 'node_modules', 'jest', 'bin', 'jest.js'),
  '--maxWorkers=2',
  '--json',
  `--outputFile=${resultsFile}`,
  ...projects.flatMap((p) => ['--selectProjects', p]),
  ...passthrough,
];
const code = run(process.execPath, jestArgs, { env });

// A closing line that any CI reader understands. Skipped tests are not passes.
try {
  const r = JSON.parse(fs.readFileSync(resultsFile, 'utf8'));
  const skipped = r.numPendingTests + r.numTodoTests;
  process.stdout.write(`\n${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped\n`);
  if (r.numTotalTests === 0) fail('jest ran no test');
} catch (err) {
  process.stderr.write(`could not read jest results: ${err}\n`);
}
process.exit(code);
