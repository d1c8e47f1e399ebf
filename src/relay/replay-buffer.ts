// A copy of a message as it streams to the first upstream, so that pass-through failover can
// send it again to the next upstream of its route: the first `memoryLimit` bytes in memory,
// the rest in a file of the message's own scratch directory (spool.ts), removed by dispose().
// `tee` passes the message on unchanged and keeps the copy on the way (one source piped to
// two destinations would stall when one of them is destroyed mid-message).
import fs from 'node:fs';
import path from 'node:path';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import type { ScratchDir } from './spool.js';

export class ReplayBuffer {
  private readonly chunks: Buffer[] = [];
  private memoryBytes = 0;
  private file: fs.WriteStream | null = null;
  private readonly filePath: string;
  bytes = 0;
  /** The stream for the first upstream: the message as it comes, a copy kept on the way. */
  readonly tee: Transform;
  /** Resolves when the whole message is in the copy (true), or false if it could not be kept. */
  readonly complete: Promise<boolean>;

  constructor(
    private readonly scratch: ScratchDir,
    private readonly memoryLimit: number,
  ) {
    this.filePath = path.join(scratch.path, 'replay');
    let done!: (ok: boolean) => void;
    this.complete = new Promise((resolve) => (done = resolve));
    const keep = (chunk: Buffer, cb: (err?: Error | null) => void) => this.keep(chunk, cb);
    const close = (cb: (err?: Error | null) => void) => (this.file ? this.file.end((err?: Error | null) => cb(err)) : cb());
    this.tee = new Transform({
      transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback) {
        keep(chunk, (err) => (err ? cb(err) : cb(null, chunk)));
      },
      flush(cb: TransformCallback) {
        close((err) => {
          done(!err);
          cb(err);
        });
      },
    });
    this.tee.once('error', () => done(false));
  }

  private keep(chunk: Buffer, cb: (err?: Error | null) => void): void {
    this.bytes += chunk.length;
    if (!this.file && this.memoryBytes + chunk.length <= this.memoryLimit) {
      this.chunks.push(chunk);
      this.memoryBytes += chunk.length;
      return cb();
    }
    if (!this.file) {
      this.file = fs.createWriteStream(this.filePath, { mode: 0o600 });
      this.file.on('error', () => undefined); // reported through the write callback
    }
    this.file.write(chunk, (err) => cb(err ?? null));
  }

  /** The first upstream is done with the message: keep reading it into the copy only. */
  detach(): void {
    this.tee.unpipe();
    this.tee.resume();
  }

  /** The message from its first byte (once complete resolved true). */
  open(): Readable {
    const chunks = [...this.chunks];
    const filePath = this.file ? this.filePath : null;
    return Readable.from(
      (async function* () {
        yield* chunks;
        if (filePath) yield* fs.createReadStream(filePath);
      })(),
      { objectMode: false },
    );
  }

  async dispose(): Promise<void> {
    this.chunks.length = 0;
    this.file?.destroy();
    await this.scratch.remove();
  }
}
