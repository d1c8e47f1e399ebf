// Holds a message back until its header block is complete, so that the header From: can be
// checked before anything reaches the upstream. Then either passes the whole message
// through unchanged, or drops it (keeps draining the client, forwards nothing) and reports
// the refusal. The hold is bounded: a header block over maxHeaderBytes is refused.
import { Transform, type TransformCallback } from 'node:stream';
import type { Refusal } from './address-policy.js';
import { HeaderEndScanner, MAX_HEADER_BYTES } from './header-from.js';

export class HeaderFromGate extends Transform {
  /** Resolves once the header is checked: the refusal, or null to go ahead. */
  readonly decision: Promise<Refusal | null>;
  refusal: Refusal | null = null;
  private resolve!: (r: Refusal | null) => void;
  private decided = false;
  private readonly scanner = new HeaderEndScanner();
  private held: Buffer[] = [];
  private heldBytes = 0;

  constructor(
    /** Checks the header block (text before the empty line): a refusal, or null. */
    private readonly check: (headerBlock: string) => Refusal | null,
    signal: AbortSignal,
    private readonly maxHeaderBytes = MAX_HEADER_BYTES,
  ) {
    super();
    this.decision = new Promise((resolve) => (this.resolve = resolve));
    // The transaction died while the header was still arriving (client gone): forward nothing.
    const onAbort = () => {
      if (!this.decided) this.decide({ code: 451, message: '4.3.0 Transaction aborted' }, Buffer.alloc(0));
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (this.decided) return cb(null, this.refusal ? undefined : chunk);
    const end = this.scanner.push(chunk);
    if (end >= 0) {
      const all = Buffer.concat([...this.held, chunk]);
      this.decide(this.check(all.subarray(0, end).toString('utf8')), all);
    } else if (this.heldBytes + chunk.length > this.maxHeaderBytes) {
      this.decide({ code: 552, message: `5.3.4 Message header block exceeds ${this.maxHeaderBytes} bytes` }, Buffer.alloc(0));
    } else {
      this.held.push(chunk);
      this.heldBytes += chunk.length;
    }
    cb();
  }

  override _flush(cb: TransformCallback): void {
    // A message without an empty line is all header.
    if (!this.decided) {
      const all = Buffer.concat(this.held);
      this.decide(this.check(all.toString('utf8')), all);
    }
    cb();
  }

  private decide(refusal: Refusal | null, pending: Buffer): void {
    this.decided = true;
    this.refusal = refusal;
    this.held = [];
    this.heldBytes = 0;
    if (!refusal && pending.length) this.push(pending);
    this.resolve(refusal);
  }
}
