// Reading and watching a mounted Secret directory.
// Kubernetes' atomic writer keeps the real files in a `..<timestamp>` directory, points
// `..data` at it and exposes each key as a symlink `key -> ..data/key`; an update renames a
// new `..data` link over the old one. So: watch the directory itself (the rename is an event
// there), poll a content hash every second as a safety net (events can be missed, e.g. on
// some overlay filesystems), and only act on a snapshot that reads the same twice.
import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';

export interface DirSnapshot {
  files: Map<string, Buffer>;
  hash: string;
}

function hashFiles(files: Map<string, Buffer>): string {
  const h = crypto.createHash('sha256');
  for (const name of [...files.keys()].sort()) {
    const body = files.get(name) as Buffer;
    h.update(name).update('\0').update(String(body.length)).update('\0').update(body);
  }
  return h.digest('hex');
}

/**
 * Reads the named files (all required), or every visible regular file when no names are
 * given (dot entries such as `..data` are the atomic writer's bookkeeping, never keys).
 */
export async function readSecretDir(dir: string, names?: readonly string[]): Promise<DirSnapshot> {
  const files = new Map<string, Buffer>();
  if (names) {
    for (const name of names) {
      try {
        files.set(name, await fsp.readFile(path.join(dir, name)));
      } catch (err) {
        throw new Error(`cannot read ${path.join(dir, name)}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
    }
  } else {
    let entries: string[];
    try {
      entries = await fsp.readdir(dir);
    } catch (err) {
      throw new Error(`cannot list ${dir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    for (const name of entries.sort()) {
      if (name.startsWith('.')) continue;
      const full = path.join(dir, name);
      const st = await fsp.stat(full).catch(() => null); // follows the key -> ..data/key symlink
      if (!st?.isFile()) continue;
      files.set(name, await fsp.readFile(full));
    }
  }
  return { files, hash: hashFiles(files) };
}

export interface DirWatcherOptions {
  dir: string;
  names?: readonly string[];
  pollMs?: number;
  /** Last applied content hash, so the first poll does not re-apply the initial load. */
  initialHash?: string;
  onSnapshot: (snap: DirSnapshot) => void | Promise<void>;
  onError: (err: Error) => void;
}

export class DirWatcher {
  private watcher: fs.FSWatcher | null = null;
  private timer: NodeJS.Timeout | null = null;
  private debounce: NodeJS.Timeout | null = null;
  private lastHash: string | undefined;
  private lastError = '';
  private checking = false;
  private again = false;
  private stopped = false;

  constructor(private readonly opts: DirWatcherOptions) {
    this.lastHash = opts.initialHash;
  }

  start(): void {
    this.watch();
    this.timer = setInterval(() => void this.check(), this.opts.pollMs ?? 1000);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    this.watcher?.close();
    this.watcher = null;
    if (this.timer) clearInterval(this.timer);
    if (this.debounce) clearTimeout(this.debounce);
  }

  private watch(): void {
    if (this.watcher || this.stopped) return;
    try {
      this.watcher = fs.watch(this.opts.dir, { persistent: false }, () => this.schedule());
      this.watcher.on('error', () => {
        // The directory went away or the watch broke: the poll carries on and re-arms it.
        this.watcher?.close();
        this.watcher = null;
      });
    } catch {
      this.watcher = null;
    }
  }

  private schedule(): void {
    if (this.debounce || this.stopped) return;
    this.debounce = setTimeout(() => {
      this.debounce = null;
      void this.check();
    }, 50);
    this.debounce.unref();
  }

  /** Reads until two reads agree, so a half-swapped directory is never acted on. */
  private async stableRead(): Promise<DirSnapshot> {
    let prev = await readSecretDir(this.opts.dir, this.opts.names);
    for (let i = 0; i < 5; i++) {
      await new Promise((r) => setTimeout(r, 100).unref());
      const next = await readSecretDir(this.opts.dir, this.opts.names);
      if (next.hash === prev.hash) return next;
      prev = next;
    }
    return prev;
  }

  async check(): Promise<void> {
    if (this.stopped) return;
    if (this.checking) {
      this.again = true;
      return;
    }
    this.checking = true;
    try {
      this.watch();
      const quick = await readSecretDir(this.opts.dir, this.opts.names);
      if (quick.hash !== this.lastHash) {
        const snap = await this.stableRead();
        if (snap.hash !== this.lastHash && !this.stopped) {
          this.lastHash = snap.hash;
          await this.opts.onSnapshot(snap);
        }
      }
      this.lastError = '';
    } catch (err) {
      const msg = (err as Error).message;
      if (msg !== this.lastError) {
        this.lastError = msg;
        this.opts.onError(err as Error);
      }
    } finally {
      this.checking = false;
      if (this.again) {
        this.again = false;
        this.schedule();
      }
    }
  }
}
