// One-binary images for the test node: the pod sandbox's pause process and CoreDNS.
// Each is `scratch` + one static binary, so there is nothing else in them to run.
import fs from 'node:fs';
import path from 'node:path';
import { commitFromScratch } from './bases.mjs';
import { BuildError, root, run, workDir } from './tools.mjs';

export const PAUSE_IMAGE = 'localhost/pause:sro';
export const COREDNS_IMAGE = 'localhost/coredns:sro';
export const pauseSource = path.join(root, 'scripts', 'image', 'pause.c');
/** Built by scripts/controlplane-build.mjs from test/cluster/coredns (the node's Go modules). */
export const corednsBinary = process.env.SRO_COREDNS_BINARY ?? path.join(root, '.cache', 'bin', 'coredns');

function assertStatic(binary) {
  const description = run('file', ['-b', binary], { quiet: true });
  if (!/statically linked|static-pie linked/.test(description)) {
    throw new BuildError(`${path.relative(root, binary)} is not statically linked (${description.trim()}); a scratch image has no libc. Build it with CGO_ENABLED=0.`);
  }
}

function installBinary(mnt, binary, name) {
  const target = path.join(mnt, name);
  run('cp', [binary, target]);
  fs.chownSync(target, 0, 0);
  fs.chmodSync(target, 0o755);
}

/** Kubernetes' pause image: /pause as entrypoint, user 65535 like registry.k8s.io/pause. */
export function buildPause() {
  const binary = path.join(workDir, 'pause');
  fs.mkdirSync(workDir, { recursive: true });
  run('gcc', ['-static', '-Os', '-Wall', '-Wextra', '-Werror', '-o', binary, pauseSource]);
  run('strip', [binary]);
  assertStatic(binary);
  commitFromScratch(PAUSE_IMAGE, (mnt) => installBinary(mnt, binary, 'pause'), [
    '--user', '65535:65535',
    '--entrypoint', '["/pause"]',
    '--label', 'org.opencontainers.image.description=pause for the local test node (scripts/image/pause.c)',
  ]);
}

/**
 * CoreDNS as upstream ships it (coredns/coredns' Dockerfile), non-root 65532, but without
 * upstream's file capability (setcap cap_net_bind_service): with `capabilities: drop: [ALL]`
 * such a binary fails to exec (EPERM). The pod binds port 53 through the
 * net.ipv4.ip_unprivileged_port_start sysctl instead (scripts/cluster/manifests/coredns.yaml).
 */
export function buildCoredns() {
  if (!fs.existsSync(corednsBinary)) {
    throw new BuildError(`${path.relative(root, corednsBinary)} is missing: build it first (node scripts/controlplane-build.mjs builds the node's Go modules)`);
  }
  assertStatic(corednsBinary);
  const version = run(corednsBinary, ['-version'], { quiet: true }).split('\n')[0].trim();
  commitFromScratch(COREDNS_IMAGE, (mnt) => installBinary(mnt, corednsBinary, 'coredns'), [
    '--user', '65532:65532',
    '--entrypoint', '["/coredns"]',
    '--port', '53/udp',
    '--port', '53/tcp',
    '--label', `org.opencontainers.image.description=${version} for the local test node (scratch + the binary)`,
  ]);
}
