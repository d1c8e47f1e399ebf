// bcrypt verification off the event loop: a small pool of worker threads and a bounded
// queue. bcrypt is slow on purpose; on the main thread one password spray would stall
// every SMTP session of the pod. When the queue is full, compare() rejects with
// BcryptPoolBusy and the caller answers 454 (try again later) rather than queueing forever.
import { createRequire } from 'node:module';
import os from 'node:os';
import { Worker } from 'node:worker_threads';

export class BcryptPoolBusy extends Error {
  constructor() {
    super('bcrypt verification queue is full');
  }
}

/** Verifies a password against a bcrypt hash; true on a match. */
export type BcryptCompare = (password: string, hash: string) => Promise<boolean>;

// The worker's code, evaluated as a script: the same code runs from dist/ and from the
// TypeScript sources under jest, where no compiled worker file exists next to this one.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const bcrypt = require(workerData.bcryptPath);
parentPort.on('message', ({ id, password, hash }) => {
  let ok = false;
  try { ok = bcrypt.compareSync(password, hash); } catch { ok = false; }
  parentPort.postMessage({ id, ok });
});
`;

interface Job {
  id: number;
  password: string;
  hash: string;
  resolve: (ok: boolean) => void;
  reject: (err: Error) => void;
}

interface Slot {
  worker: Worker;
  job: Job | null;
}

export interface BcryptPoolOptions {
  /** Worker threads; default: one per spare core, 1 to 2. */
  size?: number;
  /** Verifications waiting for a worker before compare() refuses. */
  maxQueue?: number;
}

export class BcryptPool {
  readonly size: number;
  private readonly maxQueue: number;
  private readonly slots: Slot[] = [];
  private readonly queue: Job[] = [];
  private nextId = 0;
  private closed = false;
  private readonly bcryptPath = createRequire(import.meta.url).resolve('bcryptjs');
  /** Verifications completed in a worker (for tests and metrics). */
  completed = 0;

  constructor(o: BcryptPoolOptions = {}) {
    this.size = o.size ?? Math.max(1, Math.min(2, os.availableParallelism() - 1));
    this.maxQueue = o.maxQueue ?? 64;
  }

  /** Waiting plus running verifications. */
  get pending(): number {
    return this.queue.length + this.slots.filter((s) => s.job).length;
  }

  compare: BcryptCompare = (password, hash) =>
    new Promise<boolean>((resolve, reject) => {
      if (this.closed) return reject(new Error('bcrypt pool closed'));
      if (this.queue.length >= this.maxQueue) return reject(new BcryptPoolBusy());
      this.queue.push({ id: this.nextId++, password, hash, resolve, reject });
      this.dispatch();
    });

  async close(): Promise<void> {
    this.closed = true;
    for (const j of this.queue.splice(0)) j.reject(new Error('bcrypt pool closed'));
    await Promise.all(this.slots.splice(0).map((s) => s.worker.terminate()));
  }

  private dispatch(): void {
    while (this.queue.length) {
      const slot = this.slots.find((s) => !s.job) ?? (this.slots.length < this.size ? this.spawn() : undefined);
      if (!slot) return;
      const job = this.queue.shift() as Job;
      slot.job = job;
      slot.worker.postMessage({ id: job.id, password: job.password, hash: job.hash });
    }
  }

  private spawn(): Slot {
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { bcryptPath: this.bcryptPath } });
    worker.unref(); // an idle pool never keeps the process alive
    const slot: Slot = { worker, job: null };
    worker.on('message', (m: { id: number; ok: boolean }) => {
      const job = slot.job;
      if (!job || job.id !== m.id) return;
      slot.job = null;
      this.completed++;
      job.resolve(m.ok === true);
      this.dispatch();
    });
    const lost = (err: Error) => {
      // A dead worker fails its job (the caller answers a temporary error) and is replaced.
      const i = this.slots.indexOf(slot);
      if (i < 0) return;
      this.slots.splice(i, 1);
      slot.job?.reject(err);
      slot.job = null;
      if (!this.closed) this.dispatch();
    };
    worker.on('error', lost);
    worker.on('exit', (code) => lost(new Error(`bcrypt worker exited with code ${code}`)));
    this.slots.push(slot);
    return slot;
  }
}
