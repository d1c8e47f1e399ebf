// Reads a docker-archive tar (what scripts/image/build.mjs saves for `ctr images import`):
// its tags, the image config, and the file tree the layers add up to (whiteouts applied).
// Uses the system `tar`, so nothing is unpacked to disk.
import { spawnSync } from 'node:child_process';
import path from 'node:path';

export interface ImageConfig {
  User?: string;
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  WorkingDir?: string;
  Env?: string[];
}

export interface DockerArchive {
  repoTags: string[];
  config: ImageConfig;
  /** Every path in the final file system, relative to / without a leading slash ("nodejs/bin/node"). */
  files: Set<string>;
}

function tar(args: string[], input?: Buffer): Buffer {
  const r = spawnSync('tar', args, { input, maxBuffer: 1024 * 1024 * 1024 });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`tar ${args.join(' ')} failed: ${r.stderr.toString().trim()}`);
  return r.stdout;
}

function readMember(archive: string, member: string): Buffer {
  return tar(['-xOf', archive, member]);
}

/** Applies one layer's entries to the tree: `.wh.<name>` deletes <name>, `.wh..wh..opq` empties its directory. */
function applyLayer(files: Set<string>, entries: string[]): void {
  for (const raw of entries) {
    const entry = raw.replace(/^\.\//, '').replace(/\/$/, '');
    if (!entry) continue;
    const dir = path.posix.dirname(entry);
    const base = path.posix.basename(entry);
    if (base === '.wh..wh..opq') {
      for (const f of [...files]) if (f.startsWith(`${dir}/`)) files.delete(f);
    } else if (base.startsWith('.wh.')) {
      const gone = dir === '.' ? base.slice(4) : `${dir}/${base.slice(4)}`;
      for (const f of [...files]) if (f === gone || f.startsWith(`${gone}/`)) files.delete(f);
    } else {
      files.add(entry);
    }
  }
}

export function readDockerArchive(archive: string): DockerArchive {
  const [manifest] = JSON.parse(readMember(archive, 'manifest.json').toString('utf8')) as { Config: string; RepoTags: string[]; Layers: string[] }[];
  if (!manifest) throw new Error(`${archive} has an empty manifest.json`);
  const config = (JSON.parse(readMember(archive, manifest.Config).toString('utf8')) as { config: ImageConfig }).config;
  const files = new Set<string>();
  for (const layer of manifest.Layers) {
    const listing = tar(['-tf', '-'], readMember(archive, layer)).toString('utf8');
    applyLayer(files, listing.split('\n'));
  }
  return { repoTags: manifest.RepoTags, config, files };
}
