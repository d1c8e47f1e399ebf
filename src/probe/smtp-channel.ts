// Reads SMTP replies from a socket (plain or TLS) with a timeout per reply and
// a cap on buffered bytes, so a silent or garbage-speaking server fails fast.
import type { Duplex } from 'node:stream';
import { ProbeError, classifySocketError, excerpt } from './errors.js';

export interface SmtpReply {
  code: number;
  lines: string[];
}

const MAX_BUFFER = 64 * 1024;
const REPLY_LINE = /^(\d{3})(?:([ -])(.*))?$/;

export class SmtpChannel {
  private buffer = '';
  private closed: Error | undefined;
  private wake: (() => void) | undefined;
  private stream: Duplex;
  private readonly onData = (chunk: Buffer) => {
    this.buffer += chunk.toString('latin1');
    this.wake?.();
  };
  private readonly onEnd = () => {
    this.closed ??= Object.assign(new Error('connection closed by server'), { code: 'ECONNRESET' });
    this.wake?.();
  };
  private readonly onError = (err: Error) => {
    this.closed = err;
    this.wake?.();
  };

  constructor(stream: Duplex) {
    this.stream = stream;
    this.listen();
  }

  private listen(): void {
    this.stream.on('data', this.onData);
    this.stream.on('end', this.onEnd);
    this.stream.on('close', this.onEnd);
    this.stream.on('error', this.onError);
  }

  /** Stop reading from the current stream (before handing it to TLS) and return unread bytes. */
  detach(): string {
    this.stream.off('data', this.onData);
    this.stream.off('end', this.onEnd);
    this.stream.off('close', this.onEnd);
    this.stream.off('error', this.onError);
    const rest = this.buffer;
    this.buffer = '';
    return rest;
  }

  /** Continue the conversation on a new stream (the TLS socket). */
  attach(stream: Duplex): void {
    this.stream = stream;
    this.closed = undefined;
    this.listen();
  }

  write(line: string): void {
    this.stream.write(line);
  }

  /** Bytes received but not consumed yet. */
  pending(): string {
    return this.buffer;
  }

  /** Read one complete (possibly multi-line) reply. */
  async readReply(timeoutMs: number, step: string): Promise<SmtpReply> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const reply = this.parseOne(step);
      if (reply) return reply;
      if (this.closed) {
        const got = this.buffer ? ` after "${excerpt(this.buffer)}"` : '';
        const err = classifySocketError(this.closed as NodeJS.ErrnoException, step);
        throw new ProbeError(err.reason, `${step}: connection closed${got} (${this.closed.message})`, step);
      }
      if (this.buffer.length > MAX_BUFFER) throw new ProbeError('protocol-error', `${step}: more than ${MAX_BUFFER} bytes without a complete SMTP reply`, step);
      const left = deadline - Date.now();
      if (left <= 0) {
        const got = this.buffer ? `; got only "${excerpt(this.buffer)}"` : '';
        throw new ProbeError('timeout', `${step}: no complete reply within ${timeoutMs} ms${got}`, step);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
    }
  }

  private parseOne(step: string): SmtpReply | undefined {
    const lines: string[] = [];
    let offset = 0;
    let code: number | undefined;
    for (;;) {
      const nl = this.buffer.indexOf('\n', offset);
      if (nl < 0) {
        // An incomplete first line that already cannot be SMTP is garbage: say so now, not at the timeout.
        const partial = this.buffer.slice(offset);
        if (partial.length >= 4 && !/^\d{3}[ -]/.test(partial)) throw garbage(step, partial);
        if (partial.length > 0 && partial.length < 4 && !/^\d{0,3}$/.test(partial)) throw garbage(step, partial);
        return undefined;
      }
      const line = this.buffer.slice(offset, nl).replace(/\r$/, '');
      const m = REPLY_LINE.exec(line);
      if (!m) throw garbage(step, line);
      const lineCode = Number(m[1]);
      if (code !== undefined && lineCode !== code) throw new ProbeError('protocol-error', `${step}: reply code changed inside a multi-line reply ("${excerpt(line)}")`, step);
      code = lineCode;
      lines.push(m[3] ?? '');
      offset = nl + 1;
      if (m[2] !== '-') {
        this.buffer = this.buffer.slice(offset);
        return { code, lines };
      }
    }
  }
}

function garbage(step: string, text: string): ProbeError {
  return new ProbeError('protocol-error', `${step}: not an SMTP reply: "${excerpt(text)}"`, step);
}

/** EHLO keywords, upper-cased, from a 250 reply (first line is the greeting). */
export function ehloExtensions(reply: SmtpReply): string[] {
  return reply.lines.slice(1).map((l) => l.trim().toUpperCase()).filter((l) => l.length > 0);
}

export function hasExtension(extensions: string[], keyword: string): boolean {
  return extensions.some((e) => e === keyword || e.startsWith(`${keyword} `) || e.startsWith(`${keyword}=`));
}
