// Shared plumbing for scripts/image/*: paths, running commands, input hashes and
// stamps, and buildah with this repository's own image store (so building the
// test images never touches /var/lib/containers).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
// The results (archives for containerd, stamps, npm downloads): a handful of files.
export const imagesDir = path.join(root, '.cache', 'images');
export const downloadsDir = path.join(imagesDir, 'downloads');
// The trees behind them (debootstrap rootfs, buildah's store: ~100k files) live outside
// the repository, so jest's file crawler and editors never walk them. Root-only, like
// /var/lib/containers; `rm -rf` it (and .cache/images) to start from nothing.
export const stateDir = process.env.SRO_IMAGE_STATE_DIR ?? '/var/lib/sro-image-build';
export const workDir = path.join(stateDir, 'work');
const storeRoot = path.join(stateDir, 'store');
// Runtime state (locks, mount bookkeeping) belongs on tmpfs, like buildah's default.
const storeRunRoot = '/run/sro-image-build';

export class BuildError extends Error {}

export function log(message) {
  process.stdout.write(`image-build: ${message}\n`);
}

/** Runs a command; throws BuildError with its output on failure. Returns stdout. */
export function run(cmd, args, { cwd = root, quiet = false, input, env } = {}) {
  const r = spawnSync(cmd, args, {
    cwd,
    input,
    env: env ? { ...process.env, ...env } : process.env,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    stdio: quiet ? ['pipe', 'pipe', 'pipe'] : ['pipe', 'pipe', 'inherit'],
  });
  if (r.error) throw new BuildError(`${cmd} could not be started: ${r.error.message}`);
  if (r.status !== 0) {
    const detail = quiet ? `\n${r.stderr}`.trimEnd() : '';
    throw new BuildError(`\`${cmd} ${args.join(' ')}\` failed (exit ${r.status ?? r.signal})${detail}`);
  }
  return r.stdout;
}

/** Same as run(), but the command's output streams to our stdout (long steps). */
export function runLoud(cmd, args, { cwd = root } = {}) {
  const r = spawnSync(cmd, args, { cwd, stdio: 'inherit' });
  if (r.error) throw new BuildError(`${cmd} could not be started: ${r.error.message}`);
  if (r.status !== 0) throw new BuildError(`\`${cmd} ${args.join(' ')}\` failed (exit ${r.status ?? r.signal})`);
}

/** buildah's arguments for this repository's own store. */
export function storeArgs(args) {
  return ['--root', storeRoot, '--runroot', storeRunRoot, ...args];
}

export function buildah(args, opts) {
  return run('buildah', storeArgs(args), opts);
}

export function buildahLoud(args) {
  return runLoud('buildah', storeArgs(args));
}

export function imageExists(ref) {
  return spawnSync('buildah', storeArgs(['inspect', '--type', 'image', ref]), { stdio: 'ignore' }).status === 0;
}

/** Hash of labelled parts; a part is a string, a Buffer, or { file } / { dir } (recursive, sorted). */
export function inputHash(parts) {
  const hash = createHash('sha256');
  for (const [label, part] of parts) {
    hash.update(`${label}\n`);
    if (typeof part === 'string' || Buffer.isBuffer(part)) hash.update(part);
    else if (part.file) hash.update(fs.readFileSync(part.file));
    else if (part.dir) hashDir(hash, part.dir, part.skip ?? (() => false));
    hash.update('\n');
  }
  return hash.digest('hex');
}

function hashDir(hash, dir, skip) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const full = path.join(dir, entry.name);
    if (skip(full)) continue;
    hash.update(`${path.relative(root, full)}\n`);
    if (entry.isDirectory()) hashDir(hash, full, skip);
    else hash.update(fs.readFileSync(full));
  }
}

// Stamps live beside what they describe: the rootfs and the bases are in stateDir, shared by
// every clone on the machine (CI runs in a fresh clone), so a clone whose inputs match skips
// debootstrap and the bases; an archive step is up to date only while its archive is in this
// clone's .cache/images too (build.mjs isUpToDate).
export function stampPath(name) {
  return path.join(stateDir, 'stamps', `${name}.stamp`);
}

export function stampMatches(name, digest) {
  const stamp = stampPath(name);
  return fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8').trim() === digest;
}

export function writeStamp(name, digest) {
  fs.mkdirSync(path.dirname(stampPath(name)), { recursive: true });
  fs.writeFileSync(stampPath(name), `${digest}\n`);
}

/** Unmounts anything left mounted below dir (an interrupted debootstrap leaves /proc), then removes it. */
export function removeTree(dir) {
  if (!fs.existsSync(dir)) return;
  const prefix = `${fs.realpathSync(dir)}/`;
  const mounted = fs
    .readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[1])
    .filter((m) => m && m.startsWith(prefix))
    .sort((a, b) => b.length - a.length);
  for (const m of mounted) spawnSync('umount', ['-l', m], { stdio: 'ignore' });
  run('rm', ['-rf', '--one-file-system', dir]);
}

export function seconds(startedMs) {
  return `${((Date.now() - startedMs) / 1000).toFixed(1)}s`;
}
