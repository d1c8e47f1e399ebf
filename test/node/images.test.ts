// The images the test cluster runs, as scripts/image/build.mjs saved them for containerd
// (.cache/images/*.tar, docker-archive). What a pod gets must match what the Dockerfile
// and docs/test-cluster.md promise: the operator runs as 65532 from /nodejs/bin/node with
// no shell or package manager in the image; pause and CoreDNS are one static binary each.
import { beforeAll, describe, expect, test } from '@jest/globals';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readDockerArchive, type DockerArchive } from '../helpers/image/docker-archive.js';

const imagesDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '.cache', 'images');
// A shell or package manager under any of these names would let a compromised relay do more.
const FORBIDDEN = ['sh', 'bash', 'dash', 'ash', 'busybox', 'apt', 'apt-get', 'dpkg', 'npm', 'npx', 'corepack', 'perl', 'python3'];
const BIN_DIRS = ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'usr/local/bin', 'usr/local/sbin'];

function load(name: string): DockerArchive {
  const file = path.join(imagesDir, `${name}.tar`);
  if (!fs.existsSync(file)) throw new Error(`${file} is missing: run \`sudo npm run image:build\` (cluster:up runs it)`);
  return readDockerArchive(file);
}

/** Executables on the usual PATH directories that are a shell or a package manager. */
function forbiddenTools(files: Set<string>): string[] {
  return BIN_DIRS.flatMap((dir) => FORBIDDEN.map((tool) => `${dir}/${tool}`)).filter((f) => files.has(f));
}

describe('operator image (smtp-relay-operator:dev from the Dockerfile)', () => {
  let image: DockerArchive;
  beforeAll(() => {
    image = load('operator');
  });

  test('is tagged as containerd names `smtp-relay-operator:dev`', () => {
    expect(image.repoTags).toEqual(['docker.io/library/smtp-relay-operator:dev']);
  });

  test('runs dist/cli.js with /nodejs/bin/node as 65532:65532 from /app', () => {
    expect(image.config.User).toBe('65532:65532');
    expect(image.config.Entrypoint).toEqual(['/nodejs/bin/node', 'dist/cli.js']);
    expect(image.config.WorkingDir).toBe('/app');
    expect(image.config.Env).toContain('NODE_ENV=production');
    expect(image.files.has('nodejs/bin/node')).toBe(true);
    expect(image.files.has('app/dist/cli.js')).toBe(true);
  });

  test('has no shell and no package manager', () => {
    expect(forbiddenTools(image.files)).toEqual([]);
    expect([...image.files].filter((f) => f.endsWith('/npm/bin/npm-cli.js'))).toEqual([]);
  });

  test('carries no sources, tests or dev dependencies', () => {
    const unwanted = [...image.files].filter(
      (f) => f.startsWith('app/src/') || f.startsWith('app/test/') || /^app\/node_modules\/(typescript|jest|ts-jest|tsx)\//.test(f),
    );
    expect(unwanted).toEqual([]);
  });
});

describe.each([
  { name: 'pause', tag: 'localhost/pause:sro', user: '65535:65535', entrypoint: ['/pause'] },
  { name: 'coredns', tag: 'localhost/coredns:sro', user: '65532:65532', entrypoint: ['/coredns'] },
])('$tag image', ({ name, tag, user, entrypoint }) => {
  test('is one binary, run as a non-root user', () => {
    const image = load(name);
    expect(image.repoTags).toEqual([tag]);
    expect(image.config.User).toBe(user);
    expect(image.config.Entrypoint).toEqual(entrypoint);
    expect([...image.files]).toEqual([entrypoint[0]!.slice(1)]);
  });
});
