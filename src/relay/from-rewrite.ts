// Opt-in per route (relay.json routes[].rewriteFrom): the header From: becomes the route's
// mailbox, for upstreams that accept mail only from the mailbox they authenticated (Microsoft
// 365 with SendAsApp, Google with a delegated mailbox). The original From: moves to Reply-To
// (unless the message has one), so replies still reach the sender. The envelope sender is
// rewritten by the caller. Runs before DKIM, so the signature covers the rewritten header.
import { Transform, type TransformCallback } from 'node:stream';
import { HeaderEndScanner, MAX_HEADER_BYTES } from './header-from.js';

/** Splits a header block into fields (each with its continuation lines), keeping the text. */
function fieldsOf(block: string): string[] {
  const lines = block.split(/\r\n|\r|\n/);
  if (lines[lines.length - 1] === '') lines.pop();
  const fields: string[] = [];
  for (const line of lines) {
    if (/^[ \t]/.test(line) && fields.length > 0) fields[fields.length - 1] += `\r\n${line}`;
    else fields.push(line);
  }
  return fields;
}

/** The header block with From: replaced by `mailbox` and the old From: kept in Reply-To. Pure. */
export function rewriteFromHeader(block: string, mailbox: string): string {
  const fields = fieldsOf(block);
  const isFrom = (f: string) => /^from[ \t]*:/i.test(f);
  const original = fields.find(isFrom);
  const hasReplyTo = fields.some((f) => /^reply-to[ \t]*:/i.test(f));
  const added = [`From: <${mailbox}>`];
  if (original && !hasReplyTo) added.push(`Reply-To:${original.slice(original.indexOf(':') + 1)}`);
  const at = Math.max(0, fields.findIndex(isFrom));
  const kept = fields.filter((f) => !isFrom(f));
  kept.splice(Math.min(at, kept.length), 0, ...added);
  return kept.map((f) => `${f}\r\n`).join('');
}

/**
 * Holds the header block (at most MAX_HEADER_BYTES; a larger one passes unchanged, and the
 * upstream judges it), rewrites it, then passes the rest of the message through.
 */
export class FromRewriter extends Transform {
  private readonly scanner = new HeaderEndScanner();
  private held: Buffer[] = [];
  private heldBytes = 0;
  private done = false;

  constructor(private readonly mailbox: string) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (this.done) return cb(null, chunk);
    const end = this.scanner.push(chunk);
    if (end >= 0) {
      const all = Buffer.concat([...this.held, chunk]);
      this.release(Buffer.concat([Buffer.from(rewriteFromHeader(all.subarray(0, end).toString('latin1'), this.mailbox), 'latin1'), all.subarray(end)]));
    } else if (this.heldBytes + chunk.length > MAX_HEADER_BYTES) {
      this.release(Buffer.concat([...this.held, chunk]));
    } else {
      this.held.push(chunk);
      this.heldBytes += chunk.length;
    }
    cb();
  }

  override _flush(cb: TransformCallback): void {
    // A message without an empty line is all header.
    if (!this.done) this.release(Buffer.from(rewriteFromHeader(Buffer.concat(this.held).toString('latin1'), this.mailbox), 'latin1'));
    cb();
  }

  private release(bytes: Buffer): void {
    this.done = true;
    this.held = [];
    if (bytes.length) this.push(bytes);
  }
}
