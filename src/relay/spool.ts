// Scratch space on disk for messages being DKIM-signed (the signer needs the whole body
// before it can write the signature header, so a large body is spilled here instead of
// held in memory). Every message gets a directory of its own, removed with everything in
// it when the message is done, however it ended; directories left over by a crash are
// removed at start. Nothing here is ever the only copy of an acknowledged message: the
// client is answered only after the upstream accepted the message.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

const MESSAGE_DIR_PREFIX = 'msg-';

export interface ScratchDir {
  path: string;
  /** Removes the directory and its content; never throws. */
  remove(): Promise<void>;
}

export class Spool {
  private constructor(
    readonly dir: string,
    private readonly ownsDir: boolean,
  ) {}

  /**
   * The configured spool directory (created if missing, stale message directories removed),
   * or a private temporary directory when none is configured (local runs).
   */
  static async open(dir: string | undefined): Promise<{ spool: Spool; staleRemoved: number }> {
    if (!dir) return { spool: new Spool(await fs.mkdtemp(path.join(os.tmpdir(), 'smtp-relay-spool-')), true), staleRemoved: 0 };
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    const stale = (await fs.readdir(dir)).filter((n) => n.startsWith(MESSAGE_DIR_PREFIX));
    for (const name of stale) await fs.rm(path.join(dir, name), { recursive: true, force: true });
    return { spool: new Spool(dir, false), staleRemoved: stale.length };
  }

  /** A fresh directory for one message (mode 0700: it holds message content). */
  async scratch(id: string): Promise<ScratchDir> {
    const p = path.join(this.dir, `${MESSAGE_DIR_PREFIX}${id}`);
    await fs.mkdir(p, { mode: 0o700 });
    return {
      path: p,
      // Retries cover a spill file still being created while the directory is removed.
      remove: () => fs.rm(p, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 }).catch(() => undefined),
    };
  }

  /** Removes the directory if this process created it. */
  async close(): Promise<void> {
    if (this.ownsDir) await fs.rm(this.dir, { recursive: true, force: true }).catch(() => undefined);
  }
}
