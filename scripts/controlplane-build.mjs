#!/usr/bin/env node
// Builds the test control plane (kube-apiserver, etcd, cert-manager, ...) from the
// pinned Go modules under test/controlplane/<dir>/ into .cache/bin/<dir>.
// Build tags, when a module needs them, come from <dir>/build-tags; environment
// (e.g. CGO_ENABLED=0) from <dir>/build-env; linker flags (version stamps) from <dir>/build-ldflags.
// A build is skipped when .cache/bin/<dir>.stamp holds the hash of that dir's
// go.mod, go.sum, build-tags, build-env, build-ldflags, *.go and `go version`, and the binary exists.
// Builds run one at a time: the machines have two cores. A failed build does not stop
// the others; the script exits non-zero at the end if any failed.
// The node parts of the test cluster (kubelet, containerd, CoreDNS, ...; scripts/cluster/up.mjs)
// live in a second group, test/cluster/<dir>/, built only when asked for (`--group cluster`),
// so the control-plane build that `npm test` runs does not build them.
// Usage: node scripts/controlplane-build.mjs [--group controlplane|cluster] [dir ...]
//        (default group: controlplane; default dirs: every dir of the group with a go.mod)
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const groups = { controlplane: 'controlplane', cluster: 'cluster' };
const binDir = path.join(root, '.cache', 'bin');
// Binaries by digest, shared by every clone on this machine (CI runs in a fresh clone): a
// clone whose sources match copies the binary instead of relinking it (~80 s for all of
// them even with Go's build cache warm). SRO_BIN_CACHE moves it; `off` disables it.
const machineCacheDir = process.env.SRO_BIN_CACHE ?? path.join(os.homedir(), '.cache', 'smtp-relay-operator', 'bin');
const useMachineCache = machineCacheDir !== 'off';

function fail(message) {
  process.stderr.write(`controlplane-build: ${message}\n`);
  process.exit(1);
}

function goVersion() {
  const r = spawnSync('go', ['version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    fail(
      'Go is not installed (or `go version` failed), so the test control plane cannot be built. ' +
        'Install Go >= 1.26 (https://go.dev/doc/install) and make sure `go` is on PATH.',
    );
  }
  return r.stdout.trim();
}

/** Hash of everything that decides the binary: module files, sources, toolchain. */
function sourceHash(dir, version) {
  const hash = createHash('sha256');
  hash.update(`go:${version}\n`);
  const files = fs
    .readdirSync(dir)
    .filter((f) => f === 'go.mod' || f === 'go.sum' || f === 'build-tags' || f === 'build-env' || f === 'build-ldflags' || f.endsWith('.go'))
    .sort();
  for (const file of files) {
    hash.update(`file:${file}\n`);
    hash.update(fs.readFileSync(path.join(dir, file)));
  }
  return hash.digest('hex');
}

function isUpToDate(name, digest) {
  const stamp = path.join(binDir, `${name}.stamp`);
  if (!fs.existsSync(path.join(binDir, name)) || !fs.existsSync(stamp)) return false;
  return fs.readFileSync(stamp, 'utf8').trim() === digest;
}

/** Copies the binary for this digest from the machine cache, if it is there. */
function fromMachineCache(name, digest) {
  if (!useMachineCache) return false;
  const cached = path.join(machineCacheDir, `${name}-${digest}`);
  if (!fs.existsSync(cached)) return false;
  const out = path.join(binDir, name);
  const tmp = `${out}.tmp-${process.pid}`;
  fs.copyFileSync(cached, tmp);
  fs.chmodSync(tmp, 0o755);
  fs.renameSync(tmp, out);
  fs.writeFileSync(path.join(binDir, `${name}.stamp`), `${digest}\n`);
  process.stdout.write(`controlplane-build: ${name} copied from the machine cache (${machineCacheDir})\n`);
  return true;
}

/** Keeps the newest build of each binary in the machine cache (older digests are removed). */
function toMachineCache(name, digest) {
  if (!useMachineCache) return;
  try {
    fs.mkdirSync(machineCacheDir, { recursive: true });
    for (const f of fs.readdirSync(machineCacheDir)) if (f.startsWith(`${name}-`) && f !== `${name}-${digest}`) fs.rmSync(path.join(machineCacheDir, f), { force: true });
    const tmp = path.join(machineCacheDir, `.${name}-${digest}.tmp-${process.pid}`);
    fs.copyFileSync(path.join(binDir, name), tmp);
    fs.renameSync(tmp, path.join(machineCacheDir, `${name}-${digest}`));
  } catch (err) {
    // Only a speed-up: a read-only or full home directory must not fail the build.
    process.stderr.write(`controlplane-build: could not store ${name} in the machine cache: ${err.message}\n`);
  }
}

function build(name, dir, digest) {
  const out = path.join(binDir, name);
  process.stdout.write(`controlplane-build: building ${name} (go build -trimpath -o .cache/bin/${name} .) ...\n`);
  const started = Date.now();
  // Build to a temp name, then rename: an interrupted build never leaves a half binary.
  const tmp = `${out}.tmp-${process.pid}`;
  // An optional `build-tags` file (one line, comma separated) for modules that need tags (hydra: sqlite).
  const tagsFile = path.join(dir, 'build-tags');
  const tags = fs.existsSync(tagsFile) ? ['-tags', fs.readFileSync(tagsFile, 'utf8').trim()] : [];
  // An optional `build-env` file (KEY=VALUE lines), e.g. CGO_ENABLED=0 for a static binary as upstream ships it.
  const envFile = path.join(dir, 'build-env');
  const env = { ...process.env };
  if (fs.existsSync(envFile)) {
    for (const line of fs.readFileSync(envFile, 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'))) {
      const at = line.indexOf('=');
      if (at > 0) env[line.slice(0, at)] = line.slice(at + 1);
    }
  }
  // An optional `build-ldflags` file (one line): e.g. the version stamp upstream's release build sets.
  const ldflagsFile = path.join(dir, 'build-ldflags');
  const ldflags = fs.existsSync(ldflagsFile) ? ['-ldflags', fs.readFileSync(ldflagsFile, 'utf8').trim()] : [];
  const r = spawnSync('go', ['build', '-trimpath', ...tags, ...ldflags, '-o', tmp, '.'], { cwd: dir, stdio: 'inherit', env });
  if (r.error || r.status !== 0) {
    fs.rmSync(tmp, { force: true });
    process.stderr.write(
      `controlplane-build: building ${name} in ${path.relative(root, dir)} failed (exit ${r.status ?? r.error?.message}). ` +
        'If it reports a missing go.sum entry, run `go mod tidy` in that directory and commit go.sum.\n',
    );
    return false;
  }
  fs.renameSync(tmp, out);
  fs.writeFileSync(path.join(binDir, `${name}.stamp`), `${digest}\n`);
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  process.stdout.write(`controlplane-build: built ${name} in ${seconds}s\n`);
  return true;
}

/** Splits argv into the source group (`--group <name>`) and the requested dirs. */
function parseArgs(argv) {
  const args = [...argv];
  let group = 'controlplane';
  const at = args.indexOf('--group');
  if (at !== -1) {
    group = args[at + 1];
    args.splice(at, 2);
    if (!Object.hasOwn(groups, group ?? '')) fail(`unknown --group ${group} (known: ${Object.keys(groups).join(', ')})`);
  }
  return { sourcesDir: path.join(root, 'test', groups[group]), requested: args };
}

function main() {
  const started = Date.now();
  const { sourcesDir, requested } = parseArgs(process.argv.slice(2));
  const version = goVersion();
  if (!fs.existsSync(sourcesDir)) fail(`${sourcesDir} does not exist`);
  fs.mkdirSync(binDir, { recursive: true });
  const available = fs
    .readdirSync(sourcesDir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && fs.existsSync(path.join(sourcesDir, e.name, 'go.mod')))
    .map((e) => e.name)
    .sort();
  if (available.length === 0) fail(`no Go module found under ${path.relative(root, sourcesDir)}/`);
  const unknown = requested.filter((n) => !available.includes(n));
  if (unknown.length > 0) fail(`unknown control-plane component(s): ${unknown.join(', ')} (known: ${available.join(', ')})`);
  const dirs = requested.length > 0 ? requested : available;
  const failed = [];
  for (const name of dirs) {
    const dir = path.join(sourcesDir, name);
    if (!fs.existsSync(path.join(dir, 'go.sum'))) {
      process.stderr.write(`controlplane-build: ${path.relative(root, dir)}/go.sum is missing: run \`go mod tidy\` there and commit go.sum\n`);
      failed.push(name);
      continue;
    }
    const digest = sourceHash(dir, version);
    if (isUpToDate(name, digest)) {
      process.stdout.write(`controlplane-build: ${name} is up to date\n`);
      continue;
    }
    if (fromMachineCache(name, digest)) continue;
    if (build(name, dir, digest)) toMachineCache(name, digest);
    else failed.push(name);
  }
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  if (failed.length > 0) fail(`failed to build: ${failed.join(', ')} (after ${seconds}s)`);
  process.stdout.write(`controlplane-build: done in ${seconds}s\n`);
}

main();
