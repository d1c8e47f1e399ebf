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
const results = [readResults(resultsFile)];

// The real-node e2e (test/node/, issue 14): after the other projects, so the cluster's
// daemons do not load the machine under them. It needs root (containerd, kubelet, network
// namespaces) and runs on a full run only: `npm test -- some/file` stays quick.
let nodeCode = 0;
const nodeWanted = passthrough.length === 0 && projects.includes('integration');
if (nodeWanted) nodeCode = runNodePhase();

// A closing line that any CI reader understands. Skipped tests are not passes.
const known = results.filter(Boolean);
if (known.length > 0) {
  const sum = (f) => known.reduce((n, r) => n + f(r), 0);
  const skipped = sum((r) => r.numPendingTests + r.numTodoTests);
  process.stdout.write(`\n${sum((r) => r.numPassedTests)} passed, ${sum((r) => r.numFailedTests)} failed, ${skipped} skipped\n`);
  if (sum((r) => r.numTotalTests) === 0) fail('jest ran no test');
}
process.exit(code !== 0 ? code : nodeCode);

function readResults(file) {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    process.stderr.write(`could not read jest results ${path.relative(root, file)}: ${err}\n`);
    return undefined;
  }
}

/** cluster:up, the `node` jest project, cluster:down (always). Returns the exit code. */
function runNodePhase() {
  const why =
    process.env.SMTP_RELAY_NODE === 'off'
      ? 'SMTP_RELAY_NODE=off is set'
      : process.platform !== 'linux'
        ? 'the test cluster needs Linux'
        : process.getuid?.() !== 0
          ? 'the test cluster needs root (containerd, kubelet, network namespaces): run `sudo npm test`'
          : undefined;
  if (why) {
    if (ci) fail(`${why}; CI runs the real-node e2e (test/node/) too`);
    process.stderr.write(`\nWARNING: ${why}.\nSkipping the real-node e2e (test/node/); this run does NOT cover them.\n\n`);
    return 0;
  }
  process.stdout.write('\nnpm test: real-node e2e: npm run cluster:up ...\n');
  const up = path.join(root, 'scripts', 'cluster', 'up.mjs');
  const down = path.join(root, 'scripts', 'cluster', 'down.mjs');
  try {
    if (run(process.execPath, [up], { stdio: ['ignore', 'inherit', 'inherit'] }) !== 0) {
      process.stderr.write('\nnpm test: cluster:up failed (see above); the real-node e2e did not run\n');
      return 1;
    }
    const nodeResults = path.join(root, '.cache', 'jest-node-results.json');
    fs.rmSync(nodeResults, { force: true });
    const nodeArgs = [
      '--experimental-vm-modules',
      path.join(root, 'node_modules', 'jest', 'bin', 'jest.js'),
      '--selectProjects', 'node',
      '--maxWorkers=1',
      '--json',
      `--outputFile=${nodeResults}`,
    ];
    const c = run(process.execPath, nodeArgs, { env });
    results.push(readResults(nodeResults));
    return c;
  } finally {
    if (run(process.execPath, [down]) !== 0) process.stderr.write('\nnpm test: cluster:down failed (see above): run `npm run cluster:down` by hand\n');
  }
}
