// The queue on disk (the pod's PersistentVolumeClaim). Layout under the queue dir:
//   msg/<id>.msg         one message: header (envelope) + body, see envelope.ts; the commit point
//   msg/<id>.state       progress on a multi-recipient message (optional)
//   tmp/                 files being written; what a crash leaves here was never acknowledged
//   quarantine/          partial or corrupt entries moved aside at start, for a human to look at
//
// Writing a message: tmp/<id>.msg is written and fsynced, renamed to msg/<id>.msg, then msg/
// is fsynced. Only then does the message exist (and the client get 250). Concurrent commits
// share directory fsyncs (group commit: one fsync covers every rename done before it began).
import { constants as fsc } from 'node:fs';
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Writable, type Readable } from 'node:stream';
import { decodeHeader, decodeState, encodeHeader, encodeState, isQueueId, QueueFormatError, type QueueEnvelope, type QueueState } from './envelope.js';

const MSG = 'msg';
const TMP = 'tmp';
const QUARANTINE = 'quarantine';
/** The most header (magic + envelope line) a message file may have: 100k recipients fit. */
const MAX_HEADER_BYTES = 16 * 1024 * 1024;

export interface StoredEntry {
  envelope: QueueEnvelope;
  /** Recipients still to try. */
  remaining: string[];
  bodyOffset: number;
  /** Size of the message file (and its state) on disk. */
  bytes: number;
}

export interface ScanResult {
  entries: StoredEntry[];
  quarantined: Array<{ name: string; reason: string }>;
}

/** A write that failed because the disk or quota is full (452 4.3.1), or any other way. */
export class QueueWriteError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
  }
  get storageFull(): boolean {
    return this.code === 'ENOSPC' || this.code === 'EDQUOT';
  }
}

/** Runs `fn` so that every caller that arrives while one run is going shares the next run. */
function coalesced(fn: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | null = null;
  let next: Promise<void> | null = null;
  const run = (): Promise<void> => {
    running = fn().finally(() => {
      running = null;
    });
    return running;
  };
  return () => {
    if (!running) return run();
    // A rename done now may have missed the running fsync: wait for one that starts after it.
    next ??= running.catch(() => undefined).then(() => {
      next = null;
      return run();
    });
    return next;
  };
}

export class QueueStore {
  private readonly syncMsgDir: () => Promise<void>;

  private constructor(
    readonly dir: string,
    private readonly onFsync: (seconds: number, what: 'file' | 'dir') => void,
  ) {
    this.syncMsgDir = coalesced(() => this.fsyncDir(path.join(this.dir, MSG)));
  }

  /** Opens (creating the layout) and proves the dir writable; throws a readable error. */
  static async open(dir: string, onFsync: (seconds: number, what: 'file' | 'dir') => void = () => undefined): Promise<QueueStore> {
    for (const d of [dir, path.join(dir, MSG), path.join(dir, TMP), path.join(dir, QUARANTINE)]) await fs.mkdir(d, { recursive: true, mode: 0o700 });
    await fs.access(path.join(dir, MSG), fsc.W_OK);
    await fs.access(path.join(dir, TMP), fsc.W_OK);
    return new QueueStore(dir, onFsync);
  }

  private msgPath(id: string): string {
    return path.join(this.dir, MSG, `${id}.msg`);
  }
  private statePath(id: string): string {
    return path.join(this.dir, MSG, `${id}.state`);
  }

  private async timed<T>(what: 'file' | 'dir', f: () => Promise<T>): Promise<T> {
    const t0 = process.hrtime.bigint();
    try {
      return await f();
    } finally {
      this.onFsync(Number(process.hrtime.bigint() - t0) / 1e9, what);
    }
  }

  private async fsyncDir(dir: string): Promise<void> {
    const h = await fs.open(dir, 'r');
    try {
      await this.timed('dir', () => h.sync());
    } finally {
      await h.close();
    }
  }

  /**
   * Writes one message durably: header, then `body` as it streams, fsync, rename, directory
   * fsync. Resolves with the bytes on disk once the message is committed. On any failure
   * (disk full, `signal` aborted, `body` errors) the partial file is removed and the promise
   * rejects with QueueWriteError. `body` itself is never destroyed: the caller may still
   * need to drain it (the client's DATA).
   */
  async write(envelope: QueueEnvelope, body: Readable, signal?: AbortSignal): Promise<number> {
    if (!isQueueId(envelope.id)) throw new QueueWriteError(`bad queue id ${envelope.id}`, undefined);
    const tmp = path.join(this.dir, TMP, `${envelope.id}.msg`);
    let handle: fs.FileHandle | null = null;
    try {
      handle = await fs.open(tmp, 'wx', 0o600);
      const h = handle;
      await writeAll(h, encodeHeader(envelope));
      await new Promise<void>((resolve, reject) => {
        // Our own writer on the handle: a FileHandle stream would hold the handle open past close().
        const out = new Writable({
          write: (chunk: Buffer, _enc, cb) => void writeAll(h, chunk).then(() => cb(), cb),
          writev: (chunks, cb) => void writeAll(h, Buffer.concat(chunks.map((c) => c.chunk as Buffer))).then(() => cb(), cb),
        });
        const cleanup = () => {
          signal?.removeEventListener('abort', onAbort);
          body.removeListener('error', onBodyError);
        };
        const failWith = (err: Error) => {
          cleanup();
          body.unpipe(out);
          out.destroy();
          reject(err);
        };
        const onAbort = () => failWith(Object.assign(new Error('message aborted'), { code: 'ABORT_ERR' }));
        const onBodyError = (err: Error) => failWith(err);
        if (signal?.aborted) return onAbort();
        signal?.addEventListener('abort', onAbort, { once: true });
        body.once('error', onBodyError);
        out.once('error', (err) => failWith(err));
        out.once('finish', () => {
          cleanup();
          // The relay aborts a message that ended early or grew too big: it must not commit.
          if (signal?.aborted) return onAbort();
          resolve();
        });
        body.pipe(out);
      });
      await this.timed('file', () => h.sync());
      const { size } = await h.stat();
      await h.close();
      handle = null;
      if (signal?.aborted) throw Object.assign(new Error('message aborted'), { code: 'ABORT_ERR' });
      await fs.rename(tmp, this.msgPath(envelope.id));
      await this.syncMsgDir();
      return size;
    } catch (err) {
      await handle?.close().catch(() => undefined);
      await fs.rm(tmp, { force: true }).catch(() => undefined);
      // A rename that happened before a failed directory fsync: the entry may or may not
      // survive a crash, so it must not be acknowledged; remove it.
      await fs.rm(this.msgPath(envelope.id), { force: true }).catch(() => undefined);
      const e = err as NodeJS.ErrnoException;
      throw new QueueWriteError(e.message, e.code);
    }
  }

  /** Replaces a message's state atomically (tmp, fsync, rename, directory fsync). */
  async saveState(id: string, state: QueueState): Promise<void> {
    const tmp = path.join(this.dir, TMP, `${id}.state`);
    const h = await fs.open(tmp, 'w', 0o600);
    try {
      await writeAll(h, encodeState(state));
      await this.timed('file', () => h.sync());
    } finally {
      await h.close();
    }
    await fs.rename(tmp, this.statePath(id));
    await this.syncMsgDir();
  }

  /**
   * Removes a finished message. The message file goes first: once it is gone the message
   * is done, whatever a crash leaves of its state. No directory fsync: a removal lost in a
   * crash only means a duplicate delivery (at least once), never a loss.
   */
  async remove(id: string): Promise<void> {
    await fs.rm(this.msgPath(id), { force: true });
    await fs.rm(this.statePath(id), { force: true });
  }

  /** Reads a message's envelope and remaining recipients (throws QueueFormatError if corrupt). */
  async read(id: string): Promise<StoredEntry> {
    const file = this.msgPath(id);
    const h = await fs.open(file, 'r');
    let head: Buffer;
    let size: number;
    try {
      size = (await h.stat()).size;
      head = await readHead(h, size);
    } finally {
      await h.close();
    }
    const { envelope, bodyOffset } = decodeHeader(head);
    if (envelope.id !== id) throw new QueueFormatError(`envelope id ${envelope.id} does not match the file name`);
    let remaining = envelope.to;
    let bytes = size;
    const stateText = await fs.readFile(this.statePath(id), 'utf8').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return null;
      throw err;
    });
    if (stateText !== null) {
      remaining = decodeState(stateText, envelope).remaining;
      bytes += Buffer.byteLength(stateText);
    }
    return { envelope, remaining, bodyOffset, bytes };
  }

  /** The message body as the upstream gets it. */
  openBody(id: string, bodyOffset: number): Readable {
    return createReadStream(this.msgPath(id), { start: bodyOffset });
  }

  /** The first bytes of the body (for a DSN's copy of the original headers). */
  async readBodyStart(id: string, bodyOffset: number, max: number): Promise<Buffer> {
    const h = await fs.open(this.msgPath(id), 'r');
    try {
      const buf = Buffer.alloc(max);
      const { bytesRead } = await h.read(buf, 0, max, bodyOffset);
      return buf.subarray(0, bytesRead);
    } finally {
      await h.close();
    }
  }

  /**
   * Everything in the queue after a start: messages in msg/ that parse; anything else
   * (files left in tmp/, unparsable or mismatched envelopes, state without a message,
   * unknown files) is moved to quarantine/ and reported. Never throws on content.
   */
  async scan(): Promise<ScanResult> {
    const out: ScanResult = { entries: [], quarantined: [] };
    for (const name of await fs.readdir(path.join(this.dir, TMP))) {
      await this.quarantine(path.join(TMP, name), name);
      out.quarantined.push({ name: `${TMP}/${name}`, reason: 'partial write (left in tmp by a crash)' });
    }
    const names = await fs.readdir(path.join(this.dir, MSG));
    const ids = new Set(names.filter((n) => n.endsWith('.msg')).map((n) => n.slice(0, -4)));
    for (const name of names) {
      const id = name.replace(/\.(msg|state)$/, '');
      if (name.endsWith('.state') && isQueueId(id) && !ids.has(id)) {
        // A crash between the two removals of a finished message (remove()): nothing to keep.
        await fs.rm(path.join(this.dir, MSG, name), { force: true });
      } else if ((!name.endsWith('.msg') && !name.endsWith('.state')) || !isQueueId(id)) {
        await this.quarantine(path.join(MSG, name), name);
        out.quarantined.push({ name: `${MSG}/${name}`, reason: 'unknown file' });
      }
    }
    for (const id of ids) {
      if (!isQueueId(id)) continue; // quarantined above
      try {
        const entry = await this.read(id);
        if (entry.remaining.length === 0) {
          await this.remove(id); // every recipient done before a crash took the removal
          continue;
        }
        out.entries.push(entry);
      } catch (err) {
        const reason = (err as Error).message;
        for (const n of [`${id}.msg`, `${id}.state`]) await this.quarantine(path.join(MSG, n), n).catch(() => undefined);
        out.quarantined.push({ name: `${MSG}/${id}.msg`, reason });
      }
    }
    out.entries.sort((a, b) => a.envelope.receivedAt - b.envelope.receivedAt);
    return out;
  }

  /** Moves one file to quarantine/ (a timestamp keeps names unique). */
  async quarantineMessage(id: string): Promise<void> {
    for (const n of [`${id}.msg`, `${id}.state`]) await this.quarantine(path.join(MSG, n), n).catch(() => undefined);
  }

  private async quarantine(relative: string, name: string): Promise<void> {
    const from = path.join(this.dir, relative);
    try {
      await fs.rename(from, path.join(this.dir, QUARANTINE, `${Date.now()}-${name}`));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
}

/**
 * Writes every byte or throws: a write(2) may write part of a buffer (a disk filling up
 * does exactly that before ENOSPC), and a short write must never pass for a whole one.
 */
async function writeAll(h: fs.FileHandle, buf: Buffer): Promise<void> {
  let off = 0;
  while (off < buf.length) {
    const { bytesWritten } = await h.write(buf, off, buf.length - off);
    if (bytesWritten <= 0) throw Object.assign(new Error('no progress writing the queue file'), { code: 'EIO' });
    off += bytesWritten;
  }
}

/** Reads from the start of a message file up to the end of its envelope line. */
async function readHead(h: fs.FileHandle, size: number): Promise<Buffer> {
  let want = Math.min(size, 64 * 1024);
  for (;;) {
    const buf = Buffer.alloc(want);
    const { bytesRead } = await h.read(buf, 0, want, 0);
    const head = buf.subarray(0, bytesRead);
    const first = head.indexOf(0x0a);
    if ((first >= 0 && head.indexOf(0x0a, first + 1) >= 0) || bytesRead >= size || want >= MAX_HEADER_BYTES) return head;
    want = Math.min(size, want * 4, MAX_HEADER_BYTES);
  }
}
