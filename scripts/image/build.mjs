#!/usr/bin/env node
// Builds the container images of the local test node (`npm run image:build`):
//   build-base    localhost/sro-build-base:bookworm-node24   stand-in for node:24-bookworm-slim
//   runtime-base  localhost/sro-runtime-base:nodejs24        stand-in for distroless nodejs24-debian12:nonroot
//   operator      smtp-relay-operator:dev  the repository's Dockerfile, unchanged, on the two stand-ins
//   pause         localhost/pause:sro      the pod sandbox process (scripts/image/pause.c)
//   coredns       localhost/coredns:sro    scratch + .cache/bin/coredns
// operator, pause and coredns are saved as docker-archive tars in .cache/images/<name>.tar
// for `ctr -n k8s.io images import`. Each step is stamped with the hash of its inputs
// and skipped when up to date. The rootfs and buildah's store live in /var/lib/sro-image-build (scripts/image/tools.mjs).
// Needs root, buildah, debootstrap, gcc (+ libc6-dev for -static), file and npm on PATH.
// Usage: node scripts/image/build.mjs [build-base|runtime-base|operator|pause|coredns ...]  (default: all)
import fs from 'node:fs';
import path from 'node:path';
import { BUILD_BASE, RUNTIME_BASE, buildBuildBase, buildRuntimeBase, hostExtraCaFile, imageId, removeReplacedImage } from './bases.mjs';
import { NPM_VERSION, ensureRootfs, nodeVersion } from './rootfs.mjs';
import { COREDNS_IMAGE, PAUSE_IMAGE, buildCoredns, buildPause, corednsBinary, pauseSource } from './scratch-images.mjs';
import {
  BuildError, buildah, buildahLoud, imageExists, imagesDir, inputHash, log, root, run, seconds, stampMatches, stampPath, stateDir, writeStamp,
} from './tools.mjs';

/** How containerd names the operator image (what a pod's `image: smtp-relay-operator:dev` resolves to). */
const OPERATOR_IMAGE = 'docker.io/library/smtp-relay-operator:dev';
/** The scripts a step's result depends on are inputs too. */
const scripts = (...files) => files.map((f) => [`script:${f}`, { file: path.join(root, 'scripts', 'image', f) }]);
const baseScripts = scripts('tools.mjs', 'rootfs.mjs', 'bases.mjs');
const scratchScripts = scripts('tools.mjs', 'bases.mjs', 'scratch-images.mjs');

const steps = {
  'build-base': {
    ref: BUILD_BASE,
    isBase: true,
    digest: () => {
      const extraCa = hostExtraCaFile();
      return inputHash([
        ['rootfs', ensureRootfs()], ['node', nodeVersion()], ['npm', NPM_VERSION], ...baseScripts,
        ['host-extra-ca', extraCa ? { file: extraCa } : 'none'],
      ]);
    },
    build: buildBuildBase,
  },
  'runtime-base': {
    ref: RUNTIME_BASE,
    isBase: true,
    digest: () => inputHash([['rootfs', ensureRootfs()], ['node', nodeVersion()], ...baseScripts]),
    build: buildRuntimeBase,
  },
  operator: {
    ref: OPERATOR_IMAGE,
    archive: 'operator.tar',
    needs: ['build-base', 'runtime-base'],
    // Everything the Dockerfile reads (its context is narrowed by .dockerignore), plus both bases.
    digest: (needed) => inputHash([
      ...needed.map((n) => [`base:${n}`, fs.readFileSync(stampPath(n), 'utf8')]),
      ...['Dockerfile', '.dockerignore', 'package.json', 'package-lock.json', 'tsconfig.json'].map((f) => [f, { file: path.join(root, f) }]),
      ['src', { dir: path.join(root, 'src') }],
      ...scripts('build.mjs'),
    ]),
    build: buildOperator,
  },
  pause: {
    ref: PAUSE_IMAGE,
    archive: 'pause.tar',
    digest: () => inputHash([['pause.c', { file: pauseSource }], ['gcc', run('gcc', ['--version'], { quiet: true })], ...scratchScripts]),
    build: buildPause,
  },
  coredns: {
    ref: COREDNS_IMAGE,
    archive: 'coredns.tar',
    digest: () => inputHash([['coredns', fs.existsSync(corednsBinary) ? { file: corednsBinary } : 'missing'], ...scratchScripts]),
    build: buildCoredns,
  },
};

/** `buildah bud` of the repository's Dockerfile with the stand-in bases as build arguments. */
function buildOperator() {
  const version = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).version;
  const replaced = imageId(OPERATOR_IMAGE);
  buildahLoud([
    'bud',
    '--layers',
    '--pull=never', // the bases exist only locally; never reach for a registry
    '--network=host', // `npm ci` inside the build needs the npm registry
    '--build-arg', `NODE_BUILD_IMAGE=${BUILD_BASE}`,
    '--build-arg', `NODE_RUNTIME_IMAGE=${RUNTIME_BASE}`,
    '--build-arg', `VERSION=${version}`,
    '--tag', OPERATOR_IMAGE,
    '--file', path.join(root, 'Dockerfile'),
    root,
  ]);
  removeReplacedImage(replaced, OPERATOR_IMAGE);
}

/** Saves an image as a docker-archive tar; its RepoTags entry is the name containerd gives it on import. */
function saveArchive(ref, file) {
  const tmp = `${file}.tmp`;
  fs.rmSync(tmp, { force: true });
  buildah(['push', '--quiet', ref, `docker-archive:${tmp}:${ref}`], { quiet: true });
  fs.renameSync(tmp, file);
}

function isUpToDate(step, name, digest) {
  if (!stampMatches(name, digest)) return false;
  if (step.archive) return fs.existsSync(path.join(imagesDir, step.archive));
  return imageExists(step.ref);
}

/** Builds a step unless its stamp matches; a base (no archive) is up to date only while it is in the store. */
function ensure(name, done) {
  if (done.has(name)) return;
  const step = steps[name];
  for (const dep of step.needs ?? []) ensure(dep, done);
  const digest = step.digest(step.needs ?? []);
  if (isUpToDate(step, name, digest)) log(`${name} is up to date`);
  else rebuild(name, digest);
  done.add(name);
}

function rebuild(name, digest) {
  const step = steps[name];
  const started = Date.now();
  log(`building ${name} (${step.ref}) ...`);
  fs.rmSync(stampPath(name), { force: true });
  step.build();
  // A new base makes every cached Dockerfile layer on the old one useless: drop them (untagged images).
  if (step.isBase) buildah(['rmi', '--prune'], { quiet: true });
  if (step.archive) saveArchive(step.ref, path.join(imagesDir, step.archive));
  writeStamp(name, digest);
  const where = step.archive ? ` -> .cache/images/${step.archive}` : '';
  log(`built ${name} in ${seconds(started)}${where}`);
}

function main() {
  const started = Date.now();
  if (process.getuid?.() !== 0) throw new BuildError('building the images needs root (debootstrap, chroot, buildah mount)');
  for (const tool of ['buildah', 'debootstrap', 'gcc', 'strip', 'file', 'npm']) {
    try {
      run('sh', ['-c', `command -v ${tool}`], { quiet: true });
    } catch {
      throw new BuildError(`'${tool}' is missing (Debian: apt-get install buildah debootstrap gcc libc6-dev binutils file)`);
    }
  }
  fs.mkdirSync(imagesDir, { recursive: true });
  const requested = process.argv.slice(2);
  const unknown = requested.filter((n) => !(n in steps));
  if (unknown.length > 0) throw new BuildError(`unknown image(s): ${unknown.join(', ')} (known: ${Object.keys(steps).join(', ')})`);
  const release = lock();
  try {
    const done = new Set();
    for (const name of requested.length > 0 ? requested : Object.keys(steps)) ensure(name, done);
  } finally {
    release();
  }
  log(`done in ${seconds(started)}`);
}

/**
 * One build at a time on the machine (cluster:up runs this too): the rootfs, buildah's store
 * and the base stamps in stateDir are shared by every clone, so the lock lives there; a
 * second build waits for the first (two debootstraps into one directory break each other).
 */
function lock() {
  fs.mkdirSync(stateDir, { recursive: true });
  const file = path.join(stateDir, 'build.lock');
  const deadline = Date.now() + 20 * 60_000;
  let said = false;
  for (;;) {
    try {
      fs.writeFileSync(file, `${process.pid}\n`, { flag: 'wx' });
      return () => fs.rmSync(file, { force: true });
    } catch (err) {
      if (err.code !== 'EEXIST') throw err;
      const pid = Number(fs.readFileSync(file, 'utf8'));
      if (!(pid > 0 && isAlive(pid))) {
        fs.rmSync(file, { force: true }); // left by a build that died
        continue;
      }
      if (Date.now() > deadline) throw new BuildError(`another image build (pid ${pid}, ${file}) is still running after 20 minutes`);
      if (!said) log(`waiting for another image build on this machine (pid ${pid}, ${file}) ...`);
      said = true;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2000); // a synchronous 2 s sleep
    }
  }
}

function isAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

try {
  main();
} catch (err) {
  if (!(err instanceof BuildError)) throw err;
  process.stderr.write(`image-build: ${err.message}\n`);
  process.exit(1);
}
